"""SQL storage: the source of truth (SQLite by default, any SQLAlchemy URL)."""

from .database import Database

__all__ = ["Database"]

"""Indexes rebuilt from SQL: dense vectors (Chroma), lexical (SQLite FTS5 or
PostgreSQL full text), fusion."""

from __future__ import annotations

import sqlalchemy as sa

from .dense import DEFAULT_SHARDS, ChromaIndex
from .fusion import reciprocal_rank_fusion, score_fusion, session_context
from .lexical import FtsIndex, LexicalIndex

__all__ = ["DEFAULT_SHARDS", "ChromaIndex", "FtsIndex", "LexicalIndex", "lexical_index_for",
           "reciprocal_rank_fusion", "score_fusion", "session_context"]


def lexical_index_for(engine: sa.Engine, *, create: bool = True) -> LexicalIndex | None:
    """The lexical index for the engine's database, or None where there is none yet.
    ``create=False`` (a read-only database) creates no table."""
    name = engine.dialect.name
    if name == "sqlite":
        return FtsIndex(engine, create=create)
    if name == "postgresql":
        from .pg_text import PgTextIndex

        return PgTextIndex(engine)
    return None

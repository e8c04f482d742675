"""Engine creation and connection settings for the SQL source of truth."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from ..errors import BackendError, ConfigError
from .schema import ADDED_COLUMNS, SCHEMA_VERSION, meta, metadata

__all__ = ["Database"]

DB_FILENAME = "agentmem.db"


class Database:
    """A SQLAlchemy engine plus the settings agentmem relies on.

    SQLite files run in WAL mode with ``secure_delete`` on (deleted rows are
    overwritten, not left in free pages) and a busy timeout. An in-memory SQLite
    database uses one shared connection, so every access is serialised by a lock.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"url: not a SQLAlchemy database URL: {url!r} ({exc})") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.in_memory = self.is_sqlite and parsed.database in (None, "", ":memory:")
        self.file: Path | None = (
            Path(parsed.database) if self.is_sqlite and not self.in_memory and parsed.database
            else None
        )
        kwargs: dict[str, Any] = {}
        if self.in_memory:
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif self.is_sqlite:
            kwargs = {"connect_args": {"check_same_thread": False, "timeout": 60}}
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except Exception as exc:  # missing driver and the like
            raise ConfigError(f"url: cannot create a database engine for {url!r}: {exc}") from exc
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if self.in_memory else nullcontext()
        )
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", self._sqlite_pragmas)
        self._create_schema()

    def _sqlite_pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not self.in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    def _create_schema(self) -> None:
        try:
            with self.begin() as conn:
                metadata.create_all(conn)
                self._add_missing_columns(conn)
                row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema")).first()
                if row is None:
                    conn.execute(sa.insert(meta).values(key="schema", value=SCHEMA_VERSION))
                elif row[0] != SCHEMA_VERSION:
                    raise ConfigError(
                        f"database schema version {row[0]} is not supported "
                        f"(this agentmem expects {SCHEMA_VERSION})"
                    )
        except sa.exc.OperationalError as exc:
            raise BackendError(f"cannot open the database {self.url!r}: {exc}") from exc

    @staticmethod
    def _add_missing_columns(conn: sa.Connection) -> None:
        """Columns newer than a database file: added in place (nullable, no data)."""
        inspector = sa.inspect(conn)
        for table, name in ADDED_COLUMNS:
            if name in {c["name"] for c in inspector.get_columns(table.name)}:
                continue
            column = table.c[name]
            type_ = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {type_}')
            if column.index:
                conn.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS ix_{table.name}_{name} '
                                     f'ON {table.name} ("{name}")')

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction: committed when the block exits, rolled back on error."""
        with self._lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads."""
        with self._lock, self.engine.connect() as conn:
            yield conn

    def get_meta(self, key: str) -> str | None:
        """A value from the settings table, or None."""
        with self.connect() as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the settings table."""
        with self.begin() as conn:
            conn.execute(sa.delete(meta).where(meta.c.key == key))
            conn.execute(sa.insert(meta).values(key=key, value=value))

    def scrub(self) -> None:
        """Make deleted content unrecoverable from the files: fold the WAL back into the
        main file and truncate it. Deleted pages were already zeroed (secure_delete)."""
        if self.is_sqlite and not self.in_memory:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_bytes(self) -> int | None:
        """Bytes on disk of the SQLite file and its WAL, or None for other databases."""
        if self.file is None:
            return None
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.file) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def close(self) -> None:
        """Checkpoint (SQLite files) and dispose of the engine."""
        try:
            self.scrub()
        finally:
            self.engine.dispose()

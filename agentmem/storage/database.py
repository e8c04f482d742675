"""Engine creation and connection settings for the SQL source of truth."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from ..errors import BackendError, ConfigError
from .schema import ADDED_COLUMNS, SCHEMA_VERSION, meta, metadata

__all__ = ["Database"]

log = logging.getLogger("agentmem")

DB_FILENAME = "agentmem.db"
#: the advisory lock that serialises schema creation on PostgreSQL
_SCHEMA_LOCK = 7245_1601


class Database:
    """A SQLAlchemy engine plus the settings agentmem relies on.

    SQLite files run in WAL mode with ``secure_delete`` on (deleted rows are
    overwritten, not left in free pages) and a busy timeout of ``lock_timeout``
    seconds; every write transaction takes the write lock when it begins (``BEGIN
    IMMEDIATE``), so what a write reads cannot change under it, and several processes
    can share one file. An in-memory SQLite database uses one shared connection, so
    every access is serialised by a lock. On PostgreSQL, schema creation is serialised
    by an advisory lock.

    Failures of the database itself (a lock held past the timeout, a full disk, a
    corrupt file, a lost server) surface as :class:`~agentmem.errors.BackendError`
    naming the cause; nothing of the failed transaction is kept.
    """

    def __init__(self, url: str, *, lock_timeout: float = 60.0, read_only: bool = False
                 ) -> None:
        self.url = url
        self.lock_timeout = float(lock_timeout)
        self.read_only = read_only
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"url: not a SQLAlchemy database URL: {url!r} ({exc})") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        self.in_memory = self.is_sqlite and parsed.database in (None, "", ":memory:")
        self.file: Path | None = (
            Path(parsed.database) if self.is_sqlite and not self.in_memory and parsed.database
            else None
        )
        if read_only:  # immutable: no lock, WAL or shared-memory file is needed
            if self.file is None:
                raise ConfigError("read_only: only a SQLite file can be opened read-only")
            # immutable (no lock, WAL or shared-memory file needed) unless a write-ahead
            # log holds committed data, which only a WAL-reading open sees
            wal = Path(f"{self.file}-wal")
            fresh = wal.exists() and wal.stat().st_size > 0
            url = (f"sqlite:///file:{quote(str(self.file.resolve()))}"
                   f"?mode=ro{'' if fresh else '&immutable=1'}&uri=true")
        kwargs: dict[str, Any] = {}
        if self.in_memory:
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif self.is_sqlite:
            kwargs = {"connect_args": {"check_same_thread": False,
                                       "timeout": self.lock_timeout}}
        try:
            self.engine = sa.create_engine(url, **kwargs)
        except Exception as exc:  # missing driver and the like
            raise ConfigError(f"url: cannot create a database engine for {url!r}: {exc}") from exc
        self.where = self.engine.url.render_as_string(hide_password=True)
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if self.in_memory else nullcontext()
        )
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", self._sqlite_pragmas)
        self._create_schema()

    def _sqlite_pragmas(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # first: the pragmas below may wait for another process's lock
        cur.execute(f"PRAGMA busy_timeout={int(self.lock_timeout * 1000)}")
        if not self.in_memory and not self.read_only:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def _create_schema(self) -> None:
        if self.read_only:
            with self.connect() as conn:
                row = conn.execute(
                    sa.select(meta.c.value).where(meta.c.key == "schema")).first()
            if row is None or row[0] != SCHEMA_VERSION:
                raise ConfigError(f"database {self.where}: read-only, and not an agentmem "
                                  f"database of schema {SCHEMA_VERSION}")
            return
        with self.begin() as conn:
            if self.is_postgres:  # several processes may create the schema at once
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
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
        """One write transaction: committed when the block exits, rolled back on error.
        On a SQLite file it holds the write lock from its first statement."""
        if self.read_only:
            raise BackendError(f"database {self.where}: the memory was opened from a "
                               "read-only folder: it can be searched, not written")
        with self._lock, self._translated(), self.engine.begin() as conn:
            if self.is_sqlite and not self.in_memory:
                # the driver sees a transaction is open and adds no BEGIN of its own
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """A connection for reads."""
        with self._lock, self._translated(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The database's own failures as :class:`BackendError` naming the cause."""
        try:
            yield
        except sa.exc.IntegrityError:
            raise
        except (sa.exc.OperationalError, sa.exc.DatabaseError,
                sa.exc.InterfaceError) as exc:
            raise BackendError(self.describe(exc)) from exc

    def describe(self, exc: BaseException) -> str:
        """A one-line account of a database failure, with its likely cause."""
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        low = cause.lower()
        if "locked" in low or "busy" in low:
            why = (f"another connection held the write lock for longer than the lock "
                   f"timeout ({self.lock_timeout:g} s)")
        elif "disk is full" in low or "no space" in low:
            why = "the disk is full"
        elif "not a database" in low or "malformed" in low or "corrupt" in low:
            why = "the file is corrupt or not an agentmem database"
        elif "readonly" in low or "read-only" in low:
            why = "the database is read-only"
        elif "unable to open" in low:
            why = "the file cannot be opened"
        else:
            why = "the database failed"
        return f"database {self.where}: {why} ({cause})"

    def get_meta(self, key: str) -> str | None:
        """A value from the settings table, or None."""
        with self.connect() as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the settings table (read-only: nothing is stored)."""
        if self.read_only:
            return
        with self.begin() as conn:
            if self.is_postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            conn.execute(sa.delete(meta).where(meta.c.key == key))
            conn.execute(sa.insert(meta).values(key=key, value=value))

    def settle_meta(self, key: str, value: str) -> str:
        """The stored value of ``key``; ``value`` is stored first when there is none
        (race-free: of several processes settling at once, the first one wins)."""
        if self.read_only:
            stored = self.get_meta(key)
            return value if stored is None else stored
        with self.begin() as conn:
            if self.is_postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
            if row is not None:
                return str(row[0])
            conn.execute(sa.insert(meta).values(key=key, value=value))
        return value

    def scrub(self, *, wait: float = 5.0, strict: bool = True, vacuum: bool = False
              ) -> None:
        """Make deleted content unrecoverable from the files: fold the WAL back into the
        main file and truncate it. Deleted cells were already zeroed (secure_delete).

        ``vacuum`` (after an erasure) first rewrites the database into fresh pages
        (``VACUUM``): ``secure_delete`` alone can leave fragments of deleted rows in
        the unused space of live pages (seen here, in plain SQLite too, after updates
        and deletes; ``tests/test_deletion.py``). It costs well under a second per
        100 MB of file (``eval/bench_vacuum.py``).

        Another connection inside a read transaction holds a snapshot the WAL must keep
        serving, so the log cannot be truncated until it ends: scrub waits for that up
        to ``wait`` seconds, then raises :class:`~agentmem.errors.ErasureIncomplete`
        (whatever was deleted stays deleted; a later scrub, or close, truncates it).
        With ``strict=False`` (for closing, when nothing may have been deleted) it
        raises only while an earlier erasure is still incomplete."""
        import time  # (local: this method's own needs)

        from ..errors import ErasureIncomplete

        if not self.is_sqlite or self.in_memory or self.read_only:
            return
        deadline = time.monotonic() + max(0.0, wait)
        with self._translated(), self.engine.connect() as conn:
            saved = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
            try:
                if vacuum:
                    # VACUUM waits for another writer's lock within the same bound
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(max(0.0, wait) * 1000)}")
                    try:  # outside any transaction: the driver adds no BEGIN here
                        conn.exec_driver_sql("VACUUM")
                    except sa.exc.OperationalError as exc:
                        self._erasure_owed = True
                        raise ErasureIncomplete(
                            f"the data is deleted from the database, but the file could "
                            f"not be rewritten to drop leftover fragments "
                            f"({self.describe(exc)}); the next erasure retries",
                            wal=str(self.file) + "-wal") from exc
                while True:
                    left = deadline - time.monotonic()
                    # SQLite's busy handler waits for the readers, within the bound
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={max(0, int(left * 1000))}")
                    if _checkpointed(conn):
                        self._erasure_owed = False
                        return
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={int(saved)}")
        if not strict and not getattr(self, "_erasure_owed", False):
            return
        self._erasure_owed = True
        raise ErasureIncomplete(
            f"the data is deleted from the database, but its write-ahead log "
            f"{str(self.file) + '-wal'!r} (WAL) still holds deleted content: another "
            f"connection (a reader) holds a snapshot that needs it and did not end "
            f"within {wait:g} s. The next erasure or close truncates it once that "
            f"reader has ended its transaction.", wal=str(self.file) + "-wal")

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
            # raises only for an erasure still owed; nothing else waits long at close
            self.scrub(strict=False, wait=1.0)
        except BackendError as exc:
            if getattr(self, "_erasure_owed", False):
                raise
            log.warning("closing %s: the write-ahead log was not folded back (%s)",
                        self.where, exc)
        finally:
            self.engine.dispose()


def _checkpointed(conn: sa.Connection) -> bool:
    """One ``wal_checkpoint(TRUNCATE)``: True when the whole WAL was copied back and
    truncated, False when a reader or writer kept it busy."""
    try:
        busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    except sa.exc.OperationalError as exc:  # "database is locked" on some versions
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    return not busy

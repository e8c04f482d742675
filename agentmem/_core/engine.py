"""The engine every memory strategy stands on: the SQL database, the units' indexes
(dense and lexical), the embedder and the LLM, the write lock, and the one write path
(:meth:`Engine.write`: a transaction, then the index work it queued).

Strategies receive the engine in ``open`` and write only through a :class:`WriteTx`;
they never open a transaction of their own inside another strategy's, and never call
the LLM while the write lock is held.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from ..embed import CachedEmbedder
from ..errors import AgentMemError, ConfigError
from ..index import ChromaIndex, LexicalIndex
from ..llm import MeteredLLM
from ..storage import repository as repo
from ..storage.database import Database
from ..storage.lock import FolderLock
from ..stores.base import UnitDraft
from . import indexing

__all__ = ["Engine", "UnitListener", "WriteTx"]

log = logging.getLogger("agentmem")

#: the unit store whose Chroma collections hold every store's vectors (MemoryBank's
#: summaries and LangGraph items are found with the conversation)
UNIT_COLLECTIONS = "episodic"


class UnitListener(Protocol):
    """A strategy that follows units written by others (MemoryBank's strengths)."""

    def on_units(self, tx: WriteTx, user_id: str, added: Sequence[UnitDraft],
                 replaced: Sequence[str]) -> Callable[[], None] | None:
        """Units ``added`` for ``user_id`` are about to replace the units ``replaced``
        (still there when this is called); what it returns runs once the old units
        are dropped and the new ones inserted."""
        ...


class WriteTx:
    """One write transaction, as strategies see it: the connection, and the unit
    operations that keep SQL, the lexical index and the dense outbox in step."""

    def __init__(self, engine: Engine, conn: sa.Connection,
                 listeners: Sequence[UnitListener]) -> None:
        self.engine = engine
        self.conn = conn
        self._listeners = listeners
        self._on_commit: list[Callable[[], object]] = []
        self._after_index: list[Callable[[], object]] = []
        #: every unit dropped in this transaction (what a deletion erases)
        self.dropped: list[repo.DeletedUnit] = []
        #: the caller's current time for this write (``add(now=...)``), or None
        self.now: datetime | None = None
        #: set by :meth:`unchanged`: the write's follow-ups are skipped
        self.idle = False
        #: every unit inserted in this transaction, in order
        self.added: list[UnitDraft] = []

    def insert_units(self, user_id: str, session_id: str, store: str,
                     drafts: Sequence[UnitDraft]) -> None:
        """New units in SQL and the lexical index, with their dated events; queued
        for the dense index (embedded after the commit)."""
        indexing.insert_units(self.engine, self.conn, user_id, session_id, store, drafts)
        self.added.extend(drafts)

    def replace_units(self, user_id: str, session_id: str, store: str,
                      added: Sequence[UnitDraft], replaced: Sequence[str]) -> None:
        """``added`` units in place of ``replaced`` ones (a round completed by its
        reply): shown to the unit listeners, the old ones dropped, the new ones
        inserted, then the listeners' follow-ups run."""
        then = [f for listener in self._listeners
                if (f := listener.on_units(self, user_id, added, replaced)) is not None]
        self.drop_units(replaced)
        self.insert_units(user_id, session_id, store, added)
        for run in then:
            run()

    def drop_units(self, unit_ids: Sequence[str]) -> list[repo.DeletedUnit]:
        """Delete units (and their key rows) from SQL and the lexical index; their
        vectors are queued for removal."""
        gone = indexing.drop_units(self.engine, self.conn, unit_ids)
        self.dropped.extend(gone)
        return gone

    def erase(self, gone: Sequence[repo.DeletedUnit], hashes: Sequence[str] = ()) -> None:
        """After a deletion: erase cached vectors and expansions nothing uses any more
        (of the units ``gone`` and the content ``hashes``), and merge the FTS5 pages."""
        indexing.erase(self.engine, self.conn, gone, hashes)

    def unchanged(self) -> None:
        """Nothing was written (e.g. a deletion found nothing): the commit's callbacks,
        the index sync and the scrub are skipped."""
        self.idle = True

    def on_commit(self, run: Callable[[], object]) -> None:
        """Run ``run`` right after the commit, still under the write lock (quick
        in-memory work only: an index cache to drop)."""
        self._on_commit.append(run)

    def after_index(self, run: Callable[[], object]) -> None:
        """Run ``run`` after the commit and the index sync, still under the write
        lock (before the files are scrubbed)."""
        self._after_index.append(run)


class Engine:
    """What the strategies share: ``db`` (SQL, the source of truth), ``dense`` and
    ``lexical`` (the units' indexes), ``embedder``, ``llm`` (or None), ``read_only``,
    ``path`` (the memory's folder, or None) and the write lock. :meth:`write` is the
    one write path."""

    def __init__(self, *, db: Database, dense: ChromaIndex, lexical: LexicalIndex | None,
                 embedder: CachedEmbedder, llm: MeteredLLM | None, read_only: bool,
                 path: Path | None, folder_lock: FolderLock | None = None) -> None:
        self.db = db
        self.dense = dense
        self.lexical = lexical
        self.embedder = embedder
        self.llm = llm
        self.read_only = read_only
        self.path = path
        self.folder_lock = folder_lock
        self.listeners: list[UnitListener] = []
        self.closed = False
        self.last_error: str | None = None
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def lock(self) -> threading.RLock:
        """The write lock (re-entrant): one write of this process at a time."""
        return self._lock

    def check_open(self) -> None:
        """Raise :class:`AgentMemError` once the memory is closed."""
        if self.closed:
            raise AgentMemError("this Memory is closed")

    def collection(self, user_id: str) -> str:
        """The Chroma collection (shard) holding ``user_id``'s vectors."""
        return self.dense.collection_name(UNIT_COLLECTIONS, user_id)

    def settle(self, key: str, wanted: str | None, default: str) -> str:
        """A setting fixed when the memory is created: stored on first open (``wanted``
        or ``default``), then required to match."""
        stored = self.db.get_meta(key)
        if stored is None:
            value = wanted or default
            self.db.set_meta(key, value)
            return value
        if wanted is not None and wanted != stored:
            raise ConfigError(
                f"{key}: this memory was created with {key}={stored!r}; open it with that "
                f"value (or omit {key}), or export it and import into a new memory"
            )
        return stored

    def note_failure(self, message: str) -> str:
        """Keep a failure of work after a write (or of dense search) for
        ``stats().last_index_error``; returns it as kept."""
        self.last_error = message[:500]
        return self.last_error

    def after_commit(self, step: str, run: Callable[[], object]) -> None:
        """A step after the write committed: its failure is logged and kept for
        ``stats()``, never raised (the write itself succeeded)."""
        try:
            run()
        except Exception as exc:
            self.note_failure(f"{step}: {exc}")
            log.warning("stored, but %s failed after the write: %s", step, exc)

    @contextmanager
    def write(self, *, sync: bool = True, scrub: bool = False,
              hold: Sequence[AbstractContextManager[Any]] = ()) -> Iterator[WriteTx]:
        """The write path: take the write lock and the locks in ``hold`` (the
        strategies' guards), run one transaction, then (still under the locks) the
        commit callbacks, the index work the write queued (``sync``; never raises) and,
        after a deletion, the on-disk erasure (``scrub``)."""
        with self._lock, ExitStack() as held:
            for lock in hold:
                held.enter_context(lock)
            with self.db.begin() as conn:
                tx = WriteTx(self, conn, self.listeners)
                yield tx
            if tx.idle:
                return
            for run in tx._on_commit:
                run()
            if sync:
                self.sync()
            for run in tx._after_index:
                run()
            if scrub:
                self.db.scrub(vacuum=True)

    def sync(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Bring the dense index in line with SQL (what fails stays queued; never
        raises). ``progress(done, total)`` follows the units embedded."""
        indexing.index_after_write(self, progress)

    def pool(self) -> ThreadPoolExecutor:
        """The worker that runs the dense side of a search (the query embedding)."""
        with self._pool_lock:  # its own lock: a search never waits for a write
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1,
                                                    thread_name_prefix="agentmem-dense")
            return self._executor

    def close(self) -> None:
        """Stop the worker and release the index and database handles, then the
        folder (free only once its files are)."""
        if self.closed:
            return
        self.closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        lock = self.folder_lock
        try:
            self.dense.close(release_files=lock is not None and lock.last())
        finally:
            try:
                self.db.close()
            finally:
                if lock is not None:
                    lock.release()

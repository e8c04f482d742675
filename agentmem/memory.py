"""The :class:`Memory` facade: the one object an application holds. It validates
input, builds the strategies (episodic units, key expansion, Think-in-Memory thoughts,
MemoryBank, LangGraph items, and any given with ``strategies=``), and runs each public
call through the engine's write path or the ranking pipeline; it knows no strategy's
internals (see ``docs/architecture.md``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from . import transfer
from ._core import backup, deletion, indexing
from ._core.answering import Answering
from ._core.compat import Internals
from ._core.opening import open_engine, settle_plugins
from ._core.reading import Reading
from ._core.retrieval import Retrieval
from ._core.stats import memory_stats
from .embed import Embedder
from .errors import InvalidInput, NotFound
from .inputs import check_id, check_number, check_path, check_positive_int, validate_messages
from .llm import LLM, MeteredLLM
from .ranking import default_pipeline
from .storage import repository as repo
from .stores import KeyExpansion, ThoughtConfig
from .stores.bank import Decay
from .stores.summaries import Summaries
from .strategies import BUILT_IN, Episodic, Items, Keys, MemoryBank, Strategy, Thoughts, WriteBatch
from .strategies.compose import checked, needs_llm
from .strategies.methods import MemoryBankMethods, ThoughtMethods
from .temporal import parse_timestamp, utcnow
from .types import AddResult, MemoryStats, Turn

__all__ = ["Memory"]

log = logging.getLogger("agentmem")

FUSIONS: tuple[str, ...] = ("score", "rrf")
S = TypeVar("S", bound=Strategy)


class Memory(Reading, MemoryBankMethods, ThoughtMethods, Answering, Internals):
    """Long-term memory for one application, holding any number of users.

    ``Memory(path="./memdata")`` keeps a SQLite file and a Chroma folder under
    ``path`` (created if absent). ``Memory()`` (``path=None``) is fully in memory.
    ``Memory(url="postgresql+psycopg://...", chroma_host="...", chroma_port=8000)``
    uses a server database and a Chroma server; with ``url`` and no Chroma location,
    vectors are kept in memory and rebuilt from SQL on open.

    Args:
        path: folder for the embedded default (SQLite + Chroma), or None.
        url: any SQLAlchemy database URL; overrides the SQLite file under ``path``.
        chroma_host: a Chroma server's host; overrides the folder under ``path``.
        chroma_port: that server's port (default 8000).
        embedder: an :class:`~agentmem.embed.Embedder` (default: all-MiniLM-L6-v2).
        granularity: ``"turn"``, ``"round"`` (default) or ``"session"``: the unit the
            episodic store indexes. Fixed when the memory is created.
        candidates: how many candidates each retriever contributes before fusion.
        exact_search: dense search compares every vector exactly (from the SQL cache)
            when the units searched number at most this (default 2000); above it,
            Chroma's approximate HNSW index answers.
        chroma_prefix: prefix of this memory's Chroma collection names.
        llm: an :class:`~agentmem.llm.LLM` for the stores' LLM steps; its calls, tokens
            and wall time per operation are reported by :meth:`stats`.
        fusion: how hybrid search combines dense and lexical candidates: ``"score"``
            (default: z-normalised scores, summed) or ``"rrf"`` (reciprocal-rank fusion).
        keys: fact-augmented key expansion (:class:`~agentmem.stores.KeyExpansion`):
            the LLM extracts facts / keyphrases / a summary from each new unit, and the
            unit is indexed under that text merged with (or replacing) its own; needs
            ``llm``. A failed extraction leaves the unit indexed by its text.
        context_turns: turn and round units are indexed under their text followed by
            the session's ``context_turns`` turns before them (default 2), so a reply is
            found by the words of what it answers; 0 indexes the text alone. Fixed when
            the memory is created, like ``granularity``; so is ``context_vectors``:
            ``"composed"`` (default: text and context embedded apart) or ``"concatenated"``.
        session_weight: in hybrid search, each unit also gets this share of its
            session's match (the mean of the session's best three fused scores among
            the candidates), so evidence spread over one session rises together; 0
            turns it off.
        supersede: for a question about the present, among conflicting statements
            in the top ten (similar, from different sessions) the newest moves first
            when it says something changed ("now", "switched"); default on.
        thoughts: the Think-in-Memory thought store's settings
            (:class:`~agentmem.stores.ThoughtConfig`). Giving it with an ``llm`` turns
            on post-thinking: after every exchange added, the LLM writes thoughts
            (relation triples) from it. Thoughts can always be added directly with
            :meth:`add_thoughts`; active thoughts are searched with the episodic units
            (hits of kind ``thought``). The LSH parameters are fixed when the memory
            is created.
        thought_weight: the weight ``w`` of the thoughts' ranking when it is fused with
            the units' by reciprocal rank (k=60): the best thought then ties with the
            units' rank ``61 / w - 60`` (1.0, the default: rank 1; 0.9: rank 8; 0.5:
            below rank 60, so thoughts leave the top results). 0 leaves thoughts out
            of search unless ``kinds`` asks for them alone.
        decay: MemoryBank's forgetting curve (:class:`~agentmem.stores.Decay`): each
            unit's retention ``exp(-t / S)`` weighs in ranking, units returned by
            :meth:`search` are reinforced, and :meth:`maintain` archives the faded
            ones. None (default): no decay.
        summaries: MemoryBank's daily summaries, global summary and user portrait
            (:class:`~agentmem.stores.summaries.Summaries`), written by ``llm``; see
            :meth:`summarize` and :meth:`profile`. Needs ``llm``.
        lock_timeout: seconds a write waits for another writer's lock on a SQLite
            file before it fails with :class:`BackendError` (default 60).
        strategies: more memory strategies (:class:`agentmem.ext.Strategy`), after the
            built-ins (``docs/strategies.md``); a memory used with one needs it again.

    Deployment: the embedded default (a ``path`` with no ``chroma_host``) belongs to
    one process: a second process opening the same folder gets a
    :class:`BackendError` saying so (an OS lock on the folder). Several processes share
    a memory through ``url`` and ``chroma_host`` (PostgreSQL and a Chroma server).
    Writes are one SQL transaction each; the index work they imply is queued in SQL,
    applied after the commit and retried on the next write or open, so a write that
    returned is stored, and one that raised wrote nothing.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        url: str | None = None,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        embedder: Embedder | None = None,
        granularity: str | None = None,
        candidates: int = 50,
        exact_search: int = 2000,
        chroma_prefix: str = "agentmem",
        llm: LLM | None = None,
        fusion: str = "score",
        session_weight: float = 1.0,
        supersede: bool = True,
        keys: KeyExpansion | None = None,
        context_turns: int | None = None,
        context_vectors: str | None = None,
        thoughts: ThoughtConfig | None = None,
        thought_weight: float = 1.0,
        decay: Decay | None = None,
        summaries: Summaries | None = None,
        lock_timeout: float = 60.0,
        strategies: Sequence[Strategy] = (),
    ) -> None:
        self._engine = None
        if path is not None:
            path = check_path(path, "path")
        if url is not None and not isinstance(url, str):
            raise InvalidInput("url", f"must be a string, got {type(url).__name__}")
        if chroma_host is not None and not isinstance(chroma_host, str):
            raise InvalidInput("chroma_host", "must be a string")
        check_positive_int(chroma_port, "chroma_port")
        check_number(lock_timeout, "lock_timeout", positive=True)
        self.candidates = check_positive_int(candidates, "candidates")
        exact = 0 if exact_search == 0 and not isinstance(exact_search, bool) else \
            check_positive_int(exact_search, "exact_search")
        episodic = Episodic(granularity, context_turns, context_vectors)
        if fusion not in FUSIONS:
            raise InvalidInput("fusion", f"must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        self._fusion = fusion
        self._session_weight = check_number(session_weight, "session_weight")
        if not isinstance(supersede, bool):
            raise InvalidInput("supersede", f"must be True or False, got {supersede!r}")
        weight = check_number(thought_weight, "thought_weight")
        if decay is not None and not isinstance(decay, Decay):  # checked in this order
            raise InvalidInput("decay", "must be a Decay (or None)")
        if llm is not None and not isinstance(llm, LLM):
            raise InvalidInput("llm", "must provide name and complete(requests) "
                                      "(the agentmem.llm.LLM protocol)")
        self.llm: MeteredLLM | None = MeteredLLM(llm) if llm is not None else None
        expansion = [needs_llm(Keys(keys), self.llm)] if keys is not None else []
        bank = needs_llm(MemoryBank(decay, summaries), self.llm)
        self._strategies: list[Strategy] = [
            episodic, *expansion, Thoughts(thoughts, weight=weight), bank, Items(),
            *(needs_llm(s, self.llm) for s in checked(strategies))]
        self.path = Path(path) if path is not None else None
        self._engine = open_engine(
            self.path, url=url, chroma_host=chroma_host, chroma_port=chroma_port,
            chroma_prefix=chroma_prefix, embedder=embedder, llm=self.llm,
            lock_timeout=float(lock_timeout), strategies=self._strategies)
        try:
            #: an existing memory in a folder this process cannot write (a read-only
            #: mount): opened for search, its vectors held in memory; writes raise
            self.read_only = self._engine.read_only
            self._retrieval = Retrieval(self._engine, default_pipeline(
                fusion=fusion, session_weight=self._session_weight, supersede=supersede,
                extra=[st for s in self._strategies for st in s.stages()]), self._strategies,
                exact_below=exact)
            settle_plugins(self._engine, [s.name for s in self._strategies
                                          if s.name not in BUILT_IN])
        except BaseException:
            self.close()
            raise

    @property
    def fusion(self) -> str:
        """How hybrid search combines dense and lexical candidates."""
        return self._fusion

    @property
    def session_weight(self) -> float:
        """The share of its session's match each unit gets in hybrid search."""
        return self._session_weight

    # -- the extension API ----------------------------------------------------------

    def strategy(self, kind: type[S]) -> S:
        """This memory's strategy of class ``kind`` (the first, if several): the
        extension API for adapters and plugins (see ``docs/strategies.md``). Raises
        :class:`NotFound` when the memory has none."""
        self._open_engine()
        for s in self._strategies:
            if isinstance(s, kind):
                return s
        raise NotFound(f"this memory has no {kind.__name__} strategy")

    # -- writing --------------------------------------------------------------------

    def add(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        user_id: str,
        session_id: str,
        timestamp: str | datetime | None = None,
        now: str | datetime | None = None,
    ) -> AddResult:
        """Store messages of one session (one SQL transaction), then index them.

        ``messages`` is a list of ``{"role": "user"|"assistant"|"system", "content":
        str}`` dicts, optionally with ``name`` (the speaker's name), ``timestamp`` and
        ``metadata`` (a JSON-serialisable dict). ``timestamp`` (ISO 8601, a datetime,
        LongMemEval's ``2023/05/20 (Sat) 10:00``, or LoCoMo's ``1:56 pm on 8 May,
        2023``) dates every message that has none; it defaults to now (UTC).
        Invalid input raises :class:`InvalidInput` and writes nothing.

        ``now`` (with ``decay``) is the current time of the memory's forgetting clock:
        the new units start their curve there. By default a unit's curve starts at its
        own timestamp.
        """
        engine = self._open_engine()
        user_id = check_id(user_id, "user_id")
        session_id = check_id(session_id, "session_id")
        when = utcnow() if timestamp is None else parse_timestamp(timestamp)
        clock = None if now is None else parse_timestamp(now, field="now")
        msgs = validate_messages(messages, when)
        jobs: list[tuple[str, Callable[[], object]]] = []
        deferred = any(s.rewrites_keys for s in self._strategies)
        with engine.write(sync=not deferred) as tx:
            tx.now = clock
            repo.lock_session(tx.conn, user_id, session_id)
            pos = repo.next_position(tx.conn, user_id, session_id)
            new_turns = tuple(
                Turn(id=uuid.uuid4().hex, user_id=user_id, session_id=session_id,
                     position=pos + i, role=m.role, content=m.content,
                     timestamp=m.timestamp, name=m.name, metadata=m.metadata)
                for i, m in enumerate(msgs))
            repo.ensure_user(tx.conn, user_id, utcnow())
            repo.ensure_session(tx.conn, user_id, session_id,
                                min(t.timestamp for t in new_turns))
            repo.insert_turns(tx.conn, new_turns)
            batch = WriteBatch(user_id, session_id, new_turns)
            for s in self._strategies:
                if (job := s.on_write(tx, batch)) is not None:
                    jobs.append((s.label or s.name, job))
        # Stored: from here on nothing raises into the caller (a retry would store the
        # turns twice). Each later step failing is logged and counted; the queued
        # index work is retried on the next write or open.
        for name, job in jobs:
            engine.after_commit(name, job)
        return AddResult(user_id=user_id, session_id=session_id,
                         turn_ids=tuple(t.id for t in new_turns),
                         unit_ids=tuple(d.id for d in tx.added))

    def reindex(self) -> None:
        """Rebuild every index from SQL: the lexical rows, the dense vectors (from the
        embedding cache where possible) and the thoughts' LSH buckets."""
        engine = self._open_engine()
        with engine.lock:
            indexing.reindex(engine)
            for s in self._strategies:
                s.reindex()

    # -- deleting -------------------------------------------------------------------

    def delete(self, id: str) -> None:
        """Delete a memory unit and the turns it holds, from SQL, the lexical index,
        the dense index and the embedding cache; no trace of the text stays on disk.
        Other units built from the same turns are deleted too, and thoughts that came
        only from them. A unit derived from another (an extracted fact, a key row) is
        deleted alone: the conversation it came from stays.

        ``id`` may also name a thought: it is purged with its history and the thoughts
        merged into it; a thought it had superseded becomes active again. Raises
        :class:`NotFound`, or :class:`~agentmem.errors.ErasureIncomplete` (see
        :meth:`forget_user`)."""
        engine = self._open_engine()
        deletion.delete(engine, self._strategies, check_id(id, "id"))

    def delete_session(self, user_id: str, session_id: str) -> int:
        """Delete one session of ``user_id`` the way :meth:`delete` deletes a unit:
        its turns, every unit derived from them (and their key rows and facts), the
        thoughts that drew on them, and the MemoryBank summaries of their days
        (rebuilt by the next :meth:`summarize`); from SQL, the lexical index, the dense
        index and the embedding cache, leaving no trace of the text on disk. Other
        sessions and LangGraph store items are untouched. Returns the number of turns
        removed (0 for an unknown user or session)."""
        engine = self._open_engine()
        user_id = check_id(user_id, "user_id")
        session_id = check_id(session_id, "session_id")
        return deletion.delete_session(engine, self._strategies, user_id, session_id,
                                       self.strategy(Episodic).name)

    def forget_user(self, user_id: str) -> int:
        """Remove every trace of ``user_id`` from every store and index: turns, units,
        sessions, thoughts and their history, LangGraph store items, lexical rows,
        vectors and cached embeddings. Returns the number of
        turns removed (0 for an unknown user).

        On a SQLite file the erasure also rewrites the file (``VACUUM``) and truncates
        the write-ahead log; when another connection's read transaction keeps the log
        busy for more than 5 s, :class:`~agentmem.errors.ErasureIncomplete` is raised
        after the deletion committed (the next erasure or close finishes it). The same
        holds for :meth:`delete` and :meth:`delete_session`."""
        engine = self._open_engine()
        return deletion.forget_user(engine, self._strategies, check_id(user_id, "user_id"))

    # -- export / import --------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write the memory (or one user's part) as JSONL; returns the records written.
        Lossless: :meth:`import_` of the file rebuilds the same turns, units, thoughts,
        thought histories and LangGraph store items. The export reads one snapshot
        (writes running meanwhile are either wholly in it or not at all); the file
        (mode 0600) appears under ``path`` only once complete, so a killed export
        leaves no text behind. A missing folder raises :class:`InvalidInput`."""
        engine = self._open_engine()
        path = check_path(path, "path")
        if user_id is not None:
            user_id = check_id(user_id, "user_id")
        return backup.export(engine, self._strategies, path, user_id=user_id,
                             granularity=self.strategy(Episodic).granularity)

    def import_(self, path: str | Path, *,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Load a JSONL export (validated whole first; one transaction), then index it.
        Ids already present raise :class:`InvalidInput` and nothing is written.
        Returns the records read. ``progress(done, total)``, when given, is called as
        the imported units are embedded and indexed (the long part of an import)."""
        self._open_engine()
        return self.import_records(transfer.read_jsonl(check_path(path, "path")),
                                   progress=progress)

    def import_records(self, records: transfer.Records, *,
                       progress: Callable[[int, int], None] | None = None) -> int:
        """:meth:`import_` of records :func:`agentmem.transfer.read_jsonl` has read (and
        validated): the CLI reads a file once, then imports it."""
        return backup.import_records(self._open_engine(),
                                     self.strategy(Episodic).granularity,
                                     self.strategy(Thoughts), self._strategies, records,
                                     progress=progress)

    # -- status ---------------------------------------------------------------------

    def stats(self) -> MemoryStats:
        """Counts of users, sessions, turns and units, cache and repair state."""
        return memory_stats(self._open_engine(), self._strategies,
                            granularity=self.strategy(Episodic).granularity)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Release the database and index handles (in-memory data is discarded)."""
        engine = getattr(self, "_engine", None)
        if engine is None or engine.closed:
            return
        try:
            for s in self._strategies:
                s.close()
        finally:
            engine.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path else (
            self._engine.db.engine.url.render_as_string(hide_password=True)
            if self._engine is not None else "closed")
        granularity = getattr(getattr(self._strategies[0], "store", None), "granularity", None)
        return f"Memory({where!r}, granularity={granularity!r})" if granularity else \
            f"Memory({where!r})"

"""The :class:`Memory` facade: the episodic log in SQL, its units indexed in Chroma
(dense) and FTS5 (lexical), searched per user with score fusion; Think-in-Memory
thoughts (LSH buckets) fused in by reciprocal rank.

This module keeps the constructor, the add / search / rank / context / respond flow and
the public methods; indexing, key expansion, thoughts, MemoryBank, deletion and
export / import are implemented in :mod:`agentmem._memory`, one module per concern."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import sqlalchemy as sa

from . import _memory
from .embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from .errors import AgentMemError, BackendError, ConfigError, InvalidInput, LLMError, NotFound
from .index import (
    DEFAULT_SHARDS,
    ChromaIndex,
    lexical_index_for,
    reciprocal_rank_fusion,
    score_fusion,
    session_context,
)
from .inputs import check_id, check_path, check_positive_int, check_text, validate_messages
from .llm import LLM, LLMRequest, MeteredLLM
from .reader import build_reader_prompt, format_date, format_history, items_from_hits
from .storage import repository as repo
from .storage.database import DB_FILENAME, Database
from .storage.lock import FolderLock
from .storage.schema import (
    embeddings,
    index_tombstones,
    sessions,
    thoughts,
    turns,
    units,
    users,
)
from .stores import (
    EpisodicStore,
    KeyExpander,
    KeyExpansion,
    Thinker,
    ThoughtChange,
    ThoughtConfig,
    ThoughtDraft,
    ThoughtStore,
    bank,
)
from .stores.bank import Decay, MaintenanceResult
from .stores.summaries import Profile, Summaries, Summarizer
from .temporal import (
    WIDEN_DAYS,
    move_ahead,
    parse_timestamp,
    question_time_range,
    utcnow,
)
from .types import (
    GRANULARITIES,
    SEARCH_MODES,
    AddResult,
    Answer,
    Hit,
    MemoryEvent,
    MemoryStats,
    MemoryUnit,
    Thought,
    TimeRange,
    Turn,
)

__all__ = ["Memory"]

log = logging.getLogger("agentmem")

DEFAULT_CONTEXT_TURNS = 2
FUSIONS: tuple[str, ...] = ("score", "rrf")


def _lsh_meta(config: ThoughtConfig) -> str:
    return json.dumps({"buckets": config.buckets, "tables": config.tables,
                       "seed": config.seed}, sort_keys=True)


def _kinds(kinds: Sequence[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds) or not kinds:
        raise InvalidInput("kinds", f"must be a non-empty list of unit kinds, got {kinds!r}")
    return frozenset(kinds)


def _merge_key_rows(fused: list[tuple[str, float]], info: dict[str, repo.UnitInfo],
                    dense: dict[str, float], lexical: dict[str, float]
                    ) -> list[tuple[str, float]]:
    """Rank merging: each key row counts for its parent unit, which keeps its best
    place and score (per-retriever scores too)."""
    merged: dict[str, float] = {}
    for uid, score in fused:
        row = info.get(uid)
        parent = row.parent_id if row is not None and row.is_key_row and row.parent_id \
            else uid
        merged.setdefault(parent, score)
        if parent != uid:
            for scores in (dense, lexical):
                if uid in scores:
                    scores[parent] = max(scores[uid], scores.get(parent, scores[uid]))
    return list(merged.items())


class Memory:
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
        chroma_prefix: prefix of this memory's Chroma collection names.
        llm: an :class:`~agentmem.llm.LLM` for the stores' LLM steps; its calls, tokens
            and wall time per operation are reported by :meth:`stats`.
        fusion: how hybrid search combines dense and lexical candidates: ``"score"``
            (default: each retriever's scores z-normalised over the candidates, then
            summed) or ``"rrf"`` (reciprocal-rank fusion).
        keys: fact-augmented key expansion (:class:`~agentmem.stores.KeyExpansion`):
            the LLM extracts facts / keyphrases / a summary from each new unit, and the
            unit is indexed under that text merged with (or replacing) its own; needs
            ``llm``. A failed extraction leaves the unit indexed by its text.
        context_turns: turn and round units are indexed under their text followed by
            the session's ``context_turns`` turns before them (default 2), so a reply is
            found by the words of what it answers; 0 indexes the text alone. Fixed when
            the memory is created, like ``granularity``.
        session_weight: in hybrid search, each unit also gets this share of its
            session's match (the mean of the session's best three fused scores among
            the candidates), so evidence spread over one session rises together; 0
            turns it off.
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
        chroma_prefix: str = "agentmem",
        llm: LLM | None = None,
        fusion: str = "score",
        session_weight: float = 1.0,
        keys: KeyExpansion | None = None,
        context_turns: int | None = None,
        thoughts: ThoughtConfig | None = None,
        thought_weight: float = 1.0,
        decay: Decay | None = None,
        summaries: Summaries | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        if path is not None:
            path = check_path(path, "path")
        if url is not None and not isinstance(url, str):
            raise InvalidInput("url", f"must be a string, got {type(url).__name__}")
        if chroma_host is not None and not isinstance(chroma_host, str):
            raise InvalidInput("chroma_host", "must be a string")
        check_positive_int(chroma_port, "chroma_port")
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)) \
                or not 0 < lock_timeout < float("inf"):
            raise InvalidInput("lock_timeout", f"must be a number > 0, got {lock_timeout!r}")
        self.candidates = check_positive_int(candidates, "candidates")
        if granularity is not None and granularity not in GRANULARITIES:
            raise InvalidInput(
                "granularity", f"must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
            )
        if context_turns is not None and (isinstance(context_turns, bool) or not isinstance(
                context_turns, int) or context_turns < 0):
            raise InvalidInput("context_turns", f"must be an int >= 0, got {context_turns!r}")
        if fusion not in FUSIONS:
            raise InvalidInput("fusion", f"must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        self.fusion = fusion
        if isinstance(session_weight, bool) or not isinstance(session_weight, (int, float)) \
                or not 0 <= session_weight < float("inf"):
            raise InvalidInput("session_weight", f"must be a number >= 0, got {session_weight!r}")
        self.session_weight = float(session_weight)
        if isinstance(thought_weight, bool) or not isinstance(thought_weight, (int, float)) \
                or not 0 <= thought_weight < float("inf"):
            raise InvalidInput("thought_weight", f"must be a number >= 0, got {thought_weight!r}")
        self.thought_weight = float(thought_weight)
        if decay is not None and not isinstance(decay, Decay):
            raise InvalidInput("decay", "must be a Decay (or None)")
        self.decay = decay
        if llm is not None and not isinstance(llm, LLM):
            raise InvalidInput("llm", "must provide name and complete(requests) "
                                      "(the agentmem.llm.LLM protocol)")
        self.llm: MeteredLLM | None = MeteredLLM(llm) if llm is not None else None
        if keys is not None and not isinstance(keys, KeyExpansion):
            raise InvalidInput("keys", "must be a KeyExpansion (or None)")
        if keys is not None and self.llm is None:
            raise ConfigError("keys: fact-augmented key expansion needs an LLM (llm=...)")
        self.keys = keys
        if summaries is not None and not isinstance(summaries, Summaries):
            raise InvalidInput("summaries", "must be a Summaries (or None)")
        if summaries is not None and self.llm is None:
            raise ConfigError("summaries: summaries and the portrait need an LLM (llm=...)")
        self.summarizer = Summarizer(self.llm, summaries) if (
            summaries is not None and self.llm is not None) else None
        if thoughts is not None and not isinstance(thoughts, ThoughtConfig):
            raise InvalidInput("thoughts", "must be a ThoughtConfig (or None)")
        self.post_think = bool(thoughts is not None and thoughts.post_think and self.llm)
        self.path = Path(path) if path is not None else None
        #: an existing memory in a folder this process cannot write (a read-only
        #: mount): opened for search, its vectors held in memory; writes raise
        self.read_only = False
        if self.path is not None:
            if self.path.exists() and not self.path.is_dir():
                raise InvalidInput("path", f"{str(self.path)!r} exists and is not a folder")
            self.read_only = (url is None and (self.path / DB_FILENAME).exists()
                              and not os.access(self.path, os.W_OK))
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackendError(f"path: cannot create the memory folder "
                                   f"{str(self.path)!r}: {exc.strerror}") from exc
        db_url = url or (f"sqlite:///{self.path / DB_FILENAME}" if self.path else "sqlite://")
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._recall_lock = threading.Lock()
        self._closed = True
        self._index_error: str | None = None
        embedded = self.path is not None and chroma_host is None
        self._folder_lock = FolderLock(self.path, shared=self.read_only) if (
            embedded and self.path) else None
        try:
            self.db = Database(db_url, lock_timeout=float(lock_timeout),
                               read_only=self.read_only)
        except BaseException:
            if self._folder_lock is not None:
                self._folder_lock.release()
            raise
        try:
            with self.db._translated():  # creating it may wait for another writer
                self.lexical = lexical_index_for(self.db.engine, create=not self.read_only)
            if self.lexical is None:
                warnings.warn(
                    f"no lexical index for the {self.db.engine.dialect.name} dialect yet: "
                    "search uses dense vectors only",
                    stacklevel=2,
                )
            # a memory made before the shared layout has one collection per user
            made_before_shards = (self.db.get_meta("granularity") is not None
                                  and self.db.get_meta("dense_layout") is None)
            layout = json.loads(self.db.settle_meta(
                "dense_layout", json.dumps({"shards": DEFAULT_SHARDS})))
            self.dense = ChromaIndex(
                # read-only: Chroma cannot open its files; vectors are held in memory
                path=(self.path / "chroma") if embedded and self.path and not
                self.read_only else None,
                host=None if self.read_only else chroma_host,
                port=chroma_port,
                prefix=chroma_prefix,
                shards=int(layout["shards"]),
            )
            self.embedder = CachedEmbedder(embedder or SentenceTransformerEmbedder(), self.db)
            # a memory made before context turns existed keeps indexing without them
            made_before = (self.db.get_meta("granularity") is not None
                           and self.db.get_meta("context_turns") is None)
            self.store = EpisodicStore(
                self._settle("granularity", granularity, "round"),
                context_turns=int(self._settle(
                    "context_turns", None if context_turns is None else str(context_turns),
                    "0" if made_before else str(DEFAULT_CONTEXT_TURNS))))
            self.expander = (KeyExpander(self.llm, self.db, max_tokens=keys.max_tokens)
                             if keys is not None and self.llm is not None else None)
            config = thoughts or ThoughtConfig()
            stored_lsh = self.db.get_meta("thought_lsh")
            if thoughts is not None and stored_lsh not in (None, _lsh_meta(config)):
                raise ConfigError(
                    "thoughts: this memory's thought buckets were made with "
                    + ", ".join(f"{k}={v}" for k, v in json.loads(stored_lsh).items())
                    + "; open it with those (or without ThoughtConfig's LSH fields set "
                      "otherwise), or export it and import into a new memory")
            lsh = json.loads(self._settle("thought_lsh", None, _lsh_meta(config)))
            config = replace(config, **lsh)
            self.thought_store = ThoughtStore(
                self.db, self.embedder, config,
                Thinker(self.llm, max_tokens=config.max_tokens) if self.llm else None)
            # the projections are drawn from the stored seed; should a numpy release
            # draw them differently, the stored buckets are re-derived
            digest = self.thought_store.hasher.digest()
            if self.db.get_meta("thought_projections") not in (None, digest) and \
                    not self.read_only:
                log.warning("the thought LSH projections changed: re-hashing thoughts")
                self.thought_store.rebuild()
            self.db.set_meta("thought_projections", digest)
            self._closed = False
            _memory.indexing.open_index(self, made_before_shards=made_before_shards)
        except BaseException:
            self.close()
            raise

    # -- set-up ---------------------------------------------------------------------

    def _settle(self, key: str, wanted: str | None, default: str) -> str:
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

    def _check_open(self) -> None:
        if self._closed:
            raise AgentMemError("this Memory is closed")

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
        self._check_open()
        user_id = check_id(user_id, "user_id")
        session_id = check_id(session_id, "session_id")
        when = utcnow() if timestamp is None else parse_timestamp(timestamp)
        clock = None if now is None else parse_timestamp(now, field="now")
        msgs = validate_messages(messages, when)
        with self._lock:
            with self.db.begin() as conn:
                repo.lock_session(conn, user_id, session_id)
                pos = repo.next_position(conn, user_id, session_id)
                previous = repo.turn_at(conn, user_id, session_id, pos - 1) \
                    if self.post_think and pos else None
                new_turns = [
                    Turn(id=uuid.uuid4().hex, user_id=user_id, session_id=session_id,
                         position=pos + i, role=m.role, content=m.content,
                         timestamp=m.timestamp, name=m.name, metadata=m.metadata)
                    for i, m in enumerate(msgs)
                ]
                tail = repo.session_tail(conn, user_id, session_id, self.store.name,
                                         self.store.tail_size())
                derivation = self.store.derive(tail, new_turns)
                # a unit re-derived with new turns keeps its place on the forgetting curve
                carried = bank.states(conn, derivation.replaced_unit_ids) if (
                    self.decay is not None and derivation.replaced_unit_ids) else {}
                repo.ensure_user(conn, user_id, utcnow())
                repo.ensure_session(conn, user_id, session_id,
                                    min(t.timestamp for t in new_turns))
                repo.insert_turns(conn, new_turns)
                self._drop_units(conn, derivation.replaced_unit_ids)
                self._insert_units(conn, user_id, session_id, self.store.name,
                                   derivation.new_units)
                if self.decay is not None and clock is not None:
                    bank.start(conn, user_id, [d.id for d in derivation.new_units], clock)
                if carried and derivation.new_units:
                    bank.carry(conn, user_id, derivation.new_units[0].id, carried.values())
            if self.expander is None:
                self._sync_index()
        # Stored: from here on nothing raises into the caller (a retry would store the
        # turns twice). Each later step failing is logged and counted; the queued
        # index work is retried on the next write or open.
        if self.expander is not None:
            self._after_commit("key expansion", lambda: _memory.keys.expand_keys(
                self, user_id, session_id, derivation.new_units))
        if self.post_think:
            self._after_commit("post-thinking", lambda: _memory.thoughts.post_think(
                self, user_id, _memory.thoughts.exchanges(previous, new_turns)))
        if self.summarizer is not None and self.summarizer.config.auto:
            # a day is summarised once a later day has begun
            self._after_commit("summaries", lambda: self.summarize(
                user_id, before=min(t.timestamp for t in new_turns).date()))
        return AddResult(
            user_id=user_id,
            session_id=session_id,
            turn_ids=tuple(t.id for t in new_turns),
            unit_ids=tuple(d.id for d in derivation.new_units),
        )

    def _note_failure(self, message: str) -> str:
        """Keep a failure of work after a write (or of dense search) for
        :meth:`stats` (``last_index_error``); returns it as kept."""
        self._index_error = message[:500]
        return self._index_error

    def _after_commit(self, step: str, run: Callable[[], object]) -> None:
        """A step after the write committed: its failure is logged and kept for
        :meth:`stats`, never raised (the write itself succeeded)."""
        try:
            run()
        except Exception as exc:
            self._note_failure(f"{step}: {exc}")
            log.warning("stored, but %s failed after the write: %s", step, exc)

    # -- forgetting (MemoryBank) -----------------------------------------------------

    def maintain(self, *, now: str | datetime | None = None, user_id: str | None = None
                 ) -> MaintenanceResult:
        """MemoryBank's forgetting: archive every unit (of ``user_id``, or of every
        user) whose retention ``exp(-t / S)`` at ``now`` (default: UTC now) is below
        ``decay.threshold``. Deterministic; each archive is in :meth:`history`.
        Archived units stay stored, leave search results unless
        ``include_forgotten=True``, and come back with :meth:`restore`. Needs
        ``Memory(decay=...)`` (:class:`ConfigError` otherwise)."""
        return _memory.bank.maintain(self, now=now, user_id=user_id)

    def restore(self, id: str, *, now: str | datetime | None = None) -> None:
        """Bring back an archived unit (see :meth:`maintain`); its forgetting clock
        restarts at ``now``. Raises :class:`NotFound`, or :class:`InvalidInput` when
        the unit is not archived."""
        _memory.bank.restore(self, id, now=now)

    # -- summaries and portrait (MemoryBank) ------------------------------------------

    def summarize(self, user_id: str, *, before: date | None = None) -> int:
        """Bring ``user_id``'s MemoryBank summaries up to date: each day whose turns
        changed since its summary (only days before ``before``, when given) gets a new
        event summary and personality note, then the global summary and the portrait
        are rewritten from all the days. Incremental: unchanged days cost nothing.
        Returns the days summarised. Needs ``Memory(summaries=...)``."""
        return _memory.bank.summarize(self, user_id, before=before)

    def profile(self, user_id: str) -> Profile:
        """``user_id``'s MemoryBank profile: the global summary and portrait, and each
        day's event summary and personality note (empty before any summary)."""
        return _memory.bank.profile(self, user_id)

    # -- thoughts (Think-in-Memory) ---------------------------------------------------

    def add_thoughts(self, thoughts: Sequence[ThoughtDraft | dict[str, Any]], *,
                     user_id: str, timestamp: str | datetime | None = None
                     ) -> list[ThoughtChange]:
        """Add thoughts extracted elsewhere: :class:`~agentmem.stores.ThoughtDraft`
        values or dicts with ``head``, ``relation``, ``tail`` and optional ``text``,
        ``timestamp`` (default: ``timestamp``, else now), ``session_id`` and
        ``source_turn_ids`` (turns of this user). Each is inserted, merged into a near
        duplicate, or supersedes an older thought with the same head and relation
        (TiM's insert / merge / forget); the returned changes say which. Everything is
        validated first: bad input raises :class:`InvalidInput` and adds nothing."""
        return _memory.thoughts.add_thoughts(self, thoughts, user_id=user_id,
                                             timestamp=timestamp)

    def thoughts(self, user_id: str, *, status: str | Sequence[str] = "active"
                 ) -> list[Thought]:
        """``user_id``'s thoughts with this status (``active``, ``merged``,
        ``forgotten``, or a list of them), oldest first."""
        return _memory.thoughts.thoughts(self, user_id, status=status)

    def thought(self, id: str) -> Thought:
        """The thought with this id (any status). Raises :class:`NotFound`."""
        return _memory.thoughts.thought(self, id)

    def history(self, id: str) -> list[MemoryEvent]:
        """The audit history of a thought or a unit, oldest first: a thought's insert
        and every merge, forget, supersede and restore it took part in; a unit's
        archives and restores (:meth:`maintain`). Raises :class:`NotFound`."""
        return _memory.thoughts.history(self, id)

    # -- index synchronisation --------------------------------------------------------

    def _insert_units(self, conn: sa.Connection, user_id: str, session_id: str, store: str,
                      drafts: Sequence[Any]) -> None:
        _memory.indexing.insert_units(self, conn, user_id, session_id, store, drafts)

    def _sync_index(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Bring the dense index in line with SQL: remove tombstoned vectors, embed and
        upsert pending units. Runs after every write and on open (crash repair); never
        raises (what fails stays queued). ``progress(done, total)``, when given,
        follows the units embedded (and replaces the progress bar)."""
        _memory.indexing.index_after_write(self, progress)

    def _collection(self, store: str, user_id: str) -> str:
        """The Chroma collection of a store's units: MemoryBank's summaries and
        LangGraph store items share the episodic one, so that dense search finds them
        with the conversation."""
        return self.dense.collection_name(
            self.store.name if store in ("bank", "langgraph") else store, user_id)

    def reindex(self) -> None:
        """Rebuild every index from SQL: the lexical rows, the dense vectors (from the
        embedding cache where possible) and the thoughts' LSH buckets."""
        _memory.indexing.reindex(self)

    # -- reading --------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int = 5,
        mode: str = "hybrid",
        candidates: int | None = None,
        now: str | datetime | None = None,
        question_date: str | datetime | None = None,
        time_aware: bool = True,
        kinds: Sequence[str] | None = None,
        include_forgotten: bool = False,
    ) -> list[Hit]:
        """The ``k`` units of ``user_id`` most relevant to ``query``, best first.

        ``mode``: ``"hybrid"`` (dense + lexical, score fused; default),
        ``"dense"`` or ``"lexical"``. ``candidates``: how many each retriever returns
        before fusion (default: the memory's setting, at least ``k``).

        Time-aware (LongMemEval's query expansion): when the query names a period ("last
        week", "in May", "two days ago"), resolved against ``now`` (alias
        ``question_date``; default: the current UTC time), the candidates dated inside it
        (±2 days) — by their timestamp or a date their text mentions — move ahead of the
        rest, in the same relative order; none is dropped. ``time_aware=False`` turns
        this off. Ranking order is then the authority; ``score`` stays the fused score.

        ``kinds`` keeps only units of these kinds (e.g. ``("fact",)`` to search the
        extracted facts alone); it filters the retrievers' candidates, so raise
        ``candidates`` when the kind is rare.

        The user's active Think-in-Memory thoughts (see :meth:`add_thoughts`) are
        recalled too, unless ``kinds`` leaves out ``"thought"`` or ``mode`` is
        ``"lexical"``: ranked by cosine (LSH buckets for large stores), then fused
        with the units by reciprocal rank. A thought hit has ``kind="thought"`` and
        the turns it came from.
        """
        k = check_positive_int(k, "k")
        anchor = self._anchor(now, question_date)
        ranking = self._ranking(query, user_id=user_id, mode=mode,
                                n=max(k, self.candidates if candidates is None
                                      else check_positive_int(candidates, "candidates")),
                                period=self._period(query, anchor, time_aware),
                                kinds=_kinds(kinds), anchor=anchor,
                                include_forgotten=include_forgotten)
        user_id = check_id(user_id, "user_id")
        fused, dense_scores, lex_scores, thought_scores = ranking
        hits: list[Hit] = []
        start = 0
        while len(hits) < k and start < len(fused):
            # Units deleted since the index answered are skipped; fetch a few spare.
            head = fused[start : start + k - len(hits) + 4]
            start += len(head)
            with self.db.connect() as conn:
                found = repo.load_units(conn, [i for i, _ in head if i not in thought_scores],
                                        user_id=user_id)
                found_thoughts = _memory.thoughts.thought_hits(
                    conn, [(i, s) for i, s in head if i in thought_scores], user_id,
                    thought_scores)
            for uid, score in head:
                if uid in found:
                    hits.append(self._hit(found[uid], score, dense_scores, lex_scores))
                elif uid in found_thoughts:
                    hits.append(found_thoughts[uid])
        hits = hits[:k]
        if self.decay is not None:
            hits = _memory.bank.recall(self, user_id, hits, anchor)
        return hits

    def rank(self, query: str, *, user_id: str, mode: str = "hybrid",
             candidates: int | None = None, now: str | datetime | None = None,
             question_date: str | datetime | None = None, time_aware: bool = True,
             kinds: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Unit ids of ``user_id`` with their fused scores, best first, without loading
        the units: the ranking :meth:`search` reads from (same options), thought ids
        included (read those with :meth:`thought`). Each retriever contributes
        ``candidates`` (default: the memory's setting); an id may name a unit deleted
        since, which :meth:`get` then reports as not found."""
        n = self.candidates if candidates is None else check_positive_int(
            candidates, "candidates")
        anchor = self._anchor(now, question_date)
        return self._ranking(query, user_id=user_id, mode=mode, n=n,
                             period=self._period(query, anchor, time_aware),
                             kinds=_kinds(kinds), anchor=anchor)[0]

    @staticmethod
    def _anchor(now: str | datetime | None, question_date: str | datetime | None
                ) -> datetime:
        """The current time of a query: ``now`` (alias ``question_date``), else UTC now."""
        if now is not None and question_date is not None:
            raise InvalidInput("question_date", "give at most one of now and question_date")
        when = now if now is not None else question_date
        return utcnow() if when is None else parse_timestamp(
            when, field="now" if now is not None else "question_date")

    @staticmethod
    def _period(query: str, anchor: datetime, time_aware: bool) -> TimeRange | None:
        """The period ``query`` asks about, or None (time-awareness off, or no time
        named)."""
        if not time_aware or not isinstance(query, str):
            return None
        return question_time_range(query, anchor)

    def _ranking(self, query: str, *, user_id: str, mode: str, n: int,
                 period: TimeRange | None = None, kinds: frozenset[str] | None = None,
                 anchor: datetime | None = None, include_forgotten: bool = False
                 ) -> tuple[list[tuple[str, float]], dict[str, float], dict[str, float],
                            dict[str, float]]:
        """The fused ranking, with each retriever's scores: dense (cosine), lexical
        (BM25) and thoughts (cosine, for thought ids)."""
        self._check_open()
        query = check_text(query, "query")
        user_id = check_id(user_id, "user_id")
        if mode not in SEARCH_MODES:
            raise InvalidInput("mode", f"must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        collection = self._collection(self.store.name, user_id)
        use_dense = mode in ("hybrid", "dense") or self.lexical is None
        use_lexical = mode in ("hybrid", "lexical") and self.lexical is not None
        # The query embedding (torch) and FTS5 (SQLite) both release the GIL: run the
        # dense side in the worker while the lexical side runs here.
        dense_job = self._pool().submit(self._dense_candidates, collection, user_id, query,
                                        n) if use_dense else None
        use_thoughts = use_dense and (kinds == frozenset({"thought"}) or (
            self.thought_weight > 0 and (kinds is None or "thought" in kinds)))
        rankings: list[list[str]] = []
        lex_scores: dict[str, float] = {}
        if use_lexical:
            lex_scores = self._lexical_candidates(user_id, query, n)
            rankings.append(list(lex_scores))
        vector: np.ndarray | None = None
        dense_scores: dict[str, float] = {}
        if dense_job is not None:
            try:
                vector, dense_scores = dense_job.result()
            except AgentMemError as exc:
                if not use_lexical:
                    raise
                # hybrid search degrades to the lexical side rather than failing
                log.warning("dense search failed, answering from the lexical index "
                            "alone: %s", exc)
                self._note_failure(f"search: {exc}")
                dense_job = None
        thought_scores = dict(self.thought_store.recall(user_id, vector, n)) if (
            use_thoughts and vector is not None) else {}
        if dense_job:
            rankings.insert(0, list(dense_scores))
        if len(rankings) == 1:  # one retriever: its own scores
            fused = [(i, dense_scores.get(i, lex_scores.get(i, 0.0))) for i in rankings[0]]
        elif self.fusion == "rrf":
            fused = reciprocal_rank_fusion(rankings)
        else:
            # A unit the lexical side did not return has BM25 0 when it returned every
            # match (fewer than n); the dense side always fills n when it can.
            fused = score_fusion(
                [dense_scores, lex_scores],
                floors=[min(dense_scores.values(), default=0.0),
                        0.0 if len(lex_scores) < n else min(lex_scores.values())])
        if not fused and not thought_scores:
            return fused, dense_scores, lex_scores, thought_scores
        with self.db.connect() as conn:
            info = repo.unit_info(conn, [i for i, _ in fused], user_id)
            if any(x.is_key_row for x in info.values()):
                fused = _merge_key_rows(fused, info, dense_scores, lex_scores)
                info.update(repo.unit_info(
                    conn, [i for i, _ in fused if i not in info], user_id))
            if kinds is not None:
                fused = [f for f in fused if f[0] in info and info[f[0]].kind in kinds]
            if len(rankings) > 1 and self.session_weight:
                fused = session_context(fused, {i: x.session_id for i, x in info.items()},
                                        weight=self.session_weight)
            if self.decay is not None:  # MemoryBank: archived units leave; retention
                fused = _memory.bank.decayed(self, conn, fused, anchor, include_forgotten)
            if thought_scores:
                # the stores' rankings, fused by reciprocal rank
                fused = reciprocal_rank_fusion([[i for i, _ in fused], list(thought_scores)],
                                               weights=[1.0, self.thought_weight or 1.0])
            if period is not None:
                inside = repo.units_in_period(conn, user_id, period.widened(WIDEN_DAYS))
                inside |= ThoughtStore.in_period(conn, list(thought_scores),
                                                 period.widened(WIDEN_DAYS))
                fused = move_ahead(fused, lambda f: f[0] in inside)
        return fused, dense_scores, lex_scores, thought_scores

    def units(self, user_id: str) -> list[MemoryUnit]:
        """Every unit of ``user_id`` with its turns, in conversation order (by time,
        then session, then position)."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        with self.db.connect() as conn:
            ids = repo.user_unit_ids(conn, user_id)
            found = repo.load_units(conn, ids, user_id=user_id)
        return [found[i] for i in ids if i in found]

    def turns(self, user_id: str, *, session_id: str | None = None) -> list[Turn]:
        """The turns of ``user_id`` as stored in the episodic log (SQL, the source of
        truth): one session's in order of position when ``session_id`` is given, else
        every session's in conversation order (by time, then session, then position).
        Empty for an unknown user or session."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        if session_id is not None:
            session_id = check_id(session_id, "session_id")
        with self.db.connect() as conn:
            return repo.user_turns(conn, user_id, session_id=session_id)

    def _pool(self) -> ThreadPoolExecutor:
        # its own lock: a search never waits for a write holding the memory's lock
        with self._pool_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1,
                                                    thread_name_prefix="agentmem-dense")
            return self._executor

    def _dense_candidates(self, collection: str, user_id: str, query: str, n: int
                          ) -> tuple[np.ndarray, dict[str, float]]:
        vector = self.embedder.embed_query(query)
        return vector, dict(self.dense.query(collection, vector, n, user_id=user_id))

    def _lexical_candidates(self, user_id: str, query: str, n: int) -> dict[str, float]:
        assert self.lexical is not None
        with self.db.connect() as conn:
            lex = self.lexical.search(conn, user_id, query, n)
            if not lex:
                return {}
            # by rowid only (the owner is checked here: see repository.load_units)
            ids_by_row = {
                row.lex_rowid: row.id
                for row in conn.execute(
                    sa.select(units.c.lex_rowid, units.c.id, units.c.user_id).where(
                        units.c.lex_rowid.in_([r for r, _ in lex])))
                if row.user_id == user_id
            }
        return {ids_by_row[r]: s for r, s in lex if r in ids_by_row}

    @staticmethod
    def _hit(unit: MemoryUnit, score: float, dense_scores: dict[str, float],
             lex_scores: dict[str, float]) -> Hit:
        uid = unit.id
        scores: dict[str, float] = {}
        if uid in dense_scores:
            scores["dense"] = dense_scores[uid]
        if uid in lex_scores:
            scores["lexical"] = lex_scores[uid]
        return Hit(id=unit.id, kind=unit.kind, user_id=unit.user_id,
                   session_id=unit.session_id, text=unit.text, timestamp=unit.timestamp,
                   score=float(score), store=unit.store, turns=unit.turns, scores=scores)

    def get(self, id: str) -> MemoryUnit:
        """The memory unit with this id, with its turns. Raises :class:`NotFound`."""
        self._check_open()
        id = check_id(id, "id")
        with self.db.connect() as conn:
            found = repo.load_units(conn, [id])
        if id not in found:
            raise NotFound(f"no memory unit with id {id!r}")
        return found[id]

    # -- answering from memory --------------------------------------------------------

    def context(self, query: str, *, user_id: str, k: int = 5,
                now: str | datetime | None = None,
                question_date: str | datetime | None = None) -> str:
        """The memories relevant to ``query`` as LongMemEval's structured reader block:
        one ``### Session i`` section per session, sorted by date, each with its
        ``Session Date`` and its retrieved turns as JSON. Paste it into a prompt."""
        hits = self.search(query, user_id=user_id, k=k, now=now, question_date=question_date)
        portrait = self.profile(user_id).portrait
        block = format_history(items_from_hits(hits))
        return f"### User portrait:\n{portrait}\n\n{block}" if portrait else block

    def respond(self, query: str, *, user_id: str, llm: LLM | None = None, k: int = 5,
                now: str | datetime | None = None, chain_of_note: bool = True,
                max_tokens: int = 512, session_id: str | None = None) -> Answer:
        """Answer ``query`` from ``user_id``'s memory: search, build the reader prompt
        (dated sessions as JSON, Chain-of-Note: "first extract the relevant
        information, then reason to the answer"), and ask ``llm`` (default: the
        memory's). With ``session_id`` the question and the answer are then added to
        the memory in that session. A model failure gives an :class:`Answer` with
        ``error`` set, never an exception, unless no model is configured
        (:class:`ConfigError`)."""
        model: LLM | None = llm if llm is not None else self.llm
        if model is None:
            raise ConfigError("respond needs an LLM: Memory(llm=...) or respond(llm=...)")
        if llm is not None and not isinstance(llm, LLM):
            raise InvalidInput("llm", "must provide name and complete(requests)")
        if session_id is not None:
            session_id = check_id(session_id, "session_id")
        anchor = utcnow() if now is None else parse_timestamp(now, field="now")
        hits = self.search(query, user_id=user_id, k=k, now=anchor)
        prompt = build_reader_prompt(query, items_from_hits(hits),
                                     question_date=format_date(anchor),
                                     chain_of_note=chain_of_note,
                                     portrait=self.profile(user_id).portrait or None)
        request = LLMRequest(messages=({"role": "user", "content": prompt},),
                             max_tokens=check_positive_int(max_tokens, "max_tokens"),
                             operation="reader")
        try:
            [done] = model.complete([request])
        except LLMError as exc:
            return Answer(text="", hits=tuple(hits), prompt=prompt, error=str(exc))
        if not done.ok:
            return Answer(text="", hits=tuple(hits), prompt=prompt, error=done.error)
        if session_id is not None:
            self.add([{"role": "user", "content": query},
                      {"role": "assistant", "content": done.text.strip() or "(no answer)"}],
                     user_id=user_id, session_id=session_id, timestamp=anchor)
        return Answer(text=done.text.strip(), hits=tuple(hits), prompt=prompt)

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
        _memory.deletion.delete(self, id)

    def delete_session(self, user_id: str, session_id: str) -> int:
        """Delete one session of ``user_id`` the way :meth:`delete` deletes a unit:
        its turns, every unit derived from them (and their key rows and facts), the
        thoughts that drew on them, and the MemoryBank summaries of their days
        (rebuilt by the next :meth:`summarize`); from SQL, the lexical index, the dense
        index and the embedding cache, leaving no trace of the text on disk. Other
        sessions and LangGraph store items are untouched. Returns the number of turns
        removed (0 for an unknown user or session)."""
        return _memory.deletion.delete_session(self, user_id, session_id)

    def _erase(self, conn: sa.Connection, gone: Sequence[repo.DeletedUnit],
               hashes: Sequence[str] = ()) -> None:
        """After units (and thoughts, whose content ``hashes`` are given) are deleted:
        drop cached vectors nothing remaining uses and merge the FTS5 b-trees so the
        deleted terms leave the file."""
        _memory.deletion.erase(self, conn, gone, hashes)

    def _drop_units(self, conn: sa.Connection, unit_ids: Sequence[str]) -> list[repo.DeletedUnit]:
        """Delete units in SQL and the lexical index; queue their vectors for removal."""
        return _memory.deletion.drop_units(self, conn, unit_ids)

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
        return _memory.deletion.forget_user(self, user_id)

    # -- export / import --------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write the memory (or one user's part) as JSONL; returns the records written.
        Lossless: :meth:`import_` of the file rebuilds the same turns, units, thoughts,
        thought histories and LangGraph store items. The export reads one snapshot
        (writes running meanwhile are either wholly in it or not at all); the file
        (mode 0600) appears under ``path`` only once complete, so a killed export
        leaves no text behind. A missing folder raises :class:`InvalidInput`."""
        return _memory.export.export(self, path, user_id=user_id)

    def import_(self, path: str | Path, *,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Load a JSONL export (validated whole first; one transaction), then index it.
        Ids already present raise :class:`InvalidInput` and nothing is written.
        Returns the records read. ``progress(done, total)``, when given, is called as
        the imported units are embedded and indexed (the long part of an import)."""
        return _memory.export.import_(self, path, progress=progress)

    # -- status ---------------------------------------------------------------------

    def stats(self) -> MemoryStats:
        """Counts of users, sessions, turns and units, cache and repair state."""
        self._check_open()
        with self.db.connect() as conn:
            def count(table: sa.Table, *where: Any) -> int:
                return int(conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())

            by_kind: dict[str, int] = dict(conn.execute(
                sa.select(units.c.kind, sa.func.count()).group_by(units.c.kind)).all())
            by_status: dict[str, int] = dict(conn.execute(
                sa.select(thoughts.c.status, sa.func.count())
                .group_by(thoughts.c.status)).all())
            stats = MemoryStats(
                users=count(users),
                sessions=count(sessions),
                turns=count(turns),
                units={str(k): int(v) for k, v in by_kind.items()},
                embeddings_cached=count(embeddings, embeddings.c.model == self.embedder.name),
                pending_index_repairs=count(units, units.c.dense_pending.is_(True),
                                            units.c.index_error.is_(None))
                + count(index_tombstones),
                index_failed=count(units, units.c.index_error.is_not(None)),
                last_index_error=self._index_error,
                granularity=self.store.granularity,
                embedder=self.embedder.name,
                storage_bytes=self.db.size_bytes(),
                database_url=self.db.engine.url.render_as_string(hide_password=True),
                llm=self.llm.name if self.llm is not None else None,
                llm_usage=self.llm.usage() if self.llm is not None else {},
                thoughts={str(k): int(v) for k, v in by_status.items()},
                llm_failures={"key_expansion": self.expander.failures if self.expander
                              else 0,
                              "thoughts": self.thought_store.thinker.failures
                              if self.thought_store.thinker else 0},
            )
        return stats

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Release the database and index handles (in-memory data is discarded)."""
        if getattr(self, "_released", False) or not hasattr(self, "db"):
            return
        self._released = True
        self._closed = True
        dense = getattr(self, "dense", None)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        lock: FolderLock | None = getattr(self, "_folder_lock", None)
        try:
            if dense is not None:
                dense.close(release_files=lock is not None and lock.last())
        finally:
            try:
                self.db.close()
            finally:
                if lock is not None:  # the folder is free only once its files are
                    lock.release()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path else self.db.engine.url.render_as_string(
            hide_password=True)
        return f"Memory({where!r}, granularity={self.store.granularity!r})" if hasattr(
            self, "store") else f"Memory({where!r})"

"""The :class:`Memory` facade: the episodic log in SQL, its units indexed in Chroma
(dense) and FTS5 (lexical), searched per user with score fusion; Think-in-Memory
thoughts (LSH buckets) fused in by reciprocal rank."""

from __future__ import annotations

import json
import logging
import threading
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import sqlalchemy as sa
from tqdm.auto import tqdm

from . import transfer
from .embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder, content_hash
from .errors import AgentMemError, ConfigError, InvalidInput, LLMError, NotFound
from .index import (
    ChromaIndex,
    lexical_index_for,
    reciprocal_rank_fusion,
    score_fusion,
    session_context,
)
from .inputs import check_id, check_positive_int, check_text, validate_messages
from .llm import LLM, LLMRequest, MeteredLLM
from .reader import build_reader_prompt, format_date, format_history, items_from_hits
from .storage import repository as repo
from .storage.database import DB_FILENAME, Database
from .storage.schema import (
    embeddings,
    index_tombstones,
    sessions,
    store_items,
    thoughts,
    turns,
    unit_events,
    unit_turns,
    units,
    users,
)
from .stores import (
    EpisodicStore,
    Exchange,
    KeyExpander,
    KeyExpansion,
    Thinker,
    ThoughtChange,
    ThoughtConfig,
    ThoughtDraft,
    ThoughtStore,
    UnitDraft,
    bank,
    purge_expansions,
)
from .stores.bank import Decay, MaintenanceResult
from .stores.summaries import (
    GLOBAL_SESSION,
    Profile,
    Summaries,
    Summarizer,
    day_session,
    parse_day,
)
from .stores.thoughts import check_draft
from .temporal import (
    WIDEN_DAYS,
    find_time_ranges,
    move_ahead,
    parse_timestamp,
    question_time_range,
)
from .types import (
    GRANULARITIES,
    SEARCH_MODES,
    THOUGHT_STATUSES,
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

_SYNC_CHUNK = 512
DEFAULT_CONTEXT_TURNS = 2
FUSIONS: tuple[str, ...] = ("score", "rrf")
_PROGRESS_THRESHOLD = 256


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dated_events(text: str, key: str | None, when: datetime) -> list[TimeRange]:
    """The dates a unit's text and its expanded key mention, each once."""
    found = find_time_ranges(text, when) + (find_time_ranges(key, when) if key else [])
    return list({(r.start, r.end): r for r in found}.values())


def _lsh_meta(config: ThoughtConfig) -> str:
    return json.dumps({"buckets": config.buckets, "tables": config.tables,
                       "seed": config.seed}, sort_keys=True)


def _exchanges(previous: Turn | None, new_turns: Sequence[Turn]) -> list[Exchange]:
    """Question/response pairs completed by ``new_turns``: each non-user turn right
    after a user turn (``previous`` is the session's turn before the new ones)."""
    out: list[Exchange] = []
    before = previous
    for t in new_turns:
        if before is not None and before.role == "user" and t.role != "user":
            out.append(Exchange(turns=(before, t)))
        before = t
    return out


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
    ) -> None:
        if path is not None and not isinstance(path, (str, Path)):
            raise InvalidInput("path", f"must be a str or Path, got {type(path).__name__}")
        if url is not None and not isinstance(url, str):
            raise InvalidInput("url", f"must be a string, got {type(url).__name__}")
        if chroma_host is not None and not isinstance(chroma_host, str):
            raise InvalidInput("chroma_host", "must be a string")
        check_positive_int(chroma_port, "chroma_port")
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
        if self.path is not None:
            if self.path.exists() and not self.path.is_dir():
                raise InvalidInput("path", f"{str(self.path)!r} exists and is not a folder")
            self.path.mkdir(parents=True, exist_ok=True)
        db_url = url or (f"sqlite:///{self.path / DB_FILENAME}" if self.path else "sqlite://")
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._recall_lock = threading.Lock()
        self._closed = True
        self.db = Database(db_url)
        try:
            self.lexical = lexical_index_for(self.db.engine)
            if self.lexical is None:
                warnings.warn(
                    f"no lexical index for the {self.db.engine.dialect.name} dialect yet: "
                    "search uses dense vectors only",
                    stacklevel=2,
                )
            self.dense = ChromaIndex(
                path=(self.path / "chroma") if (self.path and chroma_host is None) else None,
                host=chroma_host,
                port=chroma_port,
                prefix=chroma_prefix,
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
            if self.db.get_meta("thought_projections") not in (None, digest):
                log.warning("the thought LSH projections changed: re-hashing thoughts")
                self.thought_store.rebuild()
            self.db.set_meta("thought_projections", digest)
            self._closed = False
            stored_embedder = self.db.get_meta("embedder")
            if stored_embedder is None:
                self.db.set_meta("embedder", self.embedder.name)
            elif stored_embedder != self.embedder.name:
                log.warning("embedder changed from %s to %s: rebuilding the dense index",
                            stored_embedder, self.embedder.name)
                self.db.set_meta("embedder", self.embedder.name)
                self._mark_all_pending(drop=True)
                self.thought_store.rebuild()
            elif self.dense.ephemeral and not self.db.in_memory:
                self._mark_all_pending(drop=False)
            self._sync_index()
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
        when = _utcnow() if timestamp is None else parse_timestamp(timestamp)
        clock = None if now is None else parse_timestamp(now, field="now")
        msgs = validate_messages(messages, when)
        with self._lock:
            with self.db.begin() as conn:
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
                repo.ensure_user(conn, user_id, _utcnow())
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
        if self.expander is not None:
            self._expand_keys(user_id, session_id, derivation.new_units)
        if self.post_think:
            self._post_think(user_id, _exchanges(previous, new_turns))
        if self.summarizer is not None and self.summarizer.config.auto:
            # a day is summarised once a later day has begun
            self.summarize(user_id, before=min(t.timestamp for t in new_turns).date())
        return AddResult(
            user_id=user_id,
            session_id=session_id,
            turn_ids=tuple(t.id for t in new_turns),
            unit_ids=tuple(d.id for d in derivation.new_units),
        )

    def _expand_keys(self, user_id: str, session_id: str, drafts: Sequence[UnitDraft]
                     ) -> None:
        """Fact-augmented keys for new units: the LLM runs outside the write lock; the
        keys are then stored (or, in ``separate`` mode, added as key rows), indexed
        lexically, and embedded by the index sync. A unit replaced meanwhile (a round
        completed by a later add) is skipped."""
        assert self.expander is not None and self.keys is not None
        try:
            found = self.expander.expand([(d.text, content_hash(d.text), d.timestamp)
                                          for d in drafts])
        except Exception as exc:  # a broken LLM never aborts an ingestion
            log.warning("key expansion failed for %d units (indexed without it): %r",
                        len(drafts), exc)
            self.expander.failures += len(drafts)
            found = [None] * len(drafts)
        keyed = {d.id: key for d, e in zip(drafts, found, strict=True)
                 if (key := self.keys.key(d.key or d.text, e)) is not None}
        with self._lock:
            if keyed:
                with self.db.begin() as conn:
                    alive = set(conn.execute(sa.select(units.c.id).where(
                        units.c.id.in_(list(keyed)))).scalars())
                    keyed = {i: k for i, k in keyed.items() if i in alive}
                    if self.keys.mode in ("merge", "replace"):
                        self._set_keys(conn, keyed)
                    else:  # separate: one key row per unit; values: one unit per fact
                        kind = "key" if self.keys.mode == "separate" else "fact"
                        self._insert_units(conn, user_id, session_id, self.store.name, [
                            UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text,
                                      timestamp=d.timestamp, position=d.position,
                                      turns=d.turns, parent_id=d.id)
                            for d in drafts if d.id in keyed
                            for text in (keyed[d.id].split("\n") if kind == "fact"
                                         else [keyed[d.id]])])
            self._sync_index()

    def _post_think(self, user_id: str, exchanges: Sequence[Exchange]) -> None:
        """TiM's post-thinking: thoughts from each new question/response pair (one LLM
        batch, outside the write lock), inserted with their provenance. Turns deleted
        meanwhile are left out of the provenance; an exchange whose turns are all gone
        adds nothing."""
        thinker = self.thought_store.thinker
        if not exchanges or thinker is None:
            return
        try:
            drafts = [d for found in thinker.think(exchanges) for d in found]
        except Exception as exc:  # a broken LLM never aborts an ingestion
            log.warning("post-thinking failed for %d exchanges (skipped): %r",
                        len(exchanges), exc)
            thinker.count_failures(len(exchanges))
            return
        if not drafts:
            return
        with self._lock:
            with self.db.connect() as conn:
                alive = repo.existing_turn_ids(
                    conn, user_id, sorted({t for d in drafts for t in d.source_turn_ids}))
            drafts = [replace(d, source_turn_ids=tuple(t for t in d.source_turn_ids
                                                       if t in alive))
                      for d in drafts if alive.intersection(d.source_turn_ids)]
            self.thought_store.add(user_id, drafts, _utcnow())

    # -- forgetting (MemoryBank) -----------------------------------------------------

    def maintain(self, *, now: str | datetime | None = None, user_id: str | None = None
                 ) -> MaintenanceResult:
        """MemoryBank's forgetting: archive every unit (of ``user_id``, or of every
        user) whose retention ``exp(-t / S)`` at ``now`` (default: UTC now) is below
        ``decay.threshold``. Deterministic; each archive is in :meth:`history`.
        Archived units stay stored, leave search results unless
        ``include_forgotten=True``, and come back with :meth:`restore`. Needs
        ``Memory(decay=...)`` (:class:`ConfigError` otherwise)."""
        self._check_open()
        if self.decay is None:
            raise ConfigError("maintain needs Memory(decay=Decay(...))")
        when = _utcnow() if now is None else parse_timestamp(now, field="now")
        with self._lock, self.db.begin() as conn:
            owners = [check_id(user_id, "user_id")] if user_id is not None else list(
                conn.execute(sa.select(users.c.id).order_by(users.c.id)).scalars())
            results = [bank.archive(conn, u, self.decay, when) for u in owners]
        return MaintenanceResult(
            checked=sum(r.checked for r in results),
            archived=tuple(i for r in results for i in r.archived),
            retention={i: v for r in results for i, v in r.retention.items()})

    def restore(self, id: str, *, now: str | datetime | None = None) -> None:
        """Bring back an archived unit (see :meth:`maintain`); its forgetting clock
        restarts at ``now``. Raises :class:`NotFound`, or :class:`InvalidInput` when
        the unit is not archived."""
        self._check_open()
        id = check_id(id, "id")
        when = _utcnow() if now is None else parse_timestamp(now, field="now")
        with self._lock, self.db.begin() as conn:
            owner = conn.execute(sa.select(units.c.user_id).where(units.c.id == id)).scalar()
            if owner is None:
                raise NotFound(f"no memory unit with id {id!r}")
            st = bank.states(conn, [id])[id]
            if st.archived_at is None:
                raise InvalidInput("id", f"unit {id!r} is not archived")
            bank.restore(conn, owner, id, st, when)

    # -- summaries and portrait (MemoryBank) ------------------------------------------

    def summarize(self, user_id: str, *, before: date | None = None) -> int:
        """Bring ``user_id``'s MemoryBank summaries up to date: each day whose turns
        changed since its summary (only days before ``before``, when given) gets a new
        event summary and personality note, then the global summary and the portrait
        are rewritten from all the days. Incremental: unchanged days cost nothing.
        Returns the days summarised. Needs ``Memory(summaries=...)``."""
        self._check_open()
        if self.summarizer is None:
            raise ConfigError("summarize needs Memory(llm=..., summaries=Summaries())")
        user_id = check_id(user_id, "user_id")
        with self.db.connect() as conn:
            by_day: dict[date, list[Any]] = defaultdict(list)
            for r in conn.execute(sa.select(turns).where(turns.c.user_id == user_id)
                                  .order_by(turns.c.timestamp, turns.c.session_id,
                                            turns.c.position)):
                by_day[r.timestamp.date()].append(r)
            seen = {r.session_id: r.position for r in conn.execute(
                sa.select(units.c.session_id, units.c.position).where(
                    units.c.user_id == user_id, units.c.store == "bank",
                    units.c.kind == "summary"))}
        stale = [d for d in sorted(by_day) if (before is None or d < before)
                 and seen.get(day_session(d)) != len(by_day[d])]
        if not stale and (GLOBAL_SESSION in seen or not by_day or before is not None):
            return 0
        found = self.summarizer.daily([(d, "\n".join(
            f"{r.name or r.role}: {r.content}" for r in by_day[d])) for d in stale])
        done = [(d, f) for d, f in zip(stale, found, strict=True) if f is not None]
        with self._lock:
            # turns deleted (or added) while the LLM wrote: that summary is not kept, so
            # no deleted text comes back; the next summarize redoes the day
            now_by_day: dict[date, int] = defaultdict(int)
            with self.db.connect() as conn:
                for (stamp,) in conn.execute(sa.select(turns.c.timestamp).where(
                        turns.c.user_id == user_id)):
                    now_by_day[stamp.date()] += 1
            done = [(d, f) for d, f in done if now_by_day.get(d, 0) == len(by_day[d])]
            for d, f in done:
                self._replace_bank_units(user_id, day_session(d), len(by_day[d]),
                                         datetime.combine(d, datetime.min.time()),
                                         f["summary"], f["personality"])
        if done or GLOBAL_SESSION not in seen:
            days = self.profile(user_id).days
            overall = self.summarizer.overall(days) if days else None
            if overall is not None:
                with self._lock:
                    if set(self.profile(user_id).days) != set(days):
                        return len(done)  # a day changed meanwhile: next time
                    self._replace_bank_units(
                        user_id, GLOBAL_SESSION, sum(len(v) for v in by_day.values()),
                        max(datetime.combine(d, datetime.min.time()) for d, _, _ in days),
                        overall["summary"], overall["portrait"])
        return len(done)

    def _replace_bank_units(self, user_id: str, session_id: str, seen: int,
                            when: datetime, summary: str, note: str) -> None:
        """The summary (kind ``summary``) and note (kind ``portrait``) units of one
        bank session, replacing the old ones; ``seen`` turns covered."""
        with self.db.begin() as conn:
            old = list(conn.execute(sa.select(units.c.id).where(
                units.c.user_id == user_id, units.c.store == "bank",
                units.c.session_id == session_id)).scalars())
            self._erase(conn, self._drop_units(conn, old))
            self._insert_units(conn, user_id, session_id, "bank", [
                UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text, timestamp=when,
                          position=seen, turns=())
                for kind, text in (("summary", summary), ("portrait", note)) if text])
        self._sync_index()

    def profile(self, user_id: str) -> Profile:
        """``user_id``'s MemoryBank profile: the global summary and portrait, and each
        day's event summary and personality note (empty before any summary)."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(units.c.session_id, units.c.kind, units.c.text)
                                .where(units.c.user_id == user_id,
                                       units.c.store == "bank")).all()
        texts = {(r.session_id, r.kind): r.text for r in rows}
        days = sorted({d for r in rows if (d := parse_day(r.session_id)) is not None})
        return Profile(
            user_id=user_id, summary=texts.get((GLOBAL_SESSION, "summary"), ""),
            portrait=texts.get((GLOBAL_SESSION, "portrait"), ""),
            days=tuple((d, texts.get((day_session(d), "summary"), ""),
                        texts.get((day_session(d), "portrait"), "")) for d in days))

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
        self._check_open()
        user_id = check_id(user_id, "user_id")
        if isinstance(thoughts, (str, dict)) or not isinstance(thoughts, Sequence):
            raise InvalidInput("thoughts", "must be a list of thoughts")
        when = _utcnow() if timestamp is None else parse_timestamp(timestamp)
        drafts = [check_draft(t, f"thoughts[{i}]", when) for i, t in enumerate(thoughts)]
        wanted = sorted({t for d in drafts for t in d.source_turn_ids})
        with self._lock:
            if wanted:
                with self.db.connect() as conn:
                    missing = set(wanted) - repo.existing_turn_ids(conn, user_id, wanted)
                if missing:
                    i = next(i for i, d in enumerate(drafts)
                             if missing.intersection(d.source_turn_ids))
                    raise InvalidInput(f"thoughts[{i}].source_turn_ids",
                                       f"no turn {sorted(missing)[0]!r} of user {user_id!r}")
            return self.thought_store.add(user_id, drafts, _utcnow())

    def thoughts(self, user_id: str, *, status: str | Sequence[str] = "active"
                 ) -> list[Thought]:
        """``user_id``'s thoughts with this status (``active``, ``merged``,
        ``forgotten``, or a list of them), oldest first."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        wanted = (status,) if isinstance(status, str) else tuple(status)
        if not wanted or any(s not in THOUGHT_STATUSES for s in wanted):
            raise InvalidInput("status", f"must be among {', '.join(THOUGHT_STATUSES)}, "
                                         f"got {status!r}")
        return self.thought_store.listing(user_id, wanted)

    def thought(self, id: str) -> Thought:
        """The thought with this id (any status). Raises :class:`NotFound`."""
        self._check_open()
        id = check_id(id, "id")
        with self.db.connect() as conn:
            found = ThoughtStore.load(conn, [id])
        if id not in found:
            raise NotFound(f"no thought with id {id!r}")
        return found[id]

    def history(self, id: str) -> list[MemoryEvent]:
        """The audit history of a thought or a unit, oldest first: a thought's insert
        and every merge, forget, supersede and restore it took part in; a unit's
        archives and restores (:meth:`maintain`). Raises :class:`NotFound`."""
        self._check_open()
        id = check_id(id, "id")
        with self.db.connect() as conn:
            if not ThoughtStore.load(conn, [id]) and conn.execute(
                    sa.select(units.c.id).where(units.c.id == id)).first() is None:
                raise NotFound(f"no thought or memory unit with id {id!r}")
            return ThoughtStore.history(conn, id)

    def _set_keys(self, conn: sa.Connection, keyed: dict[str, str]) -> None:
        """Store expanded keys, re-index them lexically, queue them for embedding, and
        add the dates the keys mention (an extracted fact may spell out a date) to the
        units' events."""
        rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.lex_rowid,
                                      units.c.text, units.c.timestamp)
                            .where(units.c.id.in_(list(keyed)))).all()
        for r in rows:
            known = {(e.start, e.end) for e in find_time_ranges(r.text, r.timestamp)}
            repo.insert_unit_events(conn, r.user_id, [
                (r.id, e) for e in _dated_events(keyed[r.id], None, r.timestamp)
                if (e.start, e.end) not in known])
        rowids: list[int | None] = [None] * len(rows)
        if self.lexical:
            self.lexical.delete(conn, [r.lex_rowid for r in rows if r.lex_rowid is not None])
            rowids = list(self.lexical.add(conn, [(r.user_id, keyed[r.id]) for r in rows]))
        for r, rowid in zip(rows, rowids, strict=True):
            conn.execute(sa.update(units).where(units.c.id == r.id).values(
                key=keyed[r.id], key_hash=content_hash(keyed[r.id]), lex_rowid=rowid,
                dense_pending=True))

    def _insert_units(self, conn: sa.Connection, user_id: str, session_id: str, store: str,
                      drafts: Sequence[Any]) -> None:
        texts = [d.text for d in drafts]
        rowids: list[int | None] = (
            list(self.lexical.add(conn, [(user_id, d.key or d.text) for d in drafts]))
            if self.lexical else [None] * len(drafts)
        )
        repo.insert_units(conn, user_id=user_id, session_id=session_id, store=store,
                          drafts=drafts, hashes=[content_hash(t) for t in texts],
                          key_hashes=[content_hash(d.key) if d.key else None for d in drafts],
                          lex_rowids=rowids)
        repo.insert_unit_events(conn, user_id, [
            (d.id, r) for d in drafts for r in _dated_events(d.text, d.key, d.timestamp)])

    def _drop_units(self, conn: sa.Connection, unit_ids: Sequence[str]) -> list[repo.DeletedUnit]:
        """Delete units in SQL and the lexical index; queue their vectors for removal."""
        gone = repo.delete_units(conn, unit_ids)
        if self.lexical:
            self.lexical.delete(conn, [g.lex_rowid for g in gone if g.lex_rowid is not None])
        repo.add_tombstones(
            conn, [(g.id, self._collection(g.store, g.user_id)) for g in gone])
        return gone

    # -- index synchronisation --------------------------------------------------------

    def _sync_index(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Bring the dense index in line with SQL: remove tombstoned vectors, embed and
        upsert pending units. Runs after every write and on open (crash repair).
        ``progress(done, total)``, when given, follows the units embedded (and replaces
        the progress bar)."""
        with self._lock:
            with self.db.connect() as conn:
                tombs = conn.execute(sa.select(index_tombstones)).all()
                pending = conn.execute(
                    sa.select(units.c.id, units.c.user_id, units.c.store,
                              sa.func.coalesce(units.c.key, units.c.text).label("text"))
                    .where(units.c.dense_pending.is_(True))
                    .order_by(units.c.user_id, units.c.session_id, units.c.position)
                ).all()
            if tombs:
                by_col: dict[str, list[str]] = defaultdict(list)
                for t in tombs:
                    by_col[t.collection].append(t.unit_id)
                for col, ids in by_col.items():
                    self.dense.delete(col, ids)
                with self.db.begin() as conn:
                    for start in range(0, len(tombs), 500):
                        conn.execute(sa.delete(index_tombstones).where(
                            index_tombstones.c.unit_id.in_(
                                [t.unit_id for t in tombs[start : start + 500]])))
            if not pending:
                return
            bar = tqdm(total=len(pending), desc="indexing", unit="unit",
                       disable=progress is not None or len(pending) < _PROGRESS_THRESHOLD
                       or None)
            if progress is not None:
                progress(0, len(pending))
            try:
                for i in range(0, len(pending), _SYNC_CHUNK):
                    part = pending[i : i + _SYNC_CHUNK]
                    vectors = self.embedder.embed_stored([p.text for p in part], progress=False)
                    groups: dict[str, list[int]] = defaultdict(list)
                    for j, p in enumerate(part):
                        groups[self._collection(p.store, p.user_id)].append(j)
                    for col, idx in groups.items():
                        self.dense.upsert(col, [part[j].id for j in idx], vectors[idx])
                    with self.db.begin() as conn:
                        conn.execute(sa.update(units).where(units.c.id.in_([p.id for p in part]))
                                     .values(dense_pending=False))
                    bar.update(len(part))
                    if progress is not None:
                        progress(i + len(part), len(pending))
            finally:
                bar.close()

    def _collection(self, store: str, user_id: str) -> str:
        """The Chroma collection of a store's units: MemoryBank's summaries and
        LangGraph store items share the episodic one, so that dense search finds them
        with the conversation."""
        return self.dense.collection_name(
            self.store.name if store in ("bank", "langgraph") else store, user_id)

    def _mark_all_pending(self, *, drop: bool) -> None:
        if drop:
            self.dense.drop_all()
        with self.db.begin() as conn:
            conn.execute(sa.update(units).values(dense_pending=True))

    def reindex(self) -> None:
        """Rebuild every index from SQL: the lexical rows, the dense vectors (from the
        embedding cache where possible) and the thoughts' LSH buckets."""
        self._check_open()
        with self._lock:
            if self.lexical:
                with self.db.begin() as conn:
                    self.lexical.clear(conn)
                    rows = conn.execute(sa.select(
                        units.c.id, units.c.user_id,
                        sa.func.coalesce(units.c.key, units.c.text).label("text"))
                        .order_by(units.c.id)).all()
                    rowids = self.lexical.add(conn, [(r.user_id, r.text) for r in rows])
                    for r, rid in zip(rows, rowids, strict=True):
                        conn.execute(sa.update(units).where(units.c.id == r.id)
                                     .values(lex_rowid=rid))
                    self.lexical.optimize(conn)
            self._rebuild_events()
            self._mark_all_pending(drop=True)
            self._sync_index()
            self.thought_store.rebuild()

    def _rebuild_events(self) -> None:
        """Re-derive every unit's dated events from its text and timestamp."""
        with self.db.begin() as conn:
            conn.execute(sa.delete(unit_events))
            rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.text,
                                          units.c.key, units.c.timestamp)).all()
            by_user: dict[str, list[tuple[str, TimeRange]]] = defaultdict(list)
            for r in rows:
                by_user[r.user_id] += [(r.id, e)
                                       for e in _dated_events(r.text, r.key, r.timestamp)]
            for user, events in by_user.items():
                repo.insert_unit_events(conn, user, events)

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
                found_thoughts = self._thought_hits(
                    conn, [(i, s) for i, s in head if i in thought_scores], user_id,
                    thought_scores)
            for uid, score in head:
                if uid in found:
                    hits.append(self._hit(found[uid], score, dense_scores, lex_scores))
                elif uid in found_thoughts:
                    hits.append(found_thoughts[uid])
        hits = hits[:k]
        if self.decay is not None:
            hits = self._recall(user_id, hits, anchor)
        return hits

    def _recall(self, user_id: str, hits: list[Hit], now: datetime) -> list[Hit]:
        """MemoryBank: the units returned are recalled (S + 1, clock reset); their hits
        show the retention and strength they had when found."""
        assert self.decay is not None
        ids = [h.id for h in hits if h.kind != "thought"]
        if not ids:
            return hits
        # its own lock, not the memory's: a search never waits for an add
        with self._recall_lock, self.db.begin() as conn:
            found = bank.states(conn, ids)
            bank.reinforce(conn, user_id, {i: found[i] for i in ids if i in found}, now)
        return [replace(h, strength=found[h.id].strength, retention=bank.retention(
                    found[h.id].strength, found[h.id].last_recall, now, self.decay.unit))
                if h.id in found else h for h in hits]

    def _thought_hits(self, conn: sa.Connection, head: Sequence[tuple[str, float]],
                      user_id: str, cosines: dict[str, float]) -> dict[str, Hit]:
        """Hits for active thoughts (of kind ``thought``), with their provenance turns."""
        if not head:
            return {}
        found = ThoughtStore.load(conn, [i for i, _ in head], user_id=user_id)
        wanted = sorted({t for th in found.values() for t in th.source_turn_ids})
        by_id = {t.id: t for t in repo.load_turns_by_id(conn, wanted)} if wanted else {}
        out: dict[str, Hit] = {}
        for tid, score in head:
            th = found.get(tid)
            if th is None or th.status != "active":
                continue
            src = sorted((by_id[t] for t in th.source_turn_ids if t in by_id),
                         key=lambda t: (t.timestamp, t.session_id, t.position))
            out[tid] = Hit(id=th.id, kind="thought", user_id=th.user_id,
                           session_id=th.session_id or (src[0].session_id if src else ""),
                           text=th.text, timestamp=th.timestamp, score=float(score),
                           store=ThoughtStore.name, turns=tuple(src),
                           scores={"dense": cosines[tid]})
        return out

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
        return _utcnow() if when is None else parse_timestamp(
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
        dense_job = self._pool().submit(self._dense_candidates, collection, query, n) if (
            use_dense) else None
        use_thoughts = use_dense and (kinds == frozenset({"thought"}) or (
            self.thought_weight > 0 and (kinds is None or "thought" in kinds)))
        rankings: list[list[str]] = []
        lex_scores: dict[str, float] = {}
        if use_lexical:
            lex_scores = self._lexical_candidates(user_id, query, n)
            rankings.append(list(lex_scores))
        vector, dense_scores = dense_job.result() if dense_job else (None, {})
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
                found = bank.states(conn, [i for i, _ in fused])
                if not include_forgotten:
                    fused = [f for f in fused if f[0] not in found
                             or found[f[0]].archived_at is None]
                when = anchor or _utcnow()
                fused = bank.combine(fused, {
                    i: bank.retention(st.strength, st.last_recall, when, self.decay.unit)
                    for i, st in found.items()}, self.decay.weight)
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

    def _dense_candidates(self, collection: str, query: str, n: int
                          ) -> tuple[np.ndarray, dict[str, float]]:
        vector = self.embedder.embed_query(query)
        return vector, dict(self.dense.query(collection, vector, n))

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
        anchor = _utcnow() if now is None else parse_timestamp(now, field="now")
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
        :class:`NotFound`."""
        self._check_open()
        id = check_id(id, "id")
        # the thought store's lock too: no user index is rebuilt from a half-deleted state
        with self._lock, self.thought_store.lock:
            with self.db.begin() as conn:
                row = conn.execute(sa.select(units.c.id, units.c.parent_id)
                                   .where(units.c.id == id)).first()
                if row is None:
                    if not ThoughtStore.load(conn, [id]):
                        raise NotFound(f"no memory unit or thought with id {id!r}")
                    hashes, owners = self.thought_store.delete(conn, [id], _utcnow())
                    self._erase(conn, [], hashes)
                    turn_ids = []
                else:
                    turn_ids = [] if row.parent_id else list(conn.execute(
                        sa.select(unit_turns.c.turn_id)
                        .where(unit_turns.c.unit_id == id)).scalars())
                    linked = set(conn.execute(sa.select(unit_turns.c.unit_id).where(
                        unit_turns.c.turn_id.in_(turn_ids))).scalars()) if turn_ids else set()
                    linked |= self._stale_summaries(conn, turn_ids)
                    gone = self._drop_units(conn, sorted(linked | {id}))
                    hashes, owners = self.thought_store.forget_turns(conn, turn_ids, _utcnow())
                    repo.delete_turns(conn, turn_ids)
                    self._erase(conn, gone, hashes)
            self.thought_store.evict(owners)
            self._sync_index()
            self.db.scrub()

    def delete_session(self, user_id: str, session_id: str) -> int:
        """Delete one session of ``user_id`` the way :meth:`delete` deletes a unit:
        its turns, every unit derived from them (and their key rows and facts), the
        thoughts that drew on them, and the MemoryBank summaries of their days
        (rebuilt by the next :meth:`summarize`); from SQL, the lexical index, the dense
        index and the embedding cache, leaving no trace of the text on disk. Other
        sessions and LangGraph store items are untouched. Returns the number of turns
        removed (0 for an unknown user or session)."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        session_id = check_id(session_id, "session_id")
        with self._lock, self.thought_store.lock:
            with self.db.begin() as conn:
                turn_ids = list(conn.execute(sa.select(turns.c.id).where(
                    turns.c.user_id == user_id, turns.c.session_id == session_id)).scalars())
                linked = set(conn.execute(
                    sa.select(unit_turns.c.unit_id)
                    .join(turns, turns.c.id == unit_turns.c.turn_id)
                    .where(turns.c.user_id == user_id, turns.c.session_id == session_id)
                ).scalars())
                linked |= set(conn.execute(sa.select(units.c.id).where(
                    units.c.user_id == user_id, units.c.session_id == session_id,
                    units.c.store == self.store.name)).scalars())
                if not turn_ids and not linked:
                    return 0
                linked |= self._stale_summaries(conn, turn_ids)
                gone = self._drop_units(conn, sorted(linked))
                hashes, owners = self.thought_store.forget_turns(conn, turn_ids, _utcnow())
                repo.delete_turns(conn, turn_ids)
                self._erase(conn, gone, hashes)
            self.thought_store.evict(owners)
            self._sync_index()
            self.db.scrub()
        return len(turn_ids)

    @staticmethod
    def _stale_summaries(conn: sa.Connection, turn_ids: Sequence[str]) -> set[str]:
        """The MemoryBank summary units that may repeat these turns: their days' and
        the global ones (rebuilt by the next :meth:`summarize`)."""
        if not turn_ids:
            return set()
        rows = conn.execute(sa.select(turns.c.user_id, turns.c.timestamp).where(
            turns.c.id.in_(list(turn_ids)))).all()
        wanted = {(r.user_id, day_session(r.timestamp.date())) for r in rows} | {
            (r.user_id, GLOBAL_SESSION) for r in rows}
        found: set[str] = set()
        for user, session in wanted:
            found.update(conn.execute(sa.select(units.c.id).where(
                units.c.user_id == user, units.c.store == "bank",
                units.c.session_id == session)).scalars())
        return found

    def _erase(self, conn: sa.Connection, gone: Sequence[repo.DeletedUnit],
               hashes: Sequence[str] = ()) -> None:
        """After units (and thoughts, whose content ``hashes`` are given) are deleted:
        drop cached vectors nothing remaining uses and merge the FTS5 b-trees so the
        deleted terms leave the file."""
        unused = repo.unused_hashes(conn, [*hashes, *(h for g in gone
                                                      for h in (g.content_hash, g.key_hash)
                                                      if h)])
        self.embedder.purge(conn, unused)
        purge_expansions(conn, unused)
        if self.lexical:
            self.lexical.optimize(conn)

    def forget_user(self, user_id: str) -> int:
        """Remove every trace of ``user_id`` from every store and index: turns, units,
        sessions, thoughts and their history, LangGraph store items, lexical rows,
        vectors and cached embeddings. Returns the number of
        turns removed (0 for an unknown user)."""
        self._check_open()
        user_id = check_id(user_id, "user_id")
        with self._lock, self.thought_store.lock:
            with self.db.begin() as conn:
                unit_ids = list(conn.execute(
                    sa.select(units.c.id).where(units.c.user_id == user_id)).scalars())
                gone = self._drop_units(conn, unit_ids)
                hashes, _ = ThoughtStore.purge(conn, ThoughtStore.of_user(conn, user_id))
                turn_ids = list(conn.execute(
                    sa.select(turns.c.id).where(turns.c.user_id == user_id)).scalars())
                repo.delete_turns(conn, turn_ids)
                # LangGraph store items (those with a unit went with it)
                conn.execute(sa.delete(store_items).where(store_items.c.user_id == user_id))
                conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
                conn.execute(sa.delete(users).where(users.c.id == user_id))
                self._erase(conn, gone, hashes)
            self.thought_store.evict([user_id])
            self._sync_index()
            for store in {g.store for g in gone} | {self.store.name}:
                self.dense.drop(self._collection(store, user_id))
            self.db.scrub()
        return len(turn_ids)

    # -- export / import --------------------------------------------------------------

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """Write the memory (or one user's part) as JSONL; returns the records written.
        Lossless: :meth:`import_` of the file rebuilds the same turns, units, thoughts,
        thought histories and LangGraph store items."""
        self._check_open()
        if user_id is not None:
            user_id = check_id(user_id, "user_id")
        with self.db.connect() as conn:
            return transfer.export_jsonl(conn, Path(path), user_id=user_id,
                                         granularity=self.store.granularity,
                                         embedder=self.embedder.name)

    def import_(self, path: str | Path, *,
                progress: Callable[[int, int], None] | None = None) -> int:
        """Load a JSONL export (validated whole first; one transaction), then index it.
        Ids already present raise :class:`InvalidInput` and nothing is written.
        Returns the records read. ``progress(done, total)``, when given, is called as
        the imported units are embedded and indexed (the long part of an import)."""
        self._check_open()
        records = transfer.read_jsonl(Path(path))
        if records.header.get("granularity") != self.store.granularity:
            raise InvalidInput(
                "granularity",
                f"the file holds {records.header.get('granularity')!r} units; this memory "
                f"uses {self.store.granularity!r}: import into a Memory created with "
                f"granularity={records.header.get('granularity')!r}",
            )
        # the imported thoughts' buckets, before the transaction that writes them
        buckets = self.thought_store.buckets_for([t["text"] for t in records.thoughts])
        with self._lock, self.thought_store.lock:
            with self.db.begin() as conn:
                count = transfer.import_records(conn, records, insert_units=self._insert_units,
                                                thought_buckets=buckets)
            self.thought_store.evict({t["user_id"] for t in records.thoughts})
            self._sync_index(progress=progress)
        return count

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
                pending_index_repairs=count(units, units.c.dense_pending.is_(True))
                + count(index_tombstones),
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
        try:
            if dense is not None:
                dense.close()
        finally:
            self.db.close()

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

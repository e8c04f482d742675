"""Value types of the public API (plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "AddResult",
    "Answer",
    "Granularity",
    "Hit",
    "MemoryStats",
    "MemoryUnit",
    "Role",
    "SearchFilter",
    "SearchMode",
    "TraceStep",
    "THOUGHT_STATUSES",
    "Thought",
    "MemoryEvent",
    "TimeRange",
    "Turn",
]

Role = Literal["user", "assistant", "system"]
ROLES: tuple[str, ...] = ("user", "assistant", "system")
Granularity = Literal["turn", "round", "session"]
GRANULARITIES: tuple[str, ...] = ("turn", "round", "session")
SearchMode = Literal["hybrid", "dense", "lexical"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
THOUGHT_STATUSES: tuple[str, ...] = ("active", "merged", "forgotten")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, as stored in the episodic log."""

    id: str
    user_id: str
    session_id: str
    position: int
    role: str
    content: str
    timestamp: datetime
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryUnit:
    """A retrievable unit derived from turns (a turn, a round or a whole session).
    ``key`` is the text it is indexed under when that differs from ``text`` (an
    LLM-expanded key), else None."""

    id: str
    kind: str
    user_id: str
    session_id: str
    text: str
    timestamp: datetime
    store: str
    turns: tuple[Turn, ...] = ()
    key: str | None = None

    @property
    def turn_ids(self) -> tuple[str, ...]:
        """Ids of the turns this unit was derived from, in conversation order."""
        return tuple(t.id for t in self.turns)


@dataclass(frozen=True)
class Hit:
    """One search result, best first.

    ``score`` is the hit's relevance to the query, in [0, 1], comparable between
    searches and users: the cosine similarity (clipped at 0) between the query and the
    unit's vector (its best key or field when it has several), raised to the text
    match when the query repeats one of its turns up to case, punctuation and a few
    characters (``difflib`` ratio >= 0.9). Scores never rise down a result list: a hit
    ranked above a more relevant one takes that one's score. Ranking itself is the
    fused ranking (``scores["fused"]``); ``scores`` also holds each retriever's own
    score where it found the unit (``dense``: cosine, ``lexical``: BM25, higher is
    better) and ``relevance``, the hit's own relevance before that adjustment. See
    docs/search.md."""

    id: str
    kind: str
    user_id: str
    session_id: str
    text: str
    timestamp: datetime
    score: float
    store: str
    turns: tuple[Turn, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    #: with ``Memory(decay=...)``: the unit's retention exp(-t/S) and strength S when
    #: it was found (before this recall reinforced it); None otherwise
    retention: float | None = None
    strength: int | None = None
    #: with ``search(..., trace=True)``: what each ranking stage did to this hit, in
    #: pipeline order (see :class:`TraceStep`); empty otherwise
    trace: tuple[TraceStep, ...] = ()

    @property
    def turn_ids(self) -> tuple[str, ...]:
        """Ids of the turns behind this hit, in conversation order."""
        return tuple(t.id for t in self.turns)


@dataclass(frozen=True)
class SearchFilter:
    """What a search is restricted to, applied before the top ``k`` are taken (see
    :meth:`agentmem.Memory.search`): sessions, a time window ``since <= timestamp <
    until``, turn roles, and turn metadata (key to the allowed values; a unit matches
    when one of its turns has every key at one of its values)."""

    session_ids: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None
    roles: tuple[str, ...] | None = None
    metadata: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def on_turns(self) -> bool:
        """Whether the filter looks at the units' turns (roles or metadata)."""
        return self.roles is not None or bool(self.metadata)


@dataclass(frozen=True)
class TraceStep:
    """One ranking stage's effect on one candidate (``search(..., trace=True)``):
    its rank (from 1) and score before and after the stage; None where it was not
    ranked (not yet retrieved, or dropped by the stage)."""

    stage: str
    rank_before: int | None
    rank_after: int | None
    score_before: float | None
    score_after: float | None


@dataclass(frozen=True)
class AddResult:
    """What one :meth:`Memory.add` call stored."""

    user_id: str
    session_id: str
    turn_ids: tuple[str, ...]
    unit_ids: tuple[str, ...]


@dataclass(frozen=True)
class MemoryStats:
    """Counts and settings reported by :meth:`Memory.stats`."""

    users: int
    sessions: int
    turns: int
    units: dict[str, int]
    embeddings_cached: int
    pending_index_repairs: int
    granularity: str
    embedder: str
    storage_bytes: int | None
    database_url: str
    llm: str | None = None
    llm_usage: dict[str, dict[str, float]] = field(default_factory=dict)
    #: thoughts by status (active, merged, forgotten)
    thoughts: dict[str, int] = field(default_factory=dict)
    #: items the LLM gave no usable output for (after its retry), by step; each was
    #: skipped (indexed without expansion, no thought written)
    llm_failures: dict[str, int] = field(default_factory=dict)
    #: units set aside from the dense index (their vector was refused, or they failed
    #: alone); stored and found by lexical search, retried on open and by reindex()
    index_failed: int = 0
    #: the last failure of index work after a write (or of dense search) in this
    #: process, or None; the work itself stays queued and is retried
    last_index_error: str | None = None
    #: each strategy's own counts, by strategy name (``thoughts``: by status and
    #: ``llm_failures``; ``items``: LangGraph store items; a plugin's, its own)
    strategies: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class TimeRange:
    """A closed interval of time: an event's date, or the period a question asks about.
    ``text`` is the expression it was read from (empty for a session date)."""

    start: datetime
    end: datetime
    text: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"TimeRange: end {self.end} is before start {self.start}")

    def widened(self, days: float) -> TimeRange:
        """The range extended by ``days`` on both sides."""
        pad = timedelta(days=days)
        return TimeRange(self.start - pad, self.end + pad, self.text)

    def overlaps(self, other: TimeRange) -> bool:
        """Whether the two ranges share any instant."""
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class Answer:
    """What :meth:`Memory.respond` answered: the reply ``text``, the memories it read
    (``hits``, best first), the ``prompt`` sent to the model, and ``error`` when the
    model gave no usable reply (``text`` is then empty)."""

    text: str
    hits: tuple[Hit, ...]
    prompt: str
    error: str | None = None


@dataclass(frozen=True)
class Thought:
    """A Think-in-Memory thought: a relation ``(head, relation, tail)`` between two
    entities and a sentence stating it (``text``), e.g. ``("Alice", "lives in",
    "Lisbon")`` / "Alice lives in Lisbon."

    ``source_turn_ids`` are the turns it was derived from (its provenance; empty for a
    thought added directly). ``status`` is ``active`` (recalled by search), ``merged``
    (folded into ``replaced_by``) or ``forgotten`` (superseded by ``replaced_by``);
    only active thoughts are searched, the others are kept for :meth:`Memory.history`.
    ``timestamp`` is when it was stated; ``created_at``/``updated_at`` are bookkeeping
    times. ``buckets`` are its LSH bucket ids, one per hash table.
    """

    id: str
    user_id: str
    head: str
    relation: str
    tail: str
    text: str
    timestamp: datetime
    created_at: datetime
    updated_at: datetime
    status: str = "active"
    replaced_by: str | None = None
    session_id: str | None = None
    source_turn_ids: tuple[str, ...] = ()
    buckets: tuple[int, ...] = ()

    @property
    def triple(self) -> tuple[str, str, str]:
        """``(head, relation, tail)``."""
        return (self.head, self.relation, self.tail)


@dataclass(frozen=True)
class MemoryEvent:
    """One entry of a thought's audit history (:meth:`Memory.history`), oldest first.

    ``op`` is ``insert``, ``merge`` (another thought folded into this one: ``other_id``),
    ``merged`` (this one folded into ``other_id``), ``forget`` (superseded by
    ``other_id``), ``supersede`` (this one replaced ``other_id``), or ``restore``.
    ``reason`` says why (``same head and relation``, ``same fact``, ``near
    duplicate``, ``llm``, ...); ``detail`` holds what changed (e.g. the source turns a
    merge added). The log holds ids, never another thought's text."""

    seq: int
    memory_id: str
    op: str
    at: datetime
    other_id: str | None = None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

"""The values a search's ranking pipeline passes along, and the stage protocol.

A search builds a :class:`RecallQuery`, the retrievers fill a :class:`Candidates`
(each retriever's raw scores, the query vector, what other strategies recalled), and
each :class:`Stage` in turn rewrites its ``order``: the fused ranking, best first. The
caller gets a :class:`Ranking` back: the final order, every source's raw scores and,
when asked, the trace of what each stage did to each candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from ..storage.repository import UnitInfo
from ..types import Hit, MemoryUnit, SearchFilter, TimeRange, TraceStep

__all__ = ["Candidates", "RecallQuery", "RecallSource", "Recalled", "Ranking", "Stage",
           "UnitReader"]

#: an ordered ranking: (id, score), best first
Order = list[tuple[str, float]]


@dataclass(frozen=True)
class RecallQuery:
    """One search, validated: ``n`` candidates per retriever; ``period`` the time the
    query names (None: none, or time-awareness off); ``kinds`` the unit kinds kept
    (None: all); ``anchor`` the query's current time; ``filters`` what the results
    are restricted to before the top ``n`` (None: nothing)."""

    text: str
    user_id: str
    mode: str
    n: int
    period: TimeRange | None = None
    kinds: frozenset[str] | None = None
    anchor: datetime | None = None
    include_forgotten: bool = False
    filters: SearchFilter | None = None


class UnitReader(Protocol):
    """What stages may read of the user's units (one connection for the whole
    ranking, held by the caller)."""

    conn: Any

    def unit_info(self, ids: Sequence[str]) -> dict[str, UnitInfo]:
        """Session, kind and parent of those ``ids`` that are the user's units."""
        ...

    def units_in_period(self, period: TimeRange, among: Sequence[str] | None = None
                        ) -> set[str]:
        """Ids of the user's units dated inside ``period`` (only of ``among``, when
        given)."""
        ...

    def unit_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those ``ids`` that are the user's units and have one."""
        ...

    def units(self, ids: Sequence[str]) -> dict[str, MemoryUnit]:
        """Those ``ids`` that are the user's units, loaded."""
        ...


class RecallSource(Protocol):
    """A strategy whose :meth:`recall` returns its own items (not units), ranked:
    Think-in-Memory's thoughts, for example."""

    name: str

    def recall(self, query: RecallQuery, vector: np.ndarray | None
               ) -> Mapping[str, float]:
        """The strategy's own candidates for ``query``, id to raw score, best first
        (``vector``: the query's embedding, None when dense search is off or failed)."""
        ...

    def in_period(self, conn: Any, ids: Sequence[str], period: TimeRange) -> set[str]:
        """Those of ``ids`` dated inside ``period``."""
        ...

    def load_hits(self, conn: Any, scored: Sequence[tuple[str, float]], user_id: str,
                  raw: Mapping[str, float]) -> dict[str, Hit]:
        """Hits for those of ``scored`` (id, fused score) that still exist."""
        ...


@dataclass
class Recalled:
    """A recall source's candidates (id to raw score, best first)."""

    source: RecallSource
    scores: dict[str, float]


@dataclass
class Candidates:
    """The working set a ranking pipeline rewrites: ``order`` (the ranking, best
    first), each unit retriever's raw scores (``dense``: cosine, ``lexical``: BM25),
    how many unit retrievers answered, the query vector, the other strategies'
    recalled items, and the unit info loaded once for the stages."""

    query: RecallQuery
    reader: UnitReader
    order: Order = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    retrievers: int = 0
    vector: np.ndarray | None = None
    recalled: dict[str, Recalled] = field(default_factory=dict)
    info: dict[str, UnitInfo] = field(default_factory=dict)


class Stage(Protocol):
    """One step of the ranking pipeline: reads the candidates, returns the new order.
    ``name`` appears in traces; an optional ``position`` attribute places the stage
    among the built-ins (default 90: after them)."""

    @property
    def name(self) -> str:
        """The stage's name in traces (unique in a pipeline)."""
        ...

    def run(self, candidates: Candidates) -> Order:
        """The order after this stage (it may also update ``candidates.scores`` or
        ``candidates.info``)."""
        ...


@dataclass(frozen=True)
class Ranking:
    """A search's ranking before the hits are loaded: ``order`` (id, fused score), best
    first, thought ids included; ``scores`` each source's raw scores by id
    (``dense``, ``lexical``, and each recall source by name); ``trace`` (when asked)
    what each stage did, by id."""

    order: tuple[tuple[str, float], ...]
    scores: Mapping[str, Mapping[str, float]]
    trace: Mapping[str, tuple[TraceStep, ...]] = field(default_factory=dict)

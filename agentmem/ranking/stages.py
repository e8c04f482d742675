"""The built-in ranking stages, in the order :func:`~agentmem.ranking.default_pipeline`
runs them. Each is one class with one method, ``run(candidates) -> order``; the
arithmetic lives in :mod:`agentmem.index.fusion` and :mod:`agentmem.temporal.rerank`.

``position`` places a stage in the pipeline: the built-ins take 10 to 80, a strategy's
own stages go where their position says (MemoryBank's decay at 60, the thoughts' fusion
at 70; a stage that must see the final order, at 90 or more).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..index import reciprocal_rank_fusion, score_fusion, session_context
from ..temporal import WIDEN_DAYS, move_ahead
from .base import Candidates, Order

__all__ = ["FilterKinds", "Fuse", "FuseRecalled", "LoadInfo", "MergeKeyRows",
           "SessionContext", "TimeAware"]


@dataclass(frozen=True)
class Fuse:
    """The unit retrievers' candidates into one ranking: one retriever's own scores;
    two by ``"score"`` fusion (z-normalised, summed; a unit the lexical side did not
    return has BM25 0 when it returned every match, fewer than ``n``) or ``"rrf"``."""

    fusion: str = "score"
    name: str = "fuse"
    position: float = 10

    def run(self, c: Candidates) -> Order:
        """Fuse ``c.scores["dense"]`` and ``c.scores["lexical"]`` (those present)."""
        dense, lexical = c.scores.get("dense"), c.scores.get("lexical")
        rankings = [list(s) for s in (dense, lexical) if s is not None]
        if len(rankings) == 1:  # one retriever: its own scores
            only = dense if dense is not None else lexical
            assert only is not None
            return list(only.items())
        if self.fusion == "rrf":
            return reciprocal_rank_fusion(rankings)
        dense, lexical = dense or {}, lexical or {}
        return score_fusion(
            [dense, lexical],
            floors=[min(dense.values(), default=0.0),
                    0.0 if len(lexical) < c.query.n else min(lexical.values())])


@dataclass(frozen=True)
class LoadInfo:
    """Session, kind and parent of the ranked units, read once for the stages after."""

    name: str = "load_info"
    position: float = 20

    def run(self, c: Candidates) -> Order:
        """Fill ``c.info``; the order is unchanged."""
        c.info = c.reader.unit_info([i for i, _ in c.order])
        return c.order


@dataclass(frozen=True)
class MergeKeyRows:
    """Rank merging: each key row counts for its parent unit, which keeps its best
    place and score (per-retriever scores too)."""

    name: str = "merge_key_rows"
    position: float = 30

    def run(self, c: Candidates) -> Order:
        """Key rows replaced by their parents (whose info is then loaded)."""
        if not any(x.is_key_row for x in c.info.values()):
            return c.order
        merged: dict[str, float] = {}
        for uid, score in c.order:
            row = c.info.get(uid)
            parent = row.parent_id if row is not None and row.is_key_row and row.parent_id \
                else uid
            merged.setdefault(parent, score)
            if parent != uid:
                for scores in c.scores.values():
                    if uid in scores:
                        scores[parent] = max(scores[uid], scores.get(parent, scores[uid]))
        c.info.update(c.reader.unit_info([i for i in merged if i not in c.info]))
        return list(merged.items())


@dataclass(frozen=True)
class FilterKinds:
    """Only units of the kinds the query asks for (``kinds=``), when it asks."""

    name: str = "filter_kinds"
    position: float = 40

    def run(self, c: Candidates) -> Order:
        """Drop the units of other kinds."""
        kinds = c.query.kinds
        if kinds is None:
            return c.order
        return [f for f in c.order if f[0] in c.info and c.info[f[0]].kind in kinds]


@dataclass(frozen=True)
class SessionContext:
    """Each unit gets ``weight`` x its session's match (the mean of the session's best
    three fused scores among the candidates), so evidence spread over one session
    rises together. Only when two retrievers were fused (``only_if_fused``)."""

    weight: float = 1.0
    only_if_fused: bool = True
    name: str = "session_context"
    position: float = 50

    def run(self, c: Candidates) -> Order:
        """The order with each session's share added."""
        if not self.weight or (self.only_if_fused and c.retrievers < 2):
            return c.order
        return session_context(c.order, {i: x.session_id for i, x in c.info.items()},
                               weight=self.weight)


@dataclass(frozen=True)
class FuseRecalled:
    """A recall source's own ranking (the thoughts') fused with the units' by
    reciprocal rank (k=60), weighted ``weight`` against the units' 1.0."""

    source: str
    weight: float = 1.0
    name: str = "fuse_recalled"
    position: float = 70

    def run(self, c: Candidates) -> Order:
        """RRF of the order and the source's candidates (when it returned any)."""
        found = c.recalled.get(self.source)
        if found is None or not found.scores:
            return c.order
        return reciprocal_rank_fusion([[i for i, _ in c.order], list(found.scores)],
                                      weights=[1.0, self.weight or 1.0])


@dataclass(frozen=True)
class TimeAware:
    """LongMemEval's time-aware query expansion: when the query names a period, the
    candidates dated inside it (widened by ``widen_days``) move ahead of the rest, each
    group in its order; none is dropped."""

    widen_days: float = WIDEN_DAYS
    name: str = "time_aware"
    position: float = 80

    def run(self, c: Candidates) -> Order:
        """Units and recalled items dated in ``c.query.period`` first."""
        if c.query.period is None:
            return c.order
        window = c.query.period.widened(self.widen_days)
        inside = c.reader.units_in_period(window, [i for i, _ in c.order])
        for found in c.recalled.values():
            inside |= found.source.in_period(c.reader.conn, list(found.scores), window)
        return move_ahead(c.order, lambda f: f[0] in inside)

"""The ranking pipeline: stages run in order over one search's candidates, each
optionally traced. :func:`default_pipeline` is the one place the order is written down;
it reads like the search half of the data flow::

    candidates per retriever (dense ∥ lexical ∥ each strategy's recall)
      ─► fuse ─► load info ─► merge key rows ─► filter kinds ─► session context
      ─► [MemoryBank: decay] ─► [Think-in-Memory: fuse thoughts] ─► time-aware moves
      ─► [a strategy's own stages] ─► the ranking
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import ConfigError
from ..types import TraceStep
from .base import Candidates, Order, Stage
from .stages import FilterKinds, Fuse, LoadInfo, MergeKeyRows, SessionContext, TimeAware
from .supersede import Supersede

__all__ = ["Pipeline", "default_pipeline"]


class Pipeline:
    """Stages sorted by their ``position`` (ties keep the order given); stage names
    must be unique, so that a trace names each step once."""

    def __init__(self, stages: Iterable[Stage]) -> None:
        self.stages: tuple[Stage, ...] = tuple(sorted(
            stages, key=lambda s: float(getattr(s, "position", 90))))
        names = [s.name for s in self.stages]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"stages: two ranking stages are named {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names, in the order they run."""
        return tuple(s.name for s in self.stages)

    def run(self, candidates: Candidates, *, trace: bool = False
            ) -> tuple[Order, dict[str, list[TraceStep]]]:
        """Every stage over ``candidates``; returns the final order and, with
        ``trace``, each candidate's steps (one per stage, up to the last that saw
        it; empty where it was not ranked)."""
        steps: dict[str, list[TraceStep]] = {}
        for n, stage in enumerate(self.stages):
            before = candidates.order
            candidates.order = stage.run(candidates)
            if trace:
                _record(steps, n, self.stages, before, candidates.order)
        return candidates.order, steps


def _record(steps: dict[str, list[TraceStep]], n: int, stages: Sequence[Stage],
            before: Sequence[tuple[str, float]], after: Sequence[tuple[str, float]]) -> None:
    """Stage ``n``'s step for every candidate it saw; a candidate first seen here gets
    an empty step for each stage before (it was not ranked there)."""
    was = {i: (r, s) for r, (i, s) in enumerate(before, start=1)}
    now = {i: (r, s) for r, (i, s) in enumerate(after, start=1)}
    for i in dict.fromkeys([*was, *now]):
        b, a = was.get(i), now.get(i)
        trail = steps.setdefault(i, [TraceStep(st.name, None, None, None, None)
                                     for st in stages[:n]])
        trail.append(TraceStep(
            stage=stages[n].name, rank_before=b[0] if b else None,
            rank_after=a[0] if a else None, score_before=b[1] if b else None,
            score_after=a[1] if a else None))


def default_pipeline(*, fusion: str = "score", session_weight: float = 1.0,
                     extra: Iterable[Stage] = (), supersede: bool = True) -> Pipeline:
    """agentmem's ranking: the built-in stages, with the strategies' own stages
    (``extra``) placed by their ``position``; ``supersede=False`` leaves out the
    newer-statement stage (:class:`~agentmem.ranking.supersede.Supersede`)."""
    return Pipeline([
        Fuse(fusion),                     # 10: the unit retrievers' candidates as one
        LoadInfo(),                       # 20: session, kind, parent of each candidate
        MergeKeyRows(),                   # 30: a key row counts for its parent unit
        FilterKinds(),                    # 40: kinds=...
        SessionContext(session_weight),   # 50: a session's evidence rises together
        *extra,                           # 60: decay, 70: thoughts, 90+: others
        TimeAware(),                      # 80: dated in the asked period, first
        *([Supersede()] if supersede else []),  # 85: a statement of change, first
    ])

"""Time-aware re-ranking (LongMemEval's time-aware query expansion, query side).

Values whose dated events fall in the period a question asks about (widened by
``widen_days`` on each side; the paper uses two days) move ahead of the rest. It is a
re-ranking, not a filter: every value keeps its place relative to the others of its
group, and none is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from ..types import TimeRange

__all__ = ["WIDEN_DAYS", "move_ahead", "time_aware_order"]

WIDEN_DAYS = 2.0
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def move_ahead(ranked: Sequence[T], chosen: Callable[[T], bool]) -> list[T]:
    """``ranked`` with the chosen items first; both groups keep their order."""
    return [x for x in ranked if chosen(x)] + [x for x in ranked if not chosen(x)]


def time_aware_order(ranked: Sequence[K], events: Mapping[K, Sequence[TimeRange]],
                     period: TimeRange, *, widen_days: float = WIDEN_DAYS) -> list[K]:
    """``ranked`` (best first) with the items that have an event inside ``period``
    (widened by ``widen_days``) moved ahead of the others, each group in its original
    order."""
    window = _widened(period, widen_days)
    return move_ahead(ranked, lambda k: any(e.overlaps(window) for e in events.get(k, ())))


def _widened(period: TimeRange, days: float) -> TimeRange:
    """``period`` widened by ``days`` on both sides, stopping at the ends of the
    calendar (years 1 to 9999)."""
    pad = timedelta(days=days)
    start = datetime.min if period.start - datetime.min <= pad else period.start - pad
    end = datetime.max if datetime.max - period.end <= pad else period.end + pad
    return TimeRange(start, end, period.text)

"""Time: parsing timestamps (:mod:`.timestamps`), reading time expressions in text and
questions (:mod:`.expressions`), and time-aware re-ranking (:mod:`.rerank`)."""

from .expressions import find_time_ranges, question_time_range
from .rerank import WIDEN_DAYS, move_ahead, time_aware_order
from .timestamps import format_timestamp, parse_timestamp, utcnow

__all__ = ["WIDEN_DAYS", "find_time_ranges", "format_timestamp", "move_ahead",
           "parse_timestamp", "question_time_range", "time_aware_order", "utcnow"]

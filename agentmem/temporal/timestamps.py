"""Timestamps: parsing the forms agentmem accepts and normalising them.

Accepted forms (anything else raises :class:`~agentmem.errors.InvalidInput`):

- a :class:`datetime.datetime` (an aware one is converted to UTC; naive ones are
  taken as given) or a :class:`datetime.date` (midnight);
- ISO 8601 strings: ``2023-05-20``, ``2023-05-20T10:00:00``, ``...+02:00``, ``...Z``;
- LongMemEval's form: ``2023/05/20 (Sat) 10:00`` (the weekday is optional);
- LoCoMo's form: ``1:56 pm on 8 May, 2023``.

Stored timestamps are naive datetimes; aware inputs are normalised to UTC first. A
value outside the years 1 to 9999 (also once converted to UTC, e.g.
``0001-01-01T00:00:00+01:00``) raises ``InvalidInput`` too.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from ..errors import InvalidInput

__all__ = ["format_timestamp", "parse_timestamp", "utcnow"]

_LONGMEMEVAL = re.compile(
    r"^\s*(\d{4})/(\d{1,2})/(\d{1,2})\s*(?:\(\s*[A-Za-z]{3,9}\s*\))?\s*"
    r"(?:(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$"
)
_LOCOMO = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*([ap])\.?m\.?\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})\s*$",
    re.IGNORECASE,
)
_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}


def _normalise(value: datetime) -> datetime:
    """``value`` as a naive UTC datetime; ValueError when UTC is outside the calendar."""
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise ValueError("outside the years 1 to 9999 once converted to UTC") from None
    return value


def parse_timestamp(value: object, *, field: str = "timestamp") -> datetime:
    """Parse ``value`` into a naive datetime, or raise ``InvalidInput`` naming ``field``."""
    if isinstance(value, datetime):
        try:
            return _normalise(value)
        except ValueError as exc:
            raise InvalidInput(field, f"cannot use timestamp {value.isoformat()} ({exc})"
                               ) from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise InvalidInput(
            field,
            f"expected an ISO 8601 string, a datetime or a date, got {type(value).__name__}",
        )
    text = value.strip()
    if not text:
        raise InvalidInput(field, "empty timestamp")
    try:
        return _parse_string(text)
    except ValueError as exc:
        raise InvalidInput(field, f"cannot parse timestamp {value!r} ({exc})") from None


def _parse_string(text: str) -> datetime:
    m = _LONGMEMEVAL.match(text)
    if m:
        year, month, day, hour, minute, second = m.groups()
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    m = _LOCOMO.match(text)
    if m:
        hour_s, minute_s, ampm, day_s, month_name, year_s = m.groups()
        month = _MONTHS.get(month_name.lower())
        if month is None:
            raise ValueError(f"unknown month {month_name!r}")
        hour = int(hour_s)
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} is not a 12-hour clock hour")
        hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
        return datetime(int(year_s), month, int(day_s), hour, int(minute_s))
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        raise ValueError("not a recognised form (ISO 8601, 'YYYY/MM/DD (Day) HH:MM', "
                         "or 'H:MM pm on D Month, YYYY')")
    return _normalise(datetime.fromisoformat(text))


def utcnow() -> datetime:
    """The current time in the stored form: a naive UTC datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 text of a stored timestamp (microseconds kept when present)."""
    return value.isoformat()

"""Time expressions in text, resolved against an anchor date: a deterministic parser.

LongMemEval's time-aware query expansion needs two things: the dated events of each
stored value ("last Saturday", "two weeks ago", "in May", "yesterday", resolved against
the session date), and the period a question asks about, resolved against the question
date. The paper found that an 8B LLM extractor gave no gain over none, so this module is
the default: regular expressions for the expression forms below and
``dateutil.relativedelta`` for calendar arithmetic. It is deliberately conservative: an
expression it does not recognise yields nothing rather than a guess.

Recognised (case-insensitive; each match is consumed, so "the day before yesterday" is
not also "yesterday"):

- ``YYYY-MM-DD`` / ``YYYY/MM/DD``;
- month names with a day and/or year (``May 5``, ``5th of May 2023``, ``May 2023``), or
  after a preposition (``in May``, ``since June``, ``early July``, ``end of March``); the
  year, when absent, is the one that puts the month nearest the anchor;
- ``in 2022``, ``during 2021``, ``back in 2019``;
- ``today``, ``tonight``, ``this morning``, ``yesterday``, ``last night``, ``the day
  before yesterday``, ``tomorrow``;
- ``N days/weeks/months/years ago`` (N a number, a number word, ``a``, ``a couple
  of``, ``a few``, ``several``);
- ``the last/past N days/weeks/months/years`` (the span up to the anchor);
- ``last/this/next week``, ``weekend``, ``month``, ``year``;
- weekdays with ``last``, ``this``, ``next``, ``this past`` or ``on`` (``on Saturday``
  is the most recent Saturday before the anchor);
- seasons with ``last``, ``this``, ``next`` or ``in the`` (northern hemisphere).

An expression that names a time outside the calendar (years 1 to 9999), such as "next
week" written on 9999-12-31, is consumed but yields nothing: the text merely mentions a
time, and is stored and searched as any other.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from ..types import TimeRange
from .rerank import WIDEN_DAYS

__all__ = ["find_time_ranges", "question_time_range"]

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3, "several": 3,
}
_FUZZY = frozenset({"a couple of", "a couple", "couple of", "a few", "few", "several"})
_NUM = r"(?P<n>\d{1,3}|a couple of|a couple|couple of|a few|few|several|an?|one|two|three|" \
       r"four|five|six|seven|eight|nine|ten|eleven|twelve)"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_MONTH_NAMES = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11,
    "nov": 11, "december": 12, "dec": 12,
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTH_NAMES, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d{2})"
_PART = r"(?:(?P<part>early|mid|late|the (?:start|beginning|middle|end) of|end of)[\s-]+)?"
_WEEKDAYS = {name: i for i, name in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_SEASONS = {"spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11),
            "winter": (12, 2)}


def _day(d: datetime) -> TimeRange:
    start = datetime(d.year, d.month, d.day)
    return TimeRange(start, start + timedelta(days=1) - timedelta(microseconds=1))


def _span(start: datetime, end: datetime) -> TimeRange:
    """From the start of ``start``'s day to the end of ``end``'s day."""
    return TimeRange(_day(start).start, _day(end).end)


def _month(year: int, month: int, part: str | None = None) -> TimeRange:
    last = calendar.monthrange(year, month)[1]
    first, final = 1, last
    if part:
        if part in ("early", "the start of", "the beginning of"):
            final = 10
        elif part in ("mid", "the middle of"):
            first, final = 10, 20
        else:  # late, end of, the end of
            first = 20
    return _span(datetime(year, month, first), datetime(year, month, final))


def _nearest_year(month: int, anchor: datetime) -> int:
    """The year that puts ``month`` nearest the anchor's month."""
    best = anchor.year
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        if abs((year - anchor.year) * 12 + month - anchor.month) < abs(
                (best - anchor.year) * 12 + month - anchor.month):
            best = year
    return best


def _count(raw: str) -> tuple[int, bool]:
    raw = raw.lower()
    if raw.isdigit():
        return int(raw), False
    return _NUMBER_WORDS[raw], raw in _FUZZY


def _step(unit: str, n: int) -> relativedelta:
    return {"day": relativedelta(days=n), "week": relativedelta(weeks=n),
            "month": relativedelta(months=n), "year": relativedelta(years=n)}[unit]


# -- handlers: (match, anchor) -> TimeRange | None -----------------------------------

def _iso(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    try:
        return _day(datetime(int(m["y"]), int(m["mo"]), int(m["d"])))
    except ValueError:
        return None


def _month_date(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    month = _MONTH_NAMES[m["month"].lower()]
    has_day, has_year = m["day"] is not None, m["year"] is not None
    if not (has_day or has_year or m["lead"] or m["part"]):
        return None  # a bare "May" / "march" is too often a verb
    year = int(m["year"]) if has_year else _nearest_year(month, anchor)
    if has_day:
        try:
            return _day(datetime(year, month, int(m["day"])))
        except ValueError:
            return None
    part = m["part"].lower() if m["part"] else None
    return _month(year, month, part)


def _year(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    year = int(m["year"])
    return _span(datetime(year, 1, 1), datetime(year, 12, 31))


def _relative_day(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    word = " ".join(m.group(0).lower().split())
    offset = {"the day before yesterday": -2, "yesterday": -1, "last night": -1,
              "tomorrow": 1, "the day after tomorrow": 2}.get(word, 0)
    return _day(anchor + timedelta(days=offset))


def _ago(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    n, fuzzy = _count(m["n"])
    unit = m["unit"].lower()
    point = anchor - _step(unit, n)
    if fuzzy:  # "a few weeks ago": from n+1 to n-1 units back
        return _span(anchor - _step(unit, n + 1), anchor - _step(unit, max(n - 1, 0)))
    half = {"day": relativedelta(), "week": relativedelta(days=3),
            "month": relativedelta(days=15), "year": relativedelta(months=6)}[unit]
    return _span(point - half, min(point + half, anchor))


def _past_span(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    n, _ = _count(m["n"]) if m["n"] else (1, False)
    return _span(anchor - _step(m["unit"].lower(), n), anchor)


def _calendar_period(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    shift = {"last": -1, "past": -1, "previous": -1, "this": 0, "next": 1}[m["which"].lower()]
    period = m["period"].lower()
    if period in ("week", "weekend"):
        monday = anchor - timedelta(days=anchor.weekday()) + timedelta(weeks=shift)
        if period == "week":
            return _span(monday, monday + timedelta(days=6))
        return _span(monday + timedelta(days=5), monday + timedelta(days=6))
    if period == "month":
        first = datetime(anchor.year, anchor.month, 1) + relativedelta(months=shift)
        return _month(first.year, first.month)
    year = anchor.year + shift
    return _span(datetime(year, 1, 1), datetime(year, 12, 31))


def _weekday(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    target = _WEEKDAYS[m["weekday"].lower()]
    which = " ".join(m["which"].lower().split())
    if which == "next":
        ahead = (target - anchor.weekday()) % 7 or 7
        return _day(anchor + timedelta(days=ahead))
    if which == "this":
        return _day(anchor - timedelta(days=anchor.weekday()) + timedelta(days=target))
    back = (anchor.weekday() - target) % 7 or 7  # last, this past, on
    return _day(anchor - timedelta(days=back))


def _season(m: re.Match[str], anchor: datetime) -> TimeRange | None:
    first, last = _SEASONS[m["season"].lower()]
    which = (m["which"] or "").lower().strip()

    def season_of(year: int) -> TimeRange:  # the season that starts in ``year``
        end_year = year + 1 if last < first else year
        return _span(datetime(year, first, 1),
                     datetime(end_year, last, calendar.monthrange(end_year, last)[1]))

    this = season_of(anchor.year if not (last < first and anchor.month <= last)
                     else anchor.year - 1)
    if which == "next":
        return season_of(this.start.year + 1)
    if which == "last":
        return this if this.end < anchor else season_of(this.start.year - 1)
    return this


_NUMBER_BEFORE = r"(?<![\w-])"
_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], datetime],
                                                 TimeRange | None]], ...] = tuple(
    (re.compile(p, re.IGNORECASE), f) for p, f in (
        (r"\b(?P<y>(?:19|20)\d{2})[-/](?P<mo>\d{1,2})[-/](?P<d>\d{1,2})\b", _iso),
        (rf"(?P<lead>\b(?:in|on|of|since|during|until|till|by|from|before|after|early|"
         rf"mid|late|end of|last|next|this)[\s-]+(?:the\s+)?)?{_PART}\b{_DAY}\s+(?:of\s+)?"
         rf"{_MONTH}(?:,?\s+{_YEAR})?\b", _month_date),
        (rf"(?P<lead>\b(?:in|on|of|since|during|until|till|by|from|before|after|around)"
         rf"\s+)?{_PART}\b{_MONTH}(?:\s+{_DAY}(?![\d:]))?(?:,?\s+{_YEAR})?\b", _month_date),
        (rf"\b(?:in|during|since|of|back in|around|for)\s+{_YEAR}\b(?![-/:]\d)", _year),
        (r"\bthe\s+day\s+(?:before\s+yesterday|after\s+tomorrow)\b|\byesterday\b|"
         r"\blast\s+night\b|\btoday\b|\btonight\b|\btomorrow\b|"
         r"\bthis\s+(?:morning|afternoon|evening)\b", _relative_day),
        (rf"{_NUMBER_BEFORE}\b{_NUM}\s+{_UNIT}\s+ago\b", _ago),
        (rf"\bthe\s+(?:last|past)\s+(?:{_NUM}\s+)?{_UNIT}\b", _past_span),
        (r"\b(?P<which>last|past|previous|this|next)\s+(?P<period>weekend|week|month|year)\b",
         _calendar_period),
        (r"\b(?P<which>last|this\s+past|this|next|on)\s+(?P<weekday>monday|tuesday|"
         r"wednesday|thursday|friday|saturday|sunday)\b", _weekday),
        (r"\b(?P<which>last|this|next|in\s+the|during\s+the|over\s+the)\s+"
         r"(?P<season>spring|summer|fall|autumn|winter)\b", _season),
    )
)


_ABSOLUTE = frozenset({_iso, _month_date, _year})


def _find(text: str, anchor: datetime) -> list[tuple[int, TimeRange, bool]]:
    """(position, range, whether the expression is absolute — a calendar date, month
    or year — rather than relative to the anchor), in order of appearance."""
    work = text
    found: list[tuple[int, TimeRange, bool]] = []
    for pattern, handler in _RULES:
        for m in pattern.finditer(work):
            if not m.group(0).strip():
                continue
            outside = False
            try:
                got = handler(m, anchor)
            except (OverflowError, ValueError):  # a time before year 1 or after 9999
                got, outside = None, True
            if got is not None:
                found.append((m.start(), TimeRange(got.start, got.end,
                                                   text[m.start():m.end()].strip()),
                              handler in _ABSOLUTE))
            elif not outside:
                continue
            # consume the match so that weaker rules do not read it again
            work = work[: m.start()] + " " * (m.end() - m.start()) + work[m.end():]
    return sorted(found, key=lambda x: x[0])


def find_time_ranges(text: str, anchor: datetime) -> list[TimeRange]:
    """Every time expression in ``text`` resolved against ``anchor`` (the date the text
    was written or the question asked), in order of appearance. Each range carries the
    expression in ``text``."""
    return [r for _, r, _ in _find(text, anchor)]


def question_time_range(question: str, now: datetime) -> TimeRange | None:
    """The period a question asks about, relative to ``now`` (the question date): the
    span of every time expression in it, or None when it names no time. When the
    question names a calendar date as well as relative expressions ("last weekend
    before April 10, 2023"), the relative ones are resolved against that date.

    The period ends at least :data:`~agentmem.temporal.rerank.WIDEN_DAYS` inside the
    calendar (years 1 to 9999), its ends moved in where needed, so that it can be widened
    by that much: widened, it still covers every instant it covered before."""
    found = _find(question, now)
    absolute = [r for _, r, is_abs in found if is_abs]
    if absolute and len(absolute) < len(found):
        found = _find(question, absolute[0].start)
    ranges = [r for _, r, _ in found]
    if not ranges:
        return None
    pad = timedelta(days=WIDEN_DAYS)
    low, high = datetime.min + pad, datetime.max - pad
    return TimeRange(min(max(min(r.start for r in ranges), low), high),
                     max(min(max(r.end for r in ranges), high), low),
                     "; ".join(r.text for r in ranges))

"""MemoryBank's summaries and user portrait, written by the LLM.

Per user and per day with turns: an **event summary** of the day's dialogue and a
**personality note** (what the day shows of the user). From all the days: a **global
summary** and a **user portrait** (traits, and how best to respond). They are stored as
units of kind ``summary`` (event summaries) and ``portrait`` (personality notes and the
portrait), store ``bank``, so search finds them; the daily ones sit in session
``day:YYYY-MM-DD``, the global ones in session ``global``.

Updates are incremental: a day is (re)summarised when it has turns its summary has not
seen (the unit's ``position`` holds how many it saw), and the global pair is rebuilt
when any day changed. A failed LLM item leaves that summary as it was; nothing aborts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..llm import LLM, LLMRequest

__all__ = ["DAILY_SCHEMA", "GLOBAL_SCHEMA", "Profile", "Summaries", "Summarizer"]

log = logging.getLogger("agentmem")

STORE = "bank"
GLOBAL_SESSION = "global"
DAILY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 600},
                   "personality": {"type": "string", "maxLength": 400}},
    "required": ["summary", "personality"],
    "additionalProperties": False,
}
GLOBAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"summary": {"type": "string", "minLength": 1, "maxLength": 800},
                   "portrait": {"type": "string", "maxLength": 600}},
    "required": ["summary", "portrait"],
    "additionalProperties": False,
}
_DAILY = """Here is everything said on {day}:
{dialogue}

Write JSON with "summary": the events and facts of this day in a few sentences, with \
names, and "personality": what this day shows about the user's personality, mood and \
preferences (empty if nothing).
JSON:"""
_GLOBAL = """Daily summaries of the conversations with a user, oldest first:
{days}

Write JSON with "summary": one short overview of all the events, and "portrait": the \
user's personality traits and how best to respond to them.
JSON:"""


def day_session(day: date) -> str:
    """The session id the summaries of ``day`` are stored under."""
    return f"day:{day.isoformat()}"


@dataclass(frozen=True)
class Summaries:
    """MemoryBank's summaries and portrait, turned on with ``Memory(llm=...,
    summaries=Summaries())``. ``auto``: after each ``add``, summarise the days before
    the newest one that changed (a day is summarised once it is over); otherwise only
    :meth:`Memory.summarize` does. ``max_chars`` bounds the dialogue and the daily
    summaries put in one prompt (a small model's context is short)."""

    auto: bool = True
    max_tokens: int = 320
    max_chars: int = 4000


@dataclass(frozen=True)
class Profile:
    """What :meth:`Memory.profile` returns: the global summary and portrait, and the
    daily summaries and personality notes by day, oldest first (empty without an
    LLM or before anything was summarised)."""

    user_id: str
    summary: str = ""
    portrait: str = ""
    days: tuple[tuple[date, str, str], ...] = ()


class Summarizer:
    """Runs the summary prompts through ``llm`` (batched, JSON-schema constrained)."""

    def __init__(self, llm: LLM, config: Summaries) -> None:
        self.llm = llm
        self.config = config
        self.failures = 0

    def daily(self, days: Sequence[tuple[date, str]]) -> list[dict[str, str] | None]:
        """For (day, dialogue text) pairs: {"summary", "personality"} or None."""
        return self._run([_DAILY.format(day=d.isoformat(),
                                        dialogue=text[-self.config.max_chars:])
                          for d, text in days], DAILY_SCHEMA, "daily_summary")

    def overall(self, days: Sequence[tuple[date, str, str]]) -> dict[str, str] | None:
        """From (day, summary, personality) triples: {"summary", "portrait"} or None."""
        lines = [f"{d.isoformat()}: {s}" + (f" (personality: {p})" if p else "")
                 for d, s, p in days]
        text = "\n".join(lines)[-self.config.max_chars:]
        [out] = self._run([_GLOBAL.format(days=text)], GLOBAL_SCHEMA, "portrait")
        return out

    def _run(self, prompts: list[str], schema: dict[str, Any], operation: str
             ) -> list[dict[str, str] | None]:
        if not prompts:
            return []
        requests = [LLMRequest(messages=({"role": "user", "content": p},),
                               max_tokens=self.config.max_tokens, json_schema=schema,
                               operation=operation) for p in prompts]
        try:
            done = self.llm.complete(requests)
        except Exception as exc:  # a broken LLM never aborts the caller
            log.warning("%s failed for %d items (kept as they were): %r", operation,
                        len(prompts), exc)
            self.failures += len(prompts)
            return [None] * len(prompts)
        out: list[dict[str, str] | None] = []
        for c in done:
            value = {k: " ".join(str(v).split()) for k, v in c.parsed.items()} if (
                c.ok and isinstance(c.parsed, dict)) else {}
            if value.get("summary"):
                out.append(value)
            else:
                log.warning("%s: unusable model output (kept as it was): %s", operation,
                            c.error)
                self.failures += 1
                out.append(None)
        return out


def parse_day(session_id: str) -> date | None:
    """The day of a daily summary's session id, or None."""
    if session_id.startswith("day:"):
        try:
            return datetime.strptime(session_id[4:], "%Y-%m-%d").date()
        except ValueError:
            return None
    return None

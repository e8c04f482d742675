"""Prompts for answering from memory: LongMemEval's structured reader.

Retrieved memories are shown sorted by date, one block per session::

    ### Session 1:
    Session Date: 2023/05/20 (Sat) 10:00
    Session Content:
    [{"role": "user", "content": "..."}, ...]

with Chain-of-Note ("first extract the relevant information, then reason to the
answer"), which LongMemEval found worth up to 10 points with good retrieval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .types import Hit, MemoryUnit

__all__ = ["ReaderItem", "build_reader_prompt", "format_date", "format_history",
           "items_from_hits"]


def format_date(when: datetime) -> str:
    """LongMemEval's date format: ``2023/05/20 (Sat) 10:00``."""
    return when.strftime("%Y/%m/%d (%a) %H:%M")


@dataclass(frozen=True)
class ReaderItem:
    """One dated block of retrieved conversation: ``turns`` are ``{"role", "content"}``
    dicts (with ``"speaker"`` when the turn has a speaker name)."""

    session_id: str
    date: datetime
    turns: tuple[dict[str, str], ...]


def items_from_hits(hits: Sequence[Hit | MemoryUnit]) -> list[ReaderItem]:
    """Group hits (or units) by session, turns in conversation order, and sort the
    groups by date."""
    by_session: dict[tuple[str, str], dict[str, tuple[int, dict[str, str]]]] = {}
    first: dict[tuple[str, str], datetime] = {}
    for h in hits:
        key = (h.user_id, h.session_id)
        turns = by_session.setdefault(key, {})
        first[key] = min(first.get(key, h.timestamp), h.timestamp)
        if not h.turns or h.kind == "thought":
            # a thought is shown as the conclusion it states (TiM), not its source
            # turns; a unit without turns (a summary) by its text
            turns[h.id] = (-1, {"role": h.kind, "content": h.text})
            continue
        for t in h.turns:
            shown = {"role": t.role, "content": t.content}
            if t.name:
                shown = {"speaker": t.name, **shown}
            turns[t.id] = (t.position, shown)
    items = [
        ReaderItem(session_id=key[1], date=first[key],
                   turns=tuple(d for _, d in sorted(turns.values(), key=lambda x: x[0])))
        for key, turns in by_session.items()
    ]
    return sorted(items, key=lambda it: (it.date, it.session_id))


_HEADER = (
    "I will give you several history chats between you and a user. Please answer the "
    "question based on the relevant chat history."
)
_HEADER_SPEAKERS = (
    "I will give you several dated excerpts of past conversations. Please answer the "
    "question based on the relevant conversation history."
)
_CHAIN_OF_NOTE = (
    " Answer the question step by step: first extract all the relevant information, "
    "and then reason over the information to get the answer."
)


def format_history(items: Sequence[ReaderItem]) -> str:
    """The dated history block: one ``### Session i`` section per item (items already
    sorted by date), its turns as JSON."""
    blocks = [
        f"### Session {i}:\nSession Date: {format_date(it.date)}\nSession Content:\n"
        f"{json.dumps(list(it.turns), ensure_ascii=False)}\n"
        for i, it in enumerate(items, start=1)
    ]
    return "\n".join(blocks) if blocks else "(no relevant history found)\n"


def build_reader_prompt(question: str, items: Sequence[ReaderItem], *,
                        question_date: str | None = None, chain_of_note: bool = True,
                        portrait: str | None = None) -> str:
    """The reader prompt for ``question`` over ``items`` (already sorted by date);
    with ``portrait`` (MemoryBank's user portrait) shown before the history."""
    speakers = any("speaker" in t for it in items for t in it.turns)
    header = (_HEADER_SPEAKERS if speakers else _HEADER) + (
        _CHAIN_OF_NOTE if chain_of_note else "")
    history = format_history(items)
    date_line = f"Current Date: {question_date}\n" if question_date else ""
    answer_cue = "Answer (step by step):" if chain_of_note else "Answer:"
    about = f"User Portrait:\n{portrait}\n\n" if portrait else ""
    return (f"{header}\n\n\n{about}History Chats:\n\n{history}\n{date_line}"
            f"Question: {question}\n{answer_cue}")

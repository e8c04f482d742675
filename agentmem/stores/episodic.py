"""Episodic memory: the conversation itself, decomposed into turns, rounds or sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from ..errors import ConfigError
from ..types import GRANULARITIES, Turn
from .base import Derivation, UnitDraft

__all__ = ["EpisodicStore", "decompose", "render_turns"]


def render_turns(turns: Sequence[Turn]) -> str:
    """Text of a unit: one ``speaker: content`` line per turn (speaker = name or role)."""
    return "\n".join(f"{t.name or t.role}: {t.content}" for t in turns)


def decompose(turns: Sequence[Turn], granularity: str) -> list[list[Turn]]:
    """Split consecutive turns of one session into groups.

    - ``turn``: every turn alone;
    - ``round``: a user turn with the non-user turns that follow it (turns before the
      first user turn form a round of their own);
    - ``session``: all turns together.
    """
    if not turns:
        return []
    if granularity == "turn":
        return [[t] for t in turns]
    if granularity == "session":
        return [list(turns)]
    groups: list[list[Turn]] = []
    for t in turns:
        if t.role == "user" or not groups:
            groups.append([t])
        else:
            groups[-1].append(t)
    return groups


class EpisodicStore:
    """Stores the conversation as units of one granularity (``round`` by default).

    Both sides of the conversation are indexed. When turns arrive in several
    :meth:`Memory.add` calls, an open round (or the session unit) is re-derived with
    the new turns, so a reply added on its own still joins the question before it.
    """

    name = "episodic"

    def __init__(self, granularity: str = "round") -> None:
        if granularity not in GRANULARITIES:
            raise ConfigError(
                f"granularity: must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
            )
        self.granularity = granularity

    def tail_size(self) -> int | None:
        return {"turn": 0, "round": 1, "session": None}[self.granularity]

    def derive(
        self, tail: Sequence[tuple[str, Sequence[Turn]]], new_turns: Sequence[Turn]
    ) -> Derivation:
        replaced: list[str] = []
        turns = list(new_turns)
        if self.granularity == "session" and tail:
            replaced = [uid for uid, _ in tail]
            turns = [t for _, ts in tail for t in ts] + turns
        elif self.granularity == "round" and tail and turns and turns[0].role != "user":
            uid, ts = tail[-1]
            replaced = [uid]
            turns = list(ts) + turns
        drafts = tuple(
            UnitDraft(
                id=uuid.uuid4().hex,
                kind=self.granularity,
                text=render_turns(group),
                timestamp=group[0].timestamp,
                position=group[0].position,
                turns=tuple(group),
            )
            for group in decompose(turns, self.granularity)
        )
        return Derivation(new_units=drafts, replaced_unit_ids=tuple(replaced))

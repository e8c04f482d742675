"""Episodic memory: the conversation itself, decomposed into turns, rounds or sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from ..embed.cache import PARTS
from ..errors import ConfigError
from ..types import GRANULARITIES, Turn
from .base import Derivation, UnitDraft

__all__ = ["CONTEXT_VECTORS", "EpisodicStore", "decompose", "render_context", "render_turns"]

#: how a key's context is embedded (see :class:`EpisodicStore`)
CONTEXT_VECTORS: tuple[str, ...] = ("composed", "concatenated")


def render_turns(turns: Sequence[Turn]) -> str:
    """Text of a unit: one ``speaker: content`` line per turn (speaker = name or role).
    A record separator in a turn (:data:`~agentmem.embed.cache.PARTS`, which
    separates a composed key's parts) is rendered as a space."""
    return "\n".join(f"{t.name or t.role}: {t.content}".replace(PARTS, " ") for t in turns)


def render_context(units: Sequence[Sequence[Turn]], n: int, separator: str) -> str:
    """The last ``n`` turns of ``units`` (each unit's turns, in order), rendered unit by
    unit and joined by ``separator``: with ``"\n"`` the same as rendering the turns
    together; with :data:`~agentmem.embed.cache.PARTS` each unit's share is a part of
    its own (a whole unit's part is that unit's text, whose vector exists)."""
    parts: list[str] = []
    left = n
    for turns in reversed(units):
        if left <= 0:
            break
        take = list(turns)[-left:]
        parts.append(render_turns(take))
        left -= len(take)
    return separator.join(reversed(parts))


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

    ``context_turns`` (turn and round units): the key a unit is indexed under is its
    text followed by the session's ``context_turns`` turns before it, so that a reply
    ("Yes, last weekend, with the kids") is found by the words of what it answers. The
    unit's text, what search returns, stays its own turns. ``context_vectors`` says
    how the key is embedded: ``"composed"`` (the text and its context apart, their
    vectors composed: :data:`~agentmem.embed.cache.PARTS`) or ``"concatenated"`` (the
    key as one text).
    """

    name = "episodic"

    def __init__(self, granularity: str = "round", context_turns: int = 0,
                 context_vectors: str = "concatenated") -> None:
        if granularity not in GRANULARITIES:
            raise ConfigError(
                f"granularity: must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
            )
        if isinstance(context_turns, bool) or not isinstance(context_turns, int) \
                or context_turns < 0:
            raise ConfigError(f"context_turns: must be an int >= 0, got {context_turns!r}")
        if context_vectors not in CONTEXT_VECTORS:
            raise ConfigError(f"context_vectors: must be one of {', '.join(CONTEXT_VECTORS)}"
                              f", got {context_vectors!r}")
        self.granularity = granularity
        self.context_turns = context_turns if granularity != "session" else 0
        self.context_vectors = context_vectors
        #: between a key's text and its context
        self.separator = PARTS if context_vectors == "composed" else "\n"

    def tail_size(self) -> int | None:
        """How many of the session's last units :meth:`derive` needs (None: all)."""
        if self.granularity == "session":
            return None
        return max(1 if self.granularity == "round" else 0, self.context_turns)

    def derive(
        self, tail: Sequence[tuple[str, Sequence[Turn]]], new_turns: Sequence[Turn]
    ) -> Derivation:
        replaced: list[str] = []
        turns = list(new_turns)
        kept = list(tail)  # units before the new ones: context only
        if self.granularity == "session" and tail:
            replaced = [uid for uid, _ in tail]
            turns = [t for _, ts in tail for t in ts] + turns
            kept = []
        elif self.granularity == "round" and tail and turns and turns[0].role != "user":
            uid, ts = tail[-1]
            replaced = [uid]
            turns = list(ts) + turns
            kept = kept[:-1]
        before = [list(ts) for _, ts in kept]  # the units before, each its turns
        drafts: list[UnitDraft] = []
        for group in decompose(turns, self.granularity):
            text = render_turns(group)
            context = render_context(before, self.context_turns, self.separator)
            drafts.append(UnitDraft(
                id=uuid.uuid4().hex,
                kind=self.granularity,
                text=text,
                timestamp=group[0].timestamp,
                position=group[0].position,
                turns=tuple(group),
                key=f"{text}{self.separator}{context}" if context else None,
            ))
            before.append(list(group))
        return Derivation(new_units=tuple(drafts), replaced_unit_ids=tuple(replaced))

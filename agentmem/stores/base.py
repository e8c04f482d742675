"""The unit-store protocol: how retrievable units are derived from turns (the episodic
strategy, :class:`agentmem.strategies.Episodic`, runs it inside each write)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..types import Turn

__all__ = ["Derivation", "Store", "UnitDraft"]


@dataclass(frozen=True)
class UnitDraft:
    """A unit a store wants indexed: its text, time, and the turns behind it; ``key``
    is the text to index instead of ``text`` when it differs (an expanded key);
    ``parent_id`` marks a separate key row standing for another unit."""

    id: str
    kind: str
    text: str
    timestamp: datetime
    position: int
    turns: tuple[Turn, ...]
    key: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Derivation:
    """A store's answer to new turns: units to create and earlier units they replace."""

    new_units: tuple[UnitDraft, ...]
    replaced_unit_ids: tuple[str, ...] = ()


class Store(Protocol):
    """A memory strategy. The facade stores what :meth:`derive` returns, indexes it
    densely and lexically, and searches it per user."""

    name: str

    def tail_size(self) -> int | None:
        """How many of the session's latest units :meth:`derive` needs to see
        (``None``: all of them)."""
        ...

    def derive(
        self, tail: Sequence[tuple[str, Sequence[Turn]]], new_turns: Sequence[Turn]
    ) -> Derivation:
        """Units for ``new_turns``. ``tail`` holds the session's latest earlier units as
        (unit id, turns), oldest first; a store may replace some of them."""
        ...

"""The public methods the built-in strategies add to :class:`~agentmem.Memory`:
MemoryBank's (``maintain``, ``restore``, ``summarize``, ``profile``) and
Think-in-Memory's (``add_thoughts``, ``thoughts``, ``thought``, ``history``). Each
finds its strategy through :meth:`Memory.strategy` and delegates to it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from ..stores.bank import MaintenanceResult
from ..stores.summaries import Profile
from ..stores.thinking import ThoughtDraft
from ..stores.thoughts import ThoughtChange
from ..types import MemoryEvent, Thought
from .bank import MemoryBank
from .base import Strategy
from .thoughts import Thoughts

__all__ = ["MemoryBankMethods", "StrategyHost", "ThoughtMethods"]

S = TypeVar("S", bound=Strategy)


class StrategyHost:
    """A memory holding strategies (:class:`~agentmem.Memory`)."""

    def strategy(self, kind: type[S]) -> S:
        """This memory's strategy of class ``kind``."""
        raise NotImplementedError


class MemoryBankMethods(StrategyHost):
    """MemoryBank's part of the :class:`~agentmem.Memory` API."""

    # -- forgetting (MemoryBank) -----------------------------------------------------

    def maintain(self, *, now: str | datetime | None = None, user_id: str | None = None
                 ) -> MaintenanceResult:
        """MemoryBank's forgetting: archive every unit (of ``user_id``, or of every
        user) whose retention ``exp(-t / S)`` at ``now`` (default: UTC now) is below
        ``decay.threshold``. Deterministic; each archive is in :meth:`history`.
        Archived units stay stored, leave search results unless
        ``include_forgotten=True``, and come back with :meth:`restore`. Needs
        ``Memory(decay=...)`` (:class:`ConfigError` otherwise)."""
        return self.strategy(MemoryBank).maintain(now=now, user_id=user_id)

    def restore(self, id: str, *, now: str | datetime | None = None) -> None:
        """Bring back an archived unit (see :meth:`maintain`); its forgetting clock
        restarts at ``now``. Raises :class:`NotFound`, or :class:`InvalidInput` when
        the unit is not archived."""
        self.strategy(MemoryBank).restore(id, now=now)

    # -- summaries and portrait (MemoryBank) ------------------------------------------

    def summarize(self, user_id: str, *, before: date | None = None) -> int:
        """Bring ``user_id``'s MemoryBank summaries up to date: each day whose turns
        changed since its summary (only days before ``before``, when given) gets a new
        event summary and personality note, then the global summary and the portrait
        are rewritten from all the days. Incremental: unchanged days cost nothing.
        Returns the days summarised. Needs ``Memory(summaries=...)``."""
        return self.strategy(MemoryBank).summarize(user_id, before=before)

    def profile(self, user_id: str) -> Profile:
        """``user_id``'s MemoryBank profile: the global summary and portrait, and each
        day's event summary and personality note (empty before any summary)."""
        return self.strategy(MemoryBank).profile(user_id)


class ThoughtMethods(StrategyHost):
    """Think-in-Memory's part of the :class:`~agentmem.Memory` API."""

    # -- thoughts (Think-in-Memory) ---------------------------------------------------

    def add_thoughts(self, thoughts: Sequence[ThoughtDraft | dict[str, Any]], *,
                     user_id: str, timestamp: str | datetime | None = None
                     ) -> list[ThoughtChange]:
        """Add thoughts extracted elsewhere: :class:`~agentmem.stores.ThoughtDraft`
        values or dicts with ``head``, ``relation``, ``tail`` and optional ``text``,
        ``timestamp`` (default: ``timestamp``, else now), ``session_id`` and
        ``source_turn_ids`` (turns of this user). Each is inserted, merged into a near
        duplicate, or supersedes an older thought with the same head and relation
        (TiM's insert / merge / forget); the returned changes say which. Everything is
        validated first: bad input raises :class:`InvalidInput` and adds nothing."""
        return self.strategy(Thoughts).add(thoughts, user_id=user_id, timestamp=timestamp)

    def thoughts(self, user_id: str, *, status: str | Sequence[str] = "active"
                 ) -> list[Thought]:
        """``user_id``'s thoughts with this status (``active``, ``merged``,
        ``forgotten``, or a list of them), oldest first."""
        return self.strategy(Thoughts).listing(user_id, status=status)

    def thought(self, id: str) -> Thought:
        """The thought with this id (any status). Raises :class:`NotFound`."""
        return self.strategy(Thoughts).get(id)

    def history(self, id: str) -> list[MemoryEvent]:
        """The audit history of a thought or a unit, oldest first: a thought's insert
        and every merge, forget, supersede and restore it took part in; a unit's
        archives and restores (:meth:`maintain`). Raises :class:`NotFound`."""
        return self.strategy(Thoughts).history(id)


"""The memory-strategy protocol: one base class with the lifecycle every strategy
needs, each hook defaulted so that a strategy overrides only what it does.

The facade (:class:`~agentmem.Memory`) holds a list of strategies and calls, in list
order:

- ``open(engine)`` once, before anything else (settle fixed settings with
  ``engine.settle``);
- ``on_write(tx, batch)`` inside the transaction that stores new turns; it may return
  a job to run after the commit, outside the write lock (LLM work goes there);
- ``on_units(tx, user_id, added, replaced)`` when another strategy's units replace
  earlier ones;
- ``recall(query, vector)`` for each search (a strategy with items of its own), and
  ``stages()`` once, to add ranking stages; ``on_recalled(hits, query)`` after a search;
- ``on_delete(tx, scope)`` inside a deletion's transaction, after the units went and
  before the turns go (returns content hashes to erase); ``delete_own(tx, id)`` for an
  id that names the strategy's own item;
- ``export(conn, user_id)`` / ``import_(tx, records)``: the strategy's own records in
  an export file (the built-ins' records are the file's core types);
- ``reindex()`` after the units' indexes were rebuilt; ``stats(conn)``; ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._core.deletion import DeleteScope
from .._core.engine import Engine, WriteTx
from ..errors import InvalidInput
from ..ranking import RecallQuery, Stage
from ..stores.base import UnitDraft
from ..types import Hit, TimeRange, Turn

__all__ = ["DeleteScope", "Strategy", "WriteBatch"]

#: a job a strategy asks to run after a write committed (outside the write lock)
AfterWrite = Callable[[], object]


@dataclass(frozen=True)
class WriteBatch:
    """New turns of one session, as :meth:`Memory.add` stores them."""

    user_id: str
    session_id: str
    turns: tuple[Turn, ...]


class Strategy:
    """A memory strategy. Subclasses set ``name`` (unique in a memory) and override the
    hooks they need; every hook has a harmless default. ``requires_llm``: why the
    memory must have an LLM (the :class:`~agentmem.errors.ConfigError` message), or
    None. ``rewrites_keys``: the job ``on_write`` returns rewrites the new
    units' keys, so the dense index is synced after it rather than before (each unit is
    embedded once)."""

    name: str = ""
    #: what its after-write job is called in logs and ``stats().last_index_error``
    #: (default: ``name``)
    label: str = ""
    requires_llm: str | None = None
    rewrites_keys: bool = False
    engine: Engine

    def open(self, engine: Engine) -> None:
        """Called once when the memory opens; keeps ``engine``."""
        self.engine = engine

    def on_write(self, tx: WriteTx, batch: WriteBatch) -> AfterWrite | None:
        """New turns, inside their transaction; may return a job for after the
        commit."""
        return None

    def on_units(self, tx: WriteTx, user_id: str, added: Sequence[UnitDraft],
                 replaced: Sequence[str]) -> Callable[[], None] | None:
        """Units ``added`` are about to replace ``replaced`` (still there); what it
        returns runs once the old are dropped and the new inserted."""
        return None

    def recall(self, query: RecallQuery, vector: np.ndarray | None) -> Mapping[str, float]:
        """The strategy's own items for ``query`` (id to raw score, best first)."""
        return {}

    def in_period(self, conn: Any, ids: Sequence[str], period: TimeRange) -> set[str]:
        """Those of the strategy's own ``ids`` dated inside ``period``."""
        return set()

    def load_hits(self, conn: Any, scored: Sequence[tuple[str, float]], user_id: str,
                  raw: Mapping[str, float]) -> dict[str, Hit]:
        """Hits for the strategy's own items among ``scored`` (id, fused score)."""
        return {}

    def stages(self) -> Sequence[Stage]:
        """Ranking stages this strategy adds (placed by their ``position``)."""
        return ()

    def on_recalled(self, hits: list[Hit], query: RecallQuery) -> list[Hit]:
        """After a search returned ``hits`` (a side effect such as reinforcement may
        run here, in its own short transaction)."""
        return hits

    def guard(self) -> AbstractContextManager[Any]:
        """A lock held around deletions and imports (taken before their
        transaction)."""
        return nullcontext()

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """Remove what the strategy derived from the deleted turns or user; returns
        content hashes that may now be unused (the facade erases them)."""
        return ()

    def delete_own(self, tx: WriteTx, id: str) -> Sequence[str] | None:
        """Delete the strategy's own item ``id``: the hashes to erase, or None when
        ``id`` is not one of its items."""
        return None

    def export(self, conn: Any, user_id: str | None) -> Iterable[dict[str, Any]]:
        """The strategy's own records for an export (of ``user_id``, or of every
        user): JSON-serialisable dicts, written as records of type ``strategy``."""
        return ()

    def import_(self, tx: WriteTx, records: Sequence[dict[str, Any]]) -> None:
        """Records :meth:`export` wrote, inside the import's transaction (after the
        turns and units are in). Raise :class:`~agentmem.errors.InvalidInput` for a bad
        one: nothing of the import is then kept."""
        if records:
            raise InvalidInput("strategy", f"the {self.name!r} strategy does not import "
                                           "records")

    def reindex(self) -> None:
        """Rebuild what the strategy derived from SQL (after the units' indexes were
        rebuilt, or the embedder changed)."""

    def stats(self, conn: Any) -> dict[str, int]:
        """Counts for :meth:`Memory.stats` (``strategies[name]``)."""
        return {}

    def close(self) -> None:
        """Release what the strategy holds."""

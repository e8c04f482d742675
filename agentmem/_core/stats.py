""":meth:`Memory.stats`: the engine's counts, and each strategy's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from ..storage.schema import embeddings, index_tombstones, sessions, turns, units, users
from ..types import THOUGHT_STATUSES, MemoryStats
from .engine import Engine

__all__ = ["memory_stats"]


class Counts(Protocol):
    """A strategy, as stats sees it."""

    name: str

    def stats(self, conn: Any) -> dict[str, int]:
        """The strategy's counts."""
        ...


def memory_stats(engine: Engine, strategies: Sequence[Counts], *, granularity: str
                 ) -> MemoryStats:
    """Counts of users, sessions, turns and units, cache and repair state, and each
    strategy's counts (``strategies``)."""
    with engine.db.connect() as conn:
        def count(table: sa.Table, *where: Any) -> int:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())

        by_kind: dict[str, int] = dict(conn.execute(
            sa.select(units.c.kind, sa.func.count()).group_by(units.c.kind)).all())
        own = {s.name: s.stats(conn) for s in strategies}
        stats = MemoryStats(
            users=count(users),
            sessions=count(sessions),
            turns=count(turns),
            units={str(k): int(v) for k, v in by_kind.items()},
            embeddings_cached=count(embeddings, embeddings.c.model == engine.embedder.name),
            pending_index_repairs=count(units, units.c.dense_pending.is_(True),
                                        units.c.index_error.is_(None))
            + count(index_tombstones),
            index_failed=count(units, units.c.index_error.is_not(None)),
            last_index_error=engine.last_error,
            granularity=granularity,
            embedder=engine.embedder.name,
            storage_bytes=engine.db.size_bytes(),
            database_url=engine.db.engine.url.render_as_string(hide_password=True),
            llm=engine.llm.name if engine.llm is not None else None,
            llm_usage=engine.llm.usage() if engine.llm is not None else {},
            thoughts={k: v for k, v in own.get("thoughts", {}).items()
                      if k in THOUGHT_STATUSES},
            llm_failures={"key_expansion": own.get("keys", {}).get("llm_failures", 0),
                          "thoughts": own.get("thoughts", {}).get("llm_failures", 0)},
            strategies=own,
        )
    return stats

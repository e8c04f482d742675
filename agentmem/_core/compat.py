"""Read-only views of a memory's parts (``mem.db``, ``mem.dense``, ``mem.store``,
``mem.thought_store`` …), kept from the facade's earlier layout for tests, benchmarks
and debugging. Extensions use :meth:`Memory.strategy` and :mod:`agentmem.ext`."""

from __future__ import annotations

from typing import Any

from ..errors import AgentMemError
from ..index import ChromaIndex, LexicalIndex
from ..storage.database import Database
from .engine import Engine

__all__ = ["Internals"]


class Internals:
    """The parts of a :class:`~agentmem.Memory`, read through its engine and its
    strategies (looked up by name)."""

    _engine: Engine | None
    _strategies: list[Any]

    def _parts(self) -> Engine:
        if self._engine is None:
            raise AgentMemError("this Memory is closed")
        return self._engine

    def _named(self, name: str) -> Any:
        return next((s for s in self._strategies if s.name == name), None)

    @property
    def db(self) -> Database:
        """The SQL database (the source of truth)."""
        return self._parts().db

    @property
    def dense(self) -> ChromaIndex:
        """The dense index (Chroma)."""
        return self._parts().dense

    @property
    def lexical(self) -> LexicalIndex | None:
        """The lexical index (FTS5 / PostgreSQL full text), or None."""
        return self._parts().lexical

    @property
    def embedder(self) -> Any:
        """The embedder, behind its SQL cache."""
        return self._parts().embedder

    @property
    def store(self) -> Any:
        """The episodic unit store (granularity, context turns)."""
        return self._named("episodic").store

    @property
    def expander(self) -> Any:
        """The key expander, or None without ``keys=``."""
        keys = self._named("keys")
        return keys.expander if keys is not None else None

    @property
    def thought_store(self) -> Any:
        """The Think-in-Memory thought store."""
        return self._named("thoughts").store

    @property
    def post_think(self) -> bool:
        """Whether post-thinking runs after each exchange."""
        return bool(self._named("thoughts").post_think)

    @property
    def thought_weight(self) -> float:
        """The thoughts' weight in the fusion with the units."""
        return float(self._named("thoughts").weight)

    @property
    def summarizer(self) -> Any:
        """MemoryBank's summarizer, or None without ``summaries=``."""
        return self._named("bank").summarizer

    @property
    def decay(self) -> Any:
        """MemoryBank's forgetting curve, or None."""
        return self._named("bank").decay

    @property
    def keys(self) -> Any:
        """The key expansion settings, or None."""
        keys = self._named("keys")
        return keys.config if keys is not None else None

    def _sync_index(self, progress: Any = None) -> None:
        """Bring the dense index in line with SQL now (never raises)."""
        self._parts().sync(progress)

    def _collection(self, store: str, user_id: str) -> str:
        """The Chroma collection of a user's units (every store shares it)."""
        return self._parts().collection(user_id)

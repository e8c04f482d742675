"""Dense vector index in Chroma: one collection per (store, user), cosine space.

Chroma holds only unit ids and vectors — never text, never a raw user id (collection
names carry a hash of it) — so deleting in SQL and dropping the vectors leaves no
trace of the content in Chroma's files. Collections are created with no embedding
function: agentmem always passes its own vectors. Every call into an embedded Chroma
runs under :func:`~agentmem.index.heap.fresh_allocations`, so the index files it writes
never carry freed memory (text included) of this process.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.errors import NotFoundError

from ..errors import BackendError, ConfigError
from .heap import fresh_allocations

__all__ = ["ChromaIndex"]

_UPSERT_BATCH = 4096


class ChromaIndex:
    """Vectors in Chroma, embedded (persistent folder or in memory) or on a server."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        prefix: str = "agentmem",
    ) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self.ephemeral = False
        self.embedded = host is None
        try:
            with self._fresh():
                if host is not None:
                    self.client = chromadb.HttpClient(host=host, port=port, settings=settings)
                    self.client.heartbeat()
                    self.location = f"http://{host}:{port}"
                elif path is not None:
                    self.client = chromadb.PersistentClient(path=str(path), settings=settings)
                    self.location = str(path)
                else:
                    # Ephemeral clients share state inside a process: a random prefix
                    # keeps every in-memory Memory to itself.
                    self.client = chromadb.EphemeralClient(settings=settings)
                    prefix = f"{prefix}-{uuid.uuid4().hex[:12]}"
                    self.ephemeral = True
                    self.location = "memory"
        except Exception as exc:
            where = f"{host}:{port}" if host is not None else str(path or "memory")
            raise BackendError(f"cannot reach Chroma at {where}: {exc}") from exc
        if not prefix or not prefix[0].isalnum():
            raise ConfigError(f"chroma prefix: must start with a letter or digit, got {prefix!r}")
        self.prefix = prefix
        self._collections: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _fresh(self) -> AbstractContextManager[None]:
        """Calls into an embedded Chroma allocate no previously freed memory."""
        return fresh_allocations() if self.embedded else nullcontext()

    def collection_name(self, store: str, user_id: str) -> str:
        """Name of the collection holding ``user_id``'s vectors for ``store``."""
        digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]
        return f"{self.prefix}-{store}-{digest}"

    def _get(self, name: str, *, create: bool) -> Any | None:
        with self._lock, self._fresh():
            col = self._collections.get(name)
            if col is not None:
                return col
            try:
                if create:
                    col = self.client.get_or_create_collection(
                        name,
                        embedding_function=None,
                        configuration={"hnsw": {"space": "cosine"}},
                    )
                else:
                    col = self.client.get_collection(name, embedding_function=None)
            except NotFoundError:
                return None
            except Exception as exc:
                raise BackendError(f"Chroma collection {name!r}: {exc}") from exc
            self._collections[name] = col
            return col

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Insert or replace vectors by unit id."""
        if not ids:
            return
        col = self._get(collection, create=True)
        assert col is not None
        try:
            with self._fresh():
                for i in range(0, len(ids), _UPSERT_BATCH):
                    col.upsert(ids=list(ids[i : i + _UPSERT_BATCH]),
                               embeddings=vectors[i : i + _UPSERT_BATCH])
        except Exception as exc:
            raise BackendError(f"Chroma upsert into {collection!r} failed: {exc}") from exc

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove vectors by unit id (missing ids are ignored)."""
        if not ids:
            return
        col = self._get(collection, create=False)
        if col is None:
            return
        try:
            with self._fresh():
                for i in range(0, len(ids), _UPSERT_BATCH):
                    col.delete(ids=list(ids[i : i + _UPSERT_BATCH]))
        except Exception as exc:
            raise BackendError(f"Chroma delete from {collection!r} failed: {exc}") from exc

    def drop(self, collection: str) -> None:
        """Delete a whole collection (no error if absent)."""
        with self._lock, self._fresh():
            self._collections.pop(collection, None)
            try:
                self.client.delete_collection(collection)
            except NotFoundError:
                pass
            except Exception as exc:
                raise BackendError(f"Chroma drop of {collection!r} failed: {exc}") from exc

    def drop_all(self) -> None:
        """Delete every collection of this memory (its prefix)."""
        for name in self.collections():
            self.drop(name)

    def collections(self) -> list[str]:
        """Names of this memory's collections."""
        try:
            with self._fresh():
                found = self.client.list_collections()
        except Exception as exc:
            raise BackendError(f"Chroma list_collections failed: {exc}") from exc
        names = [c if isinstance(c, str) else c.name for c in found]
        return [n for n in names if n.startswith(self.prefix + "-")]

    def query(self, collection: str, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """Up to ``n`` (unit id, cosine similarity) pairs, most similar first."""
        col = self._get(collection, create=False)
        if col is None:
            return []
        try:
            # n may exceed the collection's size: Chroma returns what there is.
            with self._fresh():
                res = col.query(query_embeddings=vector.reshape(1, -1), n_results=n,
                                include=["distances"])
        except Exception as exc:
            raise BackendError(f"Chroma query on {collection!r} failed: {exc}") from exc
        ids = res["ids"][0]
        dists = res["distances"][0] if res.get("distances") else [1.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]

    def count(self, collection: str) -> int:
        """Vectors in a collection (0 if absent)."""
        col = self._get(collection, create=False)
        if col is None:
            return 0
        with self._fresh():
            return int(col.count())

    def close(self) -> None:
        """Drop in-memory collections; release cached handles."""
        if self.ephemeral:
            self.drop_all()
        self._collections.clear()

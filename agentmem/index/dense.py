"""Dense vector index in Chroma: a fixed number of shared collections per store,
cosine space, every vector tagged with its owner.

A user's vectors live in one of ``shards`` collections of the store, chosen by a hash
of the user id, and carry that hash as metadata (``u``); a query is filtered on it, so
each user sees only their own vectors. (Chroma's filter costs grow with the vectors it
matches, so a user who fills much of a collection is queried unfiltered and widened,
their own kept afterwards: :meth:`ChromaIndex.query`.) The cost of the index therefore does not grow
with the number of users: thousands of users share the same few collections, files and
open descriptors (one collection per user cost a folder, ~4 descriptors and ~2.6 MB of
resident memory each, never released; see docs/performance.md).

Chroma holds only unit ids, vectors and the owner hash — never text, never a raw user
id — so deleting in SQL and dropping the vectors leaves no text in Chroma's files.
Collections are created with no embedding function: agentmem always passes its own
vectors. Every call into an embedded Chroma runs under
:func:`~agentmem.index.heap.fresh_allocations`, so the index files it writes never
carry freed memory (text included) of this process. A collection another process
dropped (``reindex`` there) is looked up again, not reported as an error.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from chromadb.errors import NotFoundError

from ..errors import BackendError, ConfigError
from .heap import fresh_allocations

__all__ = ["DEFAULT_SHARDS", "ChromaIndex"]

log = logging.getLogger("agentmem")

_UPSERT_BATCH = 4096
_PAGE = 10_000
#: the most results an unfiltered query is widened to (then filtered by owner)
_WIDEST = 1000
#: seconds a collection's vector count is trusted before it is counted again
_COUNT_TTL = 60.0
#: collections per store in a new memory
DEFAULT_SHARDS = 16
T = TypeVar("T")


def user_key(user_id: str) -> str:
    """The owner tag of a user's vectors: a hash, never the id itself."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:32]


class ChromaIndex:
    """Vectors in Chroma, embedded (persistent folder or in memory) or on a server.

    An embedded folder whose Chroma files cannot be opened (corrupt) is moved aside
    (``chroma.corrupt-<time>``, with a warning) and started afresh; the memory then
    rebuilds the vectors from SQL. ``repaired`` says so.
    """

    def __init__(
        self,
        *,
        path: Path | None = None,
        host: str | None = None,
        port: int = 8000,
        prefix: str = "agentmem",
        shards: int = DEFAULT_SHARDS,
    ) -> None:
        if not prefix or not prefix[0].isalnum():
            raise ConfigError(f"chroma prefix: must start with a letter or digit, got {prefix!r}")
        if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 1024:
            raise ConfigError(f"shards: must be an int in 1..1024, got {shards!r}")
        self.ephemeral = False
        self.embedded = host is None
        self.shards = shards
        self.repaired: str | None = None
        try:
            self.client = self._connect(path, host, port)
        except Exception as exc:
            if path is None or host is not None or not path.exists() or not _corrupt(exc):
                where = f"{host}:{port}" if host is not None else str(path or "memory")
                raise BackendError(f"cannot reach Chroma at {where}: {exc}") from exc
            aside = path.with_name(
                f"{path.name}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S%f}")
            log.warning("the Chroma index at %s cannot be opened (%s): moved aside to %s "
                        "and rebuilt from SQL; delete that folder once you no longer "
                        "need it", path, exc, aside)
            _forget_system(path)
            try:
                shutil.move(str(path), str(aside))
            except OSError as move_exc:
                raise BackendError(f"the Chroma index at {path} cannot be opened ({exc}) "
                                   f"nor moved aside: {move_exc}") from move_exc
            self.repaired = str(aside)
            try:
                self.client = self._connect(path, None, port)
            except Exception as exc2:
                raise BackendError(f"cannot open Chroma at {path}: {exc2}") from exc2
        if self.ephemeral:
            # Ephemeral clients share state inside a process: a random prefix keeps
            # every in-memory Memory to itself.
            prefix = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.prefix = prefix
        self._collections: dict[str, Any] = {}
        self._totals: dict[str, tuple[float, int]] = {}  # name: (counted at, vectors)
        self._lock = threading.RLock()

    def _connect(self, path: Path | None, host: str | None, port: int) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        with self._fresh():
            if host is not None:
                client = chromadb.HttpClient(host=host, port=port, settings=settings)
                client.heartbeat()
                self.location = f"http://{host}:{port}"
            elif path is not None:
                client = chromadb.PersistentClient(path=str(path), settings=settings)
                client.list_collections()  # reads the files: a corrupt one fails here
                self.location = str(path)
            else:
                client = chromadb.EphemeralClient(settings=settings)
                self.ephemeral = True
                self.location = "memory"
        return client

    def _fresh(self) -> AbstractContextManager[None]:
        """Calls into an embedded Chroma allocate no previously freed memory."""
        return fresh_allocations() if self.embedded else nullcontext()

    def collection_name(self, store: str, user_id: str) -> str:
        """Name of the collection holding ``user_id``'s vectors for ``store`` (shared
        with the other users of its shard)."""
        shard = int(user_key(user_id)[:8], 16) % self.shards
        return f"{self.prefix}-{store}-s{shard:03d}"

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

    def _call(self, name: str, what: str, fn: Callable[[Any], T], *, create: bool,
              absent: T) -> T:
        """``fn(collection)``; a collection dropped since it was cached (by another
        process) is looked up once more (and created again when ``create``)."""
        for attempt in (0, 1):
            col = self._get(name, create=create)
            if col is None:
                return absent
            try:
                with self._fresh():
                    return fn(col)
            except NotFoundError as exc:
                with self._lock:
                    self._collections.pop(name, None)
                if attempt and create:  # a write must not vanish silently
                    raise BackendError(f"Chroma {what} on {name!r} failed: {exc}") from exc
                if attempt:
                    return absent
            except Exception as exc:
                with self._lock:
                    self._collections.pop(name, None)
                raise BackendError(f"Chroma {what} on {name!r} failed: {exc}") from exc
        return absent  # pragma: no cover - the loop returns

    def upsert(self, collection: str, ids: Sequence[str], vectors: np.ndarray, *,
               user_id: str) -> None:
        """Insert or replace ``user_id``'s vectors by unit id."""
        if not ids:
            return
        tag = {"u": user_key(user_id)}

        def run(col: Any) -> None:
            for i in range(0, len(ids), _UPSERT_BATCH):
                part = list(ids[i : i + _UPSERT_BATCH])
                col.upsert(ids=part, embeddings=vectors[i : i + _UPSERT_BATCH],
                           metadatas=[tag] * len(part))

        self._call(collection, "upsert", run, create=True, absent=None)
        self._adjust(collection, len(ids))  # an estimate: replaced ids counted too

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Remove vectors by unit id (missing ids are ignored)."""
        if not ids:
            return

        def run(col: Any) -> None:
            for i in range(0, len(ids), _UPSERT_BATCH):
                col.delete(ids=list(ids[i : i + _UPSERT_BATCH]))

        self._call(collection, "delete", run, create=False, absent=None)
        self._adjust(collection, -len(ids))

    def delete_user(self, collection: str, user_id: str) -> None:
        """Remove every vector of ``user_id`` from a collection."""
        self._call(collection, "delete", lambda col: col.delete(
            where={"u": user_key(user_id)}), create=False, absent=None)
        with self._lock:
            self._totals.pop(collection, None)

    def drop(self, collection: str) -> None:
        """Delete a whole collection (no error if absent)."""
        with self._lock, self._fresh():
            self._collections.pop(collection, None)
            self._totals.pop(collection, None)
            try:
                self.client.delete_collection(collection)
            except (NotFoundError, ValueError):
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
        # exactly this memory's names: "prod" must not claim "prod-eu"'s collections
        own = re.compile(re.escape(self.prefix) + r"-[a-z]+-(s\d{3}|[0-9a-f]{32})")
        return [n for n in names if own.fullmatch(n)]

    def query(self, collection: str, vector: np.ndarray, n: int, *, user_id: str,
              owned: int | None = None) -> list[tuple[str, float]]:
        """Up to ``n`` of ``user_id``'s (unit id, cosine similarity) pairs, most
        similar first.

        ``owned`` (how many vectors the user has) lets an owner who fills much of the
        shared collection skip Chroma's ``where`` filter, whose cost grows with the
        vectors it matches (~200 ms at 90k of 100k, against ~3 ms unfiltered:
        ``eval/probe_chroma_where.py``): the query is widened by the owner's share
        (at most ``_WIDEST`` results) and filtered by owner afterwards. When at least
        ``n`` of theirs come back, they are the owner's ``n`` nearest; otherwise the
        filtered query answers. Both are HNSW searches, approximate in their own ways:
        over the same graph they agree but for near ties at the margin."""
        key = user_key(user_id)
        if owned:
            total = self._total(collection)
            wide = min(total, math.ceil(n * 1.5 * total / owned) + 10) if total else 0
            if 0 < wide <= _WIDEST:
                res = self._call(collection, "query", lambda col: col.query(
                    query_embeddings=vector.reshape(1, -1), n_results=wide,
                    include=["distances", "metadatas"]), create=False, absent=None)
                if res is None:
                    return []
                metas = res["metadatas"][0] if res.get("metadatas") else []
                mine = [(i, 1.0 - float(d)) for i, d, m in zip(
                    res["ids"][0], res["distances"][0], metas, strict=True)
                    if m is not None and m.get("u") == key]
                if len(mine) >= n or len(res["ids"][0]) < wide:
                    return mine[:n]
        # n may exceed the user's vectors: Chroma returns what there is.
        res = self._call(collection, "query", lambda col: col.query(
            query_embeddings=vector.reshape(1, -1), n_results=n,
            where={"u": key}, include=["distances"]),
            create=False, absent=None)
        if res is None:
            return []
        ids = res["ids"][0]
        dists = res["distances"][0] if res.get("distances") else [1.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]

    def _total(self, collection: str) -> int:
        """The vectors in a collection, every user's: counted at most once a minute
        (13 ms at 100k), adjusted by this process's writes in between. An estimate
        that only chooses how :meth:`query` asks."""
        now = time.monotonic()
        with self._lock:
            cached = self._totals.get(collection)
        if cached is not None and now - cached[0] < _COUNT_TTL:
            return cached[1]
        total = self.count(collection)
        with self._lock:
            self._totals[collection] = (now, total)
        return total

    def _adjust(self, collection: str, delta: int) -> None:
        with self._lock:
            cached = self._totals.get(collection)
            if cached is not None:
                self._totals[collection] = (cached[0], max(0, cached[1] + delta))

    def count(self, collection: str, *, user_id: str | None = None) -> int:
        """Vectors in a collection, or of one user in it (0 if absent)."""
        if user_id is None:
            return self._call(collection, "count", lambda col: int(col.count()),
                              create=False, absent=0)
        return len(self.ids(collection, user_id=user_id))

    def ids(self, collection: str, *, user_id: str | None = None) -> set[str]:
        """The unit ids in a collection (of one user, when given)."""
        where = {"u": user_key(user_id)} if user_id is not None else None

        def run(col: Any) -> set[str]:
            found: set[str] = set()
            offset = 0
            while True:
                page = col.get(where=where, include=[], limit=_PAGE, offset=offset)
                found.update(page["ids"])
                if len(page["ids"]) < _PAGE:
                    return found
                offset += _PAGE

        return self._call(collection, "get", run, create=False, absent=set())

    def close(self, *, release_files: bool = False) -> None:
        """Drop in-memory collections; release cached handles. ``release_files`` (the
        last user of an embedded folder in this process) also stops Chroma's system
        for the folder, closing its files."""
        if self.ephemeral:
            self.drop_all()
        self._collections.clear()
        if release_files and self.embedded and not self.ephemeral:
            _forget_system(Path(self.location))


def _corrupt(exc: BaseException) -> bool:
    """Whether Chroma failed to open its folder because the files are damaged (as
    opposed to the environment: descriptors, space, permissions)."""
    text = str(exc).lower()
    return any(w in text for w in ("not a database", "malformed", "corrupt",
                                   "unexpected end", "invalid magic", "failed to load"))


def _forget_system(path: Path) -> None:
    """Chroma keeps one client system per folder and process; a folder moved aside
    must not be served from it."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        systems = SharedSystemClient._identifier_to_system
        system = systems.pop(str(path), None)
        if system is not None:
            system.stop()
    except Exception:  # pragma: no cover - a Chroma without that cache
        pass

"""Content-hash embedding cache kept in SQL: the same text is never embedded twice."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from tqdm.auto import tqdm

from ..errors import EmbeddingError
from ..storage.database import Database
from ..storage.repository import insert_missing
from ..storage.schema import embeddings, units
from ..storage.scope import VectorCache
from .base import Embedder

__all__ = ["CONTEXT_WEIGHT", "PARTS", "CachedEmbedder", "DiskCachedEmbedder", "content_hash",
           "split_parts"]

log = logging.getLogger("agentmem")

PROGRESS_THRESHOLD = 256
#: separates a composed key's own text from its context (ASCII record separator)
PARTS = "\x1e"
#: the weight of a composed key's context vector against its own text's
CONTEXT_WEIGHT = 0.3


def split_parts(text: str) -> tuple[str, tuple[str, ...]] | None:
    """A composed key's own text and its context's parts (one per unit the context
    comes from), or None for a plain text."""
    own, *context = text.split(PARTS)
    return (own, tuple(context)) if context else None


def content_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an :class:`Embedder` with a cache by (model name, content hash) in SQL.

    Stored content goes through :meth:`embed_stored` (persisted cache). Queries go
    through :meth:`embed_query`, cached in process memory only, so nothing about a
    query is written to disk.
    """

    def __init__(self, embedder: Embedder, db: Database, *, chunk: int = 256,
                 query_cache_size: int = 1024) -> None:
        self.embedder = embedder
        self.db = db
        self.chunk = chunk
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        #: stored vectors held in memory for exact search (dropped on purge)
        self.vectors = VectorCache()
        self._query_cache_size = query_cache_size
        #: texts served from the cache / embedded by the model, since construction
        self.hits = 0
        self.embedded = 0

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def lookup(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for the given hashes (missing ones are absent)."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        with self.db.connect() as conn:
            for i in range(0, len(wanted), 500):
                rows = conn.execute(
                    sa.select(embeddings.c.content_hash, embeddings.c.vector).where(
                        embeddings.c.model == self.name,
                        embeddings.c.content_hash.in_(wanted[i : i + 500]),
                    )
                )
                for h, blob in rows:
                    found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def checked(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The embedder's vectors for ``texts``, checked, and a mask of the unusable
        rows (not finite, or zero). Any array-like of shape ``(len(texts), dim)`` the
        embedder returns is accepted (converted to float32). Raises
        :class:`EmbeddingError` when the embedder fails or its output is not such a
        matrix."""
        try:
            out = self.embedder.embed(list(texts))
        except Exception as exc:
            raise EmbeddingError(f"embedder {self.name!r} failed: {exc}") from exc
        try:
            arr = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise EmbeddingError(f"embedder {self.name!r} returned {type(out).__name__}, "
                                 f"not a matrix of numbers: {exc}") from None
        if arr.shape != (len(texts), self.dim):
            raise EmbeddingError(f"embedder {self.name!r} returned vectors of shape "
                                 f"{arr.shape} for {len(texts)} texts; expected "
                                 f"({len(texts)}, {self.dim}) (its dim)")
        bad: np.ndarray = np.zeros(len(texts), dtype=bool)
        if len(texts):
            bad = np.asarray(~np.isfinite(arr).all(axis=1) | ~arr.any(axis=1))
        return arr, bad

    def embed_stored(self, texts: Sequence[str], *, progress: bool | None = None,
                     composed: Collection[int] = ()) -> np.ndarray:
        """Vectors for texts that are (about to be) stored; misses are embedded in
        batches and written to the cache. Only usable vectors are cached: when the
        embedder returns a non-finite or zero vector, :class:`EmbeddingError` is raised
        (its ``bad`` naming those texts' positions) after the usable ones were cached.

        A composed key (own text, :data:`PARTS`, context; the positions ``composed``
        name: any other text is embedded as it is) is not embedded whole: its
        vector is ``normalize(e(own) + CONTEXT_WEIGHT * e(context))``, where
        ``e(context)`` is the mean of its parts' vectors, one part per unit the context
        comes from. The own text is the unit's, embedded once and cached under its own
        hash; a context part is usually a whole unit before it (a round's two context
        turns are the round before it), whose vector is cached already. So a unit
        costs about one embedding of its own text, not of its text and its context."""
        hashes = [content_hash(t) for t in texts]
        vectors = self.lookup(hashes)
        missing: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in vectors:
                missing.setdefault(h, t)
        self.hits += len(vectors)
        keys = {hashes[i] for i in composed}
        parted = {h: parts for h, t in missing.items()
                  if h in keys and (parts := split_parts(t))}
        plain = {h: t for h, t in missing.items() if h not in parted}
        contexts = self._owns(parted, plain, vectors) if parted else {}
        refused = self._embed_missing(plain, vectors, progress)
        if parted:
            context = self._contexts(contexts, vectors)
            rows = []
            for h, (own, ctx) in parted.items():
                mine = vectors.get(content_hash(own))
                if mine is None:
                    refused.add(h)
                    continue
                v = _unit(mine)
                around = [_unit(context[c]) for c in map(content_hash, ctx) if c in context]
                if around:
                    v = _unit(v + CONTEXT_WEIGHT * _unit(np.mean(around, axis=0)))
                vectors[h] = v
                rows.append({"model": self.name, "content_hash": h, "vector": v.tobytes()})
            if rows and not self.db.read_only:
                with self.db.begin() as conn:
                    insert_missing(conn, embeddings, rows)
        if refused:
            where = tuple(i for i, h in enumerate(hashes) if h in refused)
            raise EmbeddingError(f"embedder {self.name!r} returned non-finite or zero "
                                 f"vectors for {len(where)} of {len(texts)} texts",
                                 bad=where)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[h] for h in hashes]).astype(np.float32, copy=False)

    def _owns(self, composed: dict[str, tuple[str, tuple[str, ...]]], plain: dict[str, str],
              vectors: dict[str, np.ndarray]) -> dict[str, str]:
        """For composed keys: their own texts' cached vectors into ``vectors``, those
        missing into ``plain`` (embedded and cached with the others: a unit holds
        each). Returns their contexts (hash: text)."""
        owns = {content_hash(o): o for o, _ in composed.values()}
        found = self.lookup(owns)
        held = self._held([h for h in owns if h not in found])
        vectors.update((h, found[h]) for h in owns if h in found)
        plain.update((h, o) for h, o in owns.items() if h in held and h not in found)
        # not a unit's own text (an LLM expansion before it): embedded, not cached
        self._uncached([(h, o) for h, o in owns.items() if h not in found and h not in held],
                       vectors)
        return {content_hash(c): c for _, parts in composed.values() for c in parts}

    def _uncached(self, items: Sequence[tuple[str, str]], into: dict[str, np.ndarray]
                  ) -> None:
        """Embed (hash, text) ``items`` into ``into`` without caching them; refused
        vectors are left out."""
        for i in range(0, len(items), self.chunk):
            part = items[i : i + self.chunk]
            got, bad = self.checked([t for _, t in part])
            self.embedded += len(part)
            into.update((h, got[j]) for j, (h, _) in enumerate(part) if not bad[j])

    def _contexts(self, contexts: dict[str, str], vectors: dict[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
        """The contexts' vectors: a unit's text embedded in this call, or cached, or
        else embedded now and not cached (a context that is no unit's text would
        outlive the units it came from)."""
        out = {h: vectors[h] for h in contexts if h in vectors}
        out.update(self.lookup([h for h in contexts if h not in out]))
        self._uncached([(h, c) for h, c in contexts.items() if h not in out], out)
        if len(out) < len(contexts):
            log.debug("%d context parts had no usable vector: their keys are composed "
                      "without them", len(contexts) - len(out))
        return out

    def _held(self, hashes: list[str]) -> set[str]:
        """Those of ``hashes`` that are some unit's own text."""
        held: set[str] = set()
        with self.db.connect() as conn:
            for i in range(0, len(hashes), 500):
                held.update(conn.execute(sa.select(units.c.content_hash).where(
                    units.c.content_hash.in_(hashes[i : i + 500]))).scalars())
        return held

    def _embed_missing(self, missing: dict[str, str], vectors: dict[str, np.ndarray],
                       progress: bool | None) -> set[str]:
        """Embed and cache ``missing`` (hash: text) into ``vectors``; returns the
        hashes whose vectors were refused."""
        self.embedded += len(missing)
        refused: set[str] = set()
        if not missing:
            return refused
        items = list(missing.items())
        show = progress if progress is not None else len(items) >= PROGRESS_THRESHOLD
        bar = tqdm(total=len(items), desc="embedding", unit="text", disable=not show or None)
        try:
            for i in range(0, len(items), self.chunk):
                part = items[i : i + self.chunk]
                out, bad = self.checked([t for _, t in part])
                rows = [{"model": self.name, "content_hash": h, "vector": out[j].tobytes()}
                        for j, (h, _) in enumerate(part) if not bad[j]]
                if not self.db.read_only:  # a read-only memory embeds, caches nothing
                    with self.db.begin() as conn:
                        # other processes may cache the same texts at the same moment
                        insert_missing(conn, embeddings, rows)
                for j, (h, _) in enumerate(part):
                    if bad[j]:
                        refused.add(h)
                    else:
                        vectors[h] = out[j]
                bar.update(len(part))
        finally:
            bar.close()
        return refused

    def embed_query(self, text: str) -> np.ndarray:
        """Vector for a query (in-process LRU cache, never persisted)."""
        key = content_hash(text)
        vec = self._queries.get(key)
        if vec is None:
            out, bad = self.checked([text])
            if bad[0]:
                raise EmbeddingError(f"embedder {self.name!r} returned a non-finite or "
                                     "zero vector for the query", bad=(0,))
            vec = out[0]
            self._queries[key] = vec
            if len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(key)
        return vec

    def purge(self, conn: sa.Connection, hashes: Iterable[str]) -> None:
        """Delete cached vectors of these hashes (all models), inside ``conn``'s
        transaction. Callers pass only hashes no remaining content uses."""
        hs = list(set(hashes))
        self.vectors.drop(hs)
        for i in range(0, len(hs), 500):
            conn.execute(
                sa.delete(embeddings).where(embeddings.c.content_hash.in_(hs[i : i + 500])))
        self._queries.clear()

    def count(self) -> int:
        """Cached vectors for this model."""
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(embeddings).where(
                        embeddings.c.model == self.name)
                ).scalar_one()
            )


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class DiskCachedEmbedder:
    """An :class:`Embedder` whose vectors are cached in a SQLite file of its own.

    Every text it embeds — stored content and queries alike — is kept by (model,
    content hash), so any number of memories built over the same texts (the evaluation
    harness builds one per question) embed each text once, across runs.
    """

    def __init__(self, embedder: Embedder, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Database(f"sqlite:///{path}")
        self._cache = CachedEmbedder(embedder, self._db)
        self.name = embedder.name
        self.dim = embedder.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``: cached ones read back, the rest embedded and cached."""
        return self._cache.embed_stored(texts, progress=False)

    def count(self) -> int:
        """Vectors cached for this model."""
        return self._cache.count()

    @property
    def hits(self) -> int:
        """Distinct stored texts served from the cache so far (per call)."""
        return self._cache.hits

    @property
    def embedded(self) -> int:
        """Texts the model embedded so far (cache misses)."""
        return self._cache.embedded

    def close(self) -> None:
        """Release the cache file."""
        self._db.close()

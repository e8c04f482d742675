"""Angular locality-sensitive hashing for dense vectors (TiM's thought buckets).

Think-in-Memory keeps thoughts in a hash table keyed by the LSH bucket of their
embedding: ``F(x) = argmax([xR ; -xR])`` with ``R`` a random ``d x b/2`` matrix gives
``b`` buckets (random rotations, "cross-polytope" hashing). A query is hashed the same
way and only its bucket's vectors are ranked by cosine. More tables (independent ``R``)
and probing each table's next-best buckets raise recall for more candidates to rank.

- :class:`AngularLSH`: the hash functions, fully determined by ``(dim, buckets, tables,
  seed)``, so buckets are the same after a restart and a rebuild from stored vectors
  reproduces them exactly.
- :class:`LSHIndex`: vectors in memory, bucketed by :class:`AngularLSH`; candidates of
  the query's buckets ranked by exact cosine. Thread-safe.

datasketch has MinHash LSH for sets of shingles (used for near-duplicate thought text),
not random-projection hashing for dense vectors: that is this module.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, InvalidInput

__all__ = ["AngularLSH", "LSHIndex", "LSHParams"]


@dataclass(frozen=True)
class LSHParams:
    """``dim``: vector size; ``buckets``: b, buckets per table (even, >= 2);
    ``tables``: L, independent hash tables; ``seed``: the random projections' seed."""

    dim: int
    buckets: int = 64
    tables: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("dim", "tables"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: must be a positive int, got {value!r}")
        if isinstance(self.buckets, bool) or not isinstance(self.buckets, int) \
                or self.buckets < 2 or self.buckets % 2:
            raise ConfigError(f"buckets: must be an even int >= 2, got {self.buckets!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed: must be an int >= 0, got {self.seed!r}")


class AngularLSH:
    """``tables`` hash functions ``F(x) = argmax([xR_t ; -xR_t])``, each with ``buckets``
    buckets; ``R_t`` are Gaussian, drawn from ``seed``."""

    def __init__(self, params: LSHParams) -> None:
        self.params = params
        rng = np.random.default_rng(params.seed)
        self.projections = rng.standard_normal(
            (params.tables, params.dim, params.buckets // 2)).astype(np.float32)

    def _scores(self, vectors: np.ndarray) -> np.ndarray:
        x = _as_matrix(vectors, self.params.dim)
        half = np.einsum("nd,tdh->nth", x, self.projections)
        return np.concatenate([half, -half], axis=2)  # (n, tables, buckets)

    def hash(self, vectors: np.ndarray) -> np.ndarray:
        """Bucket ids, shape ``(n, tables)``."""
        codes: np.ndarray = np.argmax(self._scores(vectors), axis=2)
        return codes

    def probe(self, vector: np.ndarray, probes: int = 1) -> np.ndarray:
        """Each table's ``probes`` best buckets for one vector, best first, shape
        ``(tables, probes)``; the first column is :meth:`hash`."""
        if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
            raise InvalidInput("probes", f"must be a positive int, got {probes!r}")
        probes = min(probes, self.params.buckets)
        scores = self._scores(vector)[0]  # (tables, buckets)
        top = np.argpartition(-scores, probes - 1, axis=1)[:, :probes]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        return np.take_along_axis(top, order, axis=1)


class LSHIndex:
    """Unit-normalised vectors kept in memory and bucketed in every table; a query ranks
    the vectors of its probed buckets by cosine. Ids are any hashable values."""

    def __init__(self, params: LSHParams) -> None:
        self.lsh = AngularLSH(params)
        self.params = params
        self._lock = threading.Lock()
        self._vectors = np.zeros((0, params.dim), dtype=np.float32)
        self._ids: list[Hashable] = []
        self._row: dict[Hashable, int] = {}
        self._codes = np.zeros((0, params.tables), dtype=np.int64)
        self._buckets: list[dict[int, set[int]]] = [{} for _ in range(params.tables)]
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._row)

    def add(self, ids: Sequence[Hashable], vectors: np.ndarray,
            codes: np.ndarray | None = None) -> None:
        """Insert or replace vectors by id. ``codes`` (shape ``(n, tables)``) are their
        bucket ids when already known (stored with the vectors); by default they are
        hashed here."""
        x = _normalise(_as_matrix(vectors, self.params.dim))
        if len(ids) != len(x):
            raise InvalidInput("ids", f"{len(ids)} ids for {len(x)} vectors")
        if len(set(ids)) != len(ids):
            raise InvalidInput("ids", "duplicate ids in one call")
        if codes is None:
            codes = self.lsh.hash(x)
        else:
            codes = np.asarray(codes, dtype=np.int64).reshape(len(x), -1)
            if codes.shape[1] != self.params.tables or (
                    len(codes) and (codes.min() < 0 or codes.max() >= self.params.buckets)):
                raise InvalidInput("codes", f"expected {self.params.tables} bucket ids in "
                                            f"[0, {self.params.buckets}) per vector")
        with self._lock:
            self._remove(i for i in ids if i in self._row)
            need = len(ids) - len(self._free)
            if need > 0:
                start = len(self._ids)
                self._vectors = _grow(self._vectors, start + need)
                self._codes = _grow(self._codes, start + need)
                self._ids.extend([None] * need)
                self._free.extend(range(start, start + need))
            for uid, vec, code in zip(ids, x, codes, strict=True):
                row = self._free.pop()
                self._vectors[row] = vec
                self._codes[row] = code
                self._ids[row] = uid
                self._row[uid] = row
                for t, b in enumerate(code):
                    self._buckets[t].setdefault(int(b), set()).add(row)

    def remove(self, ids: Sequence[Hashable]) -> None:
        """Drop vectors by id (unknown ids are ignored)."""
        with self._lock:
            self._remove(ids)

    def _remove(self, ids: Iterable[Hashable]) -> None:
        for uid in list(ids):
            row = self._row.pop(uid, None)
            if row is None:
                continue
            for t, b in enumerate(self._codes[row]):
                members = self._buckets[t].get(int(b))
                if members is not None:
                    members.discard(row)
                    if not members:
                        del self._buckets[t][int(b)]
            self._ids[row] = None
            self._free.append(row)

    def candidates(self, vector: np.ndarray, probes: int = 1) -> np.ndarray:
        """Rows in the query's probed buckets of every table (deduplicated)."""
        wanted = self.lsh.probe(vector, probes)
        with self._lock:
            rows: set[int] = set()
            for t in range(self.params.tables):
                for b in wanted[t]:
                    rows.update(self._buckets[t].get(int(b), ()))
        return np.fromiter(rows, dtype=np.int64, count=len(rows))

    def vectors(self, ids: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
        """The stored (unit-normalised) vectors of those ``ids`` that are present."""
        with self._lock:
            return {i: self._vectors[self._row[i]].copy() for i in ids if i in self._row}

    def exact(self, vector: np.ndarray, k: int = 5) -> list[tuple[Hashable, float]]:
        """Up to ``k`` (id, cosine) over every stored vector, best first (no hashing:
        the reference :meth:`query` approximates, and the faster path for few vectors)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInput("k", f"must be a positive int, got {k!r}")
        q = _normalise(_as_matrix(vector, self.params.dim))[0]
        with self._lock:
            rows = np.fromiter(self._row.values(), dtype=np.int64, count=len(self._row))
            if not len(rows):
                return []
            sims = self._vectors[rows] @ q
            top = np.argsort(-sims, kind="stable")[:k]
            return [(self._ids[int(rows[i])], float(sims[i])) for i in top]

    def query(self, vector: np.ndarray, k: int = 5, probes: int = 1
              ) -> list[tuple[Hashable, float]]:
        """Up to ``k`` (id, cosine) among the query's bucket candidates, best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInput("k", f"must be a positive int, got {k!r}")
        q = _normalise(_as_matrix(vector, self.params.dim))[0]
        rows = self.candidates(q, probes)
        if not len(rows):
            return []
        with self._lock:
            sims = self._vectors[rows] @ q
            top = np.argsort(-sims, kind="stable")[:k]
            return [(self._ids[int(rows[i])], float(sims[i])) for i in top]


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dim:
        raise InvalidInput("vectors", f"expected shape (n, {dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInput("vectors", "contains NaN or infinity")
    return x


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InvalidInput("vectors", "a zero vector has no direction")
    out: np.ndarray = (x / norms).astype(np.float32)
    return out


def _grow(a: np.ndarray, rows: int) -> np.ndarray:
    if len(a) >= rows:
        return a
    out = np.zeros((max(rows, 2 * len(a)), *a.shape[1:]), dtype=a.dtype)
    out[: len(a)] = a
    return out

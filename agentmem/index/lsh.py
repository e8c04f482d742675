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

import hashlib
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

    def digest(self) -> str:
        """SHA-256 of the projections: equal digests, equal buckets."""
        return hashlib.sha256(self.projections.tobytes()).hexdigest()

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
    the vectors of its probed buckets by cosine. Ids are any hashable values.

    Buckets are laid out as sorted arrays (per table: rows ordered by bucket, with the
    offset where each bucket starts), so a query's candidates are a few array slices.
    Vectors added since the last layout wait in small per-bucket lists and removed ones
    are masked out; the layout is rebuilt (compacting removed rows) when those changes
    reach an eighth of the index."""

    def __init__(self, params: LSHParams, lsh: AngularLSH | None = None) -> None:
        if lsh is not None and lsh.params != params:
            raise ConfigError("lsh: its parameters differ from params")
        self.lsh = lsh or AngularLSH(params)  # shareable: it holds only projections
        self.params = params
        self._lock = threading.Lock()
        self._vectors = np.zeros((0, params.dim), dtype=np.float32)
        self._codes = np.zeros((0, params.tables), dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._ids: list[Hashable] = []
        self._row: dict[Hashable, int] = {}
        self._size = 0  # rows used (alive or not)
        # the sorted layout of rows [0, _laid): per table (rows by bucket, offsets)
        self._laid = 0
        self._order = np.zeros((params.tables, 0), dtype=np.int64)
        self._offsets = np.zeros((params.tables, params.buckets + 1), dtype=np.int64)
        self._delta: list[dict[int, list[int]]] = [{} for _ in range(params.tables)]
        self._dead = 0  # removed rows still in the layout or the delta lists
        self._scratch = np.zeros(0, dtype=bool)

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
            start, n = self._size, len(ids)
            self._vectors = _grow(self._vectors, start + n)
            self._codes = _grow(self._codes, start + n)
            self._alive = _grow(self._alive, start + n)
            self._vectors[start : start + n] = x
            self._codes[start : start + n] = codes
            self._alive[start : start + n] = True
            self._ids.extend(ids)
            for j, uid in enumerate(ids):
                self._row[uid] = start + j
            self._size += n
            if self._pending() * 8 > max(self._size, 8192):
                self._layout()
            else:
                for t in range(self.params.tables):
                    delta = self._delta[t]
                    for j, b in enumerate(codes[:, t].tolist()):
                        delta.setdefault(b, []).append(start + j)

    def remove(self, ids: Sequence[Hashable]) -> None:
        """Drop vectors by id (unknown ids are ignored)."""
        with self._lock:
            self._remove(ids)

    def _remove(self, ids: Iterable[Hashable]) -> None:
        for uid in list(ids):
            row = self._row.pop(uid, None)
            if row is not None:
                self._alive[row] = False
                self._ids[row] = None
                self._dead += 1
        if self._dead * 8 > max(self._size, 8192):
            self._layout()

    def _pending(self) -> int:
        return self._size - self._laid

    def _layout(self) -> None:
        """Compact the live rows and sort them by bucket in every table."""
        keep = np.flatnonzero(self._alive[: self._size])
        self._vectors = self._vectors[keep].copy()
        self._codes = self._codes[keep].copy()
        self._alive = np.ones(len(keep), dtype=bool)
        self._ids = [self._ids[int(r)] for r in keep]
        self._row = {uid: r for r, uid in enumerate(self._ids)}
        self._size = self._laid = len(keep)
        self._order = np.argsort(self._codes.T, axis=1, kind="stable")
        self._offsets = np.stack([
            np.searchsorted(self._codes[self._order[t], t], np.arange(self.params.buckets + 1))
            for t in range(self.params.tables)]) if len(keep) else np.zeros(
            (self.params.tables, self.params.buckets + 1), dtype=np.int64)
        self._delta = [{} for _ in range(self.params.tables)]
        self._dead = 0
        self._scratch = np.zeros(len(keep), dtype=bool)

    def candidates(self, vector: np.ndarray, probes: int = 1) -> np.ndarray:
        """Rows in the query's probed buckets of every table (deduplicated, live)."""
        wanted = self.lsh.probe(vector, probes)
        with self._lock:
            return self._candidates(wanted)

    def _candidates(self, wanted: np.ndarray) -> np.ndarray:
        parts: list[np.ndarray] = []
        for t in range(self.params.tables):
            order, offsets, delta = self._order[t], self._offsets[t], self._delta[t]
            for b in wanted[t].tolist():
                lo, hi = offsets[b], offsets[b + 1]
                if hi > lo:
                    parts.append(order[lo:hi])
                extra = delta.get(b)
                if extra:
                    parts.append(np.asarray(extra, dtype=np.int64))
        if not parts:
            return np.zeros(0, dtype=np.int64)
        rows = np.concatenate(parts)
        if len(self._scratch) < self._size:
            self._scratch = np.zeros(len(self._alive), dtype=bool)
        mark = self._scratch
        mark[rows] = True
        found = np.flatnonzero(mark[: self._size])
        mark[found] = False
        out: np.ndarray = found[self._alive[found]]
        return out

    def positions(self, ids: Sequence[Hashable]) -> dict[Hashable, int]:
        """The order in which those ``ids`` that are present were added (larger:
        later), for breaking ties deterministically."""
        with self._lock:
            return {i: self._row[i] for i in ids if i in self._row}

    def vectors(self, ids: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
        """The stored (unit-normalised) vectors of those ``ids`` that are present."""
        with self._lock:
            return {i: self._vectors[self._row[i]].copy() for i in ids if i in self._row}

    def exact(self, vector: np.ndarray, k: int = 5) -> list[tuple[Hashable, float]]:
        """Up to ``k`` (id, cosine) over every stored vector, best first (no hashing:
        the reference :meth:`query` approximates, and the faster path for few vectors)."""
        k = _check_k(k)
        q = _normalise(_as_matrix(vector, self.params.dim))[0]
        with self._lock:
            return self._top(np.flatnonzero(self._alive[: self._size]), q, k)

    def query(self, vector: np.ndarray, k: int = 5, probes: int = 1
              ) -> list[tuple[Hashable, float]]:
        """Up to ``k`` (id, cosine) among the query's bucket candidates, best first."""
        k = _check_k(k)
        q = _normalise(_as_matrix(vector, self.params.dim))[0]
        wanted = self.lsh.probe(q, probes)
        with self._lock:
            return self._top(self._candidates(wanted), q, k)

    def _top(self, rows: np.ndarray, q: np.ndarray, k: int) -> list[tuple[Hashable, float]]:
        if not len(rows):
            return []
        sims = self._vectors[rows] @ q
        if len(rows) > k:
            # every row scoring at least the k-th best, so that ties at the boundary
            # are broken by row (insertion order), like a stable sort
            kth = sims[np.argpartition(-sims, k - 1)[k - 1]]
            part = np.flatnonzero(sims >= kth)
            top = part[np.lexsort((rows[part], -sims[part]))][:k]
        else:
            top = np.lexsort((rows, -sims))
        return [(self._ids[int(rows[i])], float(sims[i])) for i in top]


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInput("k", f"must be a positive int, got {k!r}")
    return k


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

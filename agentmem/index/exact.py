"""Exact cosine search over a small set of stored vectors (a user's, read from the SQL
embedding cache): every vector is compared, so identical texts cannot hide another one
the way they degrade an HNSW graph, and a filter can restrict the set beforehand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cosines", "top_cosine"]


def cosines(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Cosine similarity of ``vector`` with each row of ``matrix`` (0 for a zero row)."""
    if not len(matrix):
        return np.zeros(0, dtype=np.float32)
    q = np.asarray(vector, dtype=np.float32).reshape(-1)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    dots = matrix @ q
    out: np.ndarray = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return out


def top_cosine(ids: Sequence[str], matrix: np.ndarray, vector: np.ndarray, n: int
               ) -> list[tuple[str, float]]:
    """The ``n`` rows most similar to ``vector`` as (id, cosine), best first; ties
    keep the rows' order."""
    sims = cosines(matrix, vector)
    if n < len(sims):
        part = np.argpartition(-sims, n - 1)[:n]
        part = part[np.lexsort((part, -sims[part]))]
    else:
        part = np.lexsort((np.arange(len(sims)), -sims))
    return [(ids[int(i)], float(sims[i])) for i in part]

"""The thought store's text matching and in-memory index: the normalised form heads and
relations are matched in (:func:`normalise`), word shingles and their MinHash, and
one user's active thoughts in memory (:class:`_UserIndex`: the LSH buckets of their
vectors and a MinHash LSH of their texts)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ..index.lsh import AngularLSH, LSHIndex, LSHParams

__all__ = ["normalise", "shingles"]

_NUM_PERM = 64
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """The form heads and relations are matched in: case-folded words, no leading
    article, no punctuation."""
    words = _WORD.findall(text.casefold())
    if len(words) > 1 and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)[:256]


def shingles(text: str) -> set[str]:
    """Word unigrams and bigrams of ``text`` (case-folded)."""
    words = _WORD.findall(text.casefold())
    return set(words) | {f"{a} {b}" for a, b in pairwise(words)}


def _nested(a: str, b: str) -> bool:
    """Whether one normalised tail's words all appear in the other's."""
    wa, wb = set(a.split()), set(b.split())
    return bool(wa and wb) and (wa <= wb or wb <= wa)


def _minhash(text: str) -> Any:
    from datasketch import MinHash

    m = MinHash(num_perm=_NUM_PERM, seed=1)
    for s in sorted(shingles(text)):
        m.update(s.encode("utf-8"))
    return m


class _UserIndex:
    """One user's active thoughts in memory: the LSH buckets (vectors) and the MinHash
    LSH (shingles), made on the first thought."""

    def __init__(self, params: LSHParams, hasher: AngularLSH, jaccard: float) -> None:
        self.lsh = LSHIndex(params, hasher)
        self.jaccard = jaccard
        self._minhash: Any = None

    def add(self, ids: Sequence[str], vectors: np.ndarray, codes: np.ndarray,
            texts: Sequence[str]) -> None:
        if not len(ids):
            return
        self.lsh.add(list(ids), vectors, codes)
        if self._minhash is None:
            from datasketch import MinHashLSH

            self._minhash = MinHashLSH(threshold=self.jaccard, num_perm=_NUM_PERM)
        for i, t in zip(ids, texts, strict=True):
            if i not in self._minhash:
                self._minhash.insert(i, _minhash(t))

    def near(self, text: str) -> set[str]:
        """Ids whose text's shingles are near ``text``'s (MinHash LSH)."""
        return set(self._minhash.query(_minhash(text))) if self._minhash is not None \
            else set()

    def remove(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        self.lsh.remove(ids)
        for i in ids:
            if self._minhash is not None and i in self._minhash:
                self._minhash.remove(i)

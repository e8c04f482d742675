"""A reference retriever independent of agentmem's indexes: BM25 Okapi in pure Python.

It exists to check the harness against numbers computed elsewhere (and as a baseline):
Okapi BM25 with k1=1.5, b=0.75, and negative IDFs replaced by ``epsilon`` times the
mean IDF — the formulation of the widely used ``rank_bm25.BM25Okapi`` — over lower-cased
``\\w+`` tokens of each unit's text, ties kept in corpus order. The units are built by
the same decomposition and rendering as the episodic store, so only the scoring differs
from ``--retriever agentmem --mode lexical`` (SQLite FTS5: porter stemming, stop words
dropped from queries).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["BM25Okapi", "tokenize"]

_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+``)."""
    return _WORD.findall(text.lower())


class BM25Okapi:
    """Okapi BM25 over a fixed corpus of token lists."""

    def __init__(self, corpus: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25) -> None:
        if not corpus:
            raise ValueError("corpus: must hold at least one document")
        self.k1, self.b = k1, b
        self.freqs = [Counter(doc) for doc in corpus]
        self.lengths = [len(doc) for doc in corpus]
        self.avgdl = sum(self.lengths) / len(corpus)
        df: Counter[str] = Counter()
        for f in self.freqs:
            df.update(f.keys())
        n = len(corpus)
        idf = {w: math.log(n - d + 0.5) - math.log(d + 0.5) for w, d in df.items()}
        floor = epsilon * (sum(idf.values()) / len(idf)) if idf else 0.0
        self.idf = {w: (v if v >= 0 else floor) for w, v in idf.items()}

    def scores(self, query: Sequence[str]) -> list[float]:
        """One score per document (query tokens count with repetition)."""
        out = [0.0] * len(self.freqs)
        norm = [self.k1 * (1 - self.b + self.b * dl / self.avgdl) for dl in self.lengths]
        for w in query:
            idf = self.idf.get(w)
            if idf is None:
                continue
            for i, f in enumerate(self.freqs):
                tf = f.get(w)
                if tf:
                    out[i] += idf * tf * (self.k1 + 1) / (tf + norm[i])
        return out

    def rank(self, query: Sequence[str]) -> list[int]:
        """Document indexes by descending score; ties keep corpus order."""
        s = self.scores(query)
        return sorted(range(len(s)), key=lambda i: -s[i])

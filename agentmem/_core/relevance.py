"""A hit's score: its relevance to the query in [0, 1], the same measure in every
search mode and for every user, so that a threshold means the same thing everywhere.

Relevance is the cosine similarity between the query's vector and the hit's stored
vector (a unit's key, or the best of its key rows or item fields), clipped at 0,
raised to the text match when the query repeats the hit's text or one of its turns up
to case, punctuation and a few characters: a ``difflib`` ratio of at least
:data:`NEAR_EXACT` on the normalised texts (a round's vector mixes both of its turns,
so a query that repeats one of them word for word may sit at cosine 0.85 of it). When
no query vector could be made (the embedder failing), relevance is the share of the
query's words the text holds.

Scores are then made monotone down the result list (:func:`monotone`), without
reordering it: the ranking stays the fused one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher

import numpy as np
import sqlalchemy as sa

from ..embed.cache import CachedEmbedder, content_hash
from ..index.exact import cosines
from ..storage.schema import units
from ..storage.scope import STANDS_FOR, unit_vectors

__all__ = ["NEAR_EXACT", "Scorer", "monotone", "text_match"]

#: the ``difflib`` ratio from which a text counts as the query repeated
NEAR_EXACT = 0.9
_CHUNK = 500
_NON_WORD = re.compile(r"[\W_]+")


def _normal(text: str) -> str:
    return _NON_WORD.sub(" ", text.casefold()).strip()


def text_match(query: str, texts: Iterable[str]) -> float:
    """The best ``difflib`` ratio of the normalised query with one of ``texts``, when
    at least :data:`NEAR_EXACT`; else 0."""
    q = _normal(query)
    best = 0.0
    if not q:
        return best
    for t in texts:
        n = _normal(t)
        if 2 * min(len(q), len(n)) < NEAR_EXACT * (len(q) + len(n)):
            continue  # the lengths alone rule it out (difflib's real_quick_ratio)
        m = SequenceMatcher(None, q, n, autojunk=False)
        if m.quick_ratio() >= NEAR_EXACT:
            best = max(best, m.ratio())
    return best if best >= NEAR_EXACT else 0.0


def _coverage(query: str, text: str) -> float:
    words = set(_normal(query).split())
    return len(words & set(_normal(text).split())) / len(words) if words else 0.0


def monotone(scores: Sequence[float]) -> list[float]:
    """Each score raised to the best one below it: never rising down the list."""
    out = list(scores)
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(out[i], out[i + 1])
    return out


class Scorer:
    """Relevance of units and recalled items to one query, from stored vectors."""

    def __init__(self, embedder: CachedEmbedder, query: str, vector: np.ndarray | None
                 ) -> None:
        self.embedder = embedder
        self.query = query
        self.vector = vector

    def units(self, conn: sa.Connection, user_id: str, texts: dict[str, Sequence[str]],
              known: Mapping[str, float] | None = None) -> dict[str, float]:
        """Relevance of the user's units ``texts`` names (id to the texts a text match
        may use: its own, its turns'); each unit scores its best vector among its
        own and those of the rows that stand for it (key rows, item fields).
        ``known``: cosines already computed for some of those rows (dense search's),
        whose vectors are then not read again."""
        known = known or {}
        ids = list(texts)
        best = {i: 0.0 for i in ids}
        if self.vector is not None and ids:
            owners: dict[str, set[str]] = {i: {i} for i in ids}
            for j in range(0, len(ids), _CHUNK):
                for r in conn.execute(
                        sa.select(units.c.id, units.c.parent_id, units.c.user_id).where(
                            units.c.parent_id.in_(ids[j : j + _CHUNK]),
                            units.c.kind.in_(STANDS_FOR))):
                    if r.user_id == user_id:
                        owners.setdefault(r.id, set()).add(r.parent_id)
            found, matrix, _ = unit_vectors(conn, user_id, self.embedder.name,
                                            [r for r in owners if r not in known],
                                            cache=self.embedder.vectors)
            sims = [*zip(found, map(float, cosines(matrix, self.vector)), strict=True),
                    *((r, known[r]) for r in owners if r in known)]
            for i, c in sims:
                for o in owners[i]:
                    best[o] = max(best[o], c)
        return {i: self._final(best[i], texts[i]) for i in ids}

    def texts(self, texts: dict[str, str]) -> dict[str, float]:
        """Relevance of recalled items by their text's cached vector (an item whose
        text has none scores by text match alone)."""
        best = {i: 0.0 for i in texts}
        if self.vector is not None and texts:
            hashes = {i: content_hash(t) for i, t in texts.items()}
            cached = self.embedder.lookup(hashes.values())
            have = [i for i in texts if hashes[i] in cached]
            if have:
                sims = cosines(np.stack([cached[hashes[i]] for i in have]), self.vector)
                best.update((i, float(s)) for i, s in zip(have, sims, strict=True))
        return {i: self._final(best[i], [t]) for i, t in texts.items()}

    def _final(self, cos: float, texts: Sequence[str]) -> float:
        if self.vector is None:
            return min(1.0, max((_coverage(self.query, t) for t in texts), default=0.0))
        return min(1.0, max(0.0, cos, text_match(self.query, texts)))

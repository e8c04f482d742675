"""Newer statements first among conflicting ones, for questions about the present.

"What is my gym?" asked after "My gym is Iron Temple." and, weeks later, "my gym is now
Pulse Fitness." finds both, about equally relevant; relevance cannot tell which one is
current, time can. This stage looks at the top candidates only. Two of them
**conflict** when they come from different sessions, their stored vectors are similar
to each other (cosine at least ``similar``: statements about the same thing) and they
are about as relevant to the query (within ``near``). Units of one session are never
grouped: their keys share context turns, which makes neighbours look alike.

Each group of conflicting candidates keeps the places it holds in the ranking. Its
newest member takes the first of them when its text says something changed ("now",
"switched", "no longer", ...; ``cue``); the others keep their order. No candidate
enters or leaves the top. Questions about the past ("did", "was", "used to",
"before", a named period) are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .base import Candidates, Order

__all__ = ["Supersede", "asks_about_the_past", "says_it_changed"]

_PAST = re.compile(
    r"\b(did|was|were|had|used to|before|previous(ly)?|originally|first|earlier|"
    r"former(ly)?|ago|last (week|month|year|time)|when)\b", re.IGNORECASE)


_CHANGED = re.compile(
    r"\b(now|changed|switched|moved|new|no longer|any ?more|instead|these days|"
    r"currently|nowadays)\b", re.IGNORECASE)


def says_it_changed(text: str) -> bool:
    """Whether a statement says it replaces an earlier state ("my gym is now ...",
    "I switched to ...", "no longer")."""
    return _CHANGED.search(text) is not None


def asks_about_the_past(query: str) -> bool:
    """Whether a question is about an earlier state ("What was my gym?", "When did I
    move?") rather than the current one."""
    return _PAST.search(query) is not None


@dataclass(frozen=True)
class Supersede:
    """Among the top ``top`` units, the newest of conflicting statements first when it
    says something changed (see the module doc)."""

    top: int = 10
    similar: float = 0.35
    near: float = 0.15
    #: move the newest ahead only when its text says something changed
    cue: bool = True
    name: str = "supersede"
    position: float = 85

    def run(self, c: Candidates) -> Order:
        """The order with each group's statement of change first."""
        if c.query.period is not None or c.vector is None or asks_about_the_past(
                c.query.text):
            return c.order
        head = [i for i, _ in c.order[: self.top] if i in c.info]
        if len(head) < 2:
            return c.order
        vectors = c.reader.unit_vectors(head)
        ids = [i for i in head if i in vectors]
        if len(ids) < 2:
            return c.order
        m = np.stack([vectors[i] for i in ids]).astype(np.float32)
        m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
        q = np.asarray(c.vector, dtype=np.float32)
        rel = m @ (q / max(float(np.linalg.norm(q)), 1e-12))
        pair = m @ m.T
        session = [c.info[i].session_id for i in ids]
        groups = _groups(len(ids), lambda a, b: bool(
            session[a] != session[b] and pair[a, b] >= self.similar
            and abs(rel[a] - rel[b]) <= self.near))
        if not any(len(g) > 1 for g in groups):
            return c.order
        units = c.reader.units([ids[k] for g in groups if len(g) > 1 for k in g])
        place = {i: n for n, (i, _) in enumerate(c.order)}
        order = list(c.order)
        for g in groups:
            members = sorted((ids[k] for k in g), key=lambda i: place[i])
            if len(members) < 2 or not all(i in units for i in members):
                continue
            newest = max(members, key=lambda i: units[i].timestamp)
            if self.cue and not says_it_changed(units[newest].text):
                continue
            slots = [place[i] for i in members]
            ahead = [newest, *(i for i in members if i != newest)]
            for s, i in zip(slots, ahead, strict=True):
                order[s] = (i, c.order[s][1])
        return order


def _groups(n: int, linked: Callable[[int, int], bool]) -> list[list[int]]:
    """Connected components of ``n`` items under the ``linked(a, b)`` relation."""
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in range(n):
        for b in range(a + 1, n):
            if linked(a, b):
                parent[root(a)] = root(b)
    out: dict[int, list[int]] = {}
    for a in range(n):
        out.setdefault(root(a), []).append(a)
    return list(out.values())

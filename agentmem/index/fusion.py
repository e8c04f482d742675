"""Fusing the retrievers' rankings into one.

- :func:`score_fusion` (the default): each retriever's scores z-normalised over the
  candidates, then summed with weights. A candidate one retriever did not return gets
  that retriever's ``floor`` (the lowest score it could have had).
- :func:`reciprocal_rank_fusion`: the classic rank-only fusion, kept as an option.
- :func:`session_context`: adds to each unit a share of how well its session as a
  whole matches (the mean of the session's best few unit scores), so that evidence
  spread over several units of one session lifts them together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "reciprocal_rank_fusion", "score_fusion", "session_context"]

RRF_K = 60
K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse rankings (best first) with RRF: score(d) = sum_r w_r / (k + rank_r(d)),
    ranks from 1. Ties keep first-seen order. Returns (item, score), best first."""
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("weights: need one weight per ranking")
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return _sorted(scores)


def score_fusion(
    scored: Sequence[Mapping[K, float]], *, floors: Sequence[float],
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse retrievers' scores (higher is better): over the union of candidates, each
    retriever's scores (``floors[r]`` where it did not return the candidate) are
    z-normalised, weighted and summed. Ties keep first-seen order. Returns (item,
    fused score), best first."""
    weights = [1.0] * len(scored) if weights is None else list(weights)
    if not len(weights) == len(floors) == len(scored):
        raise ValueError("weights, floors: need one per retriever")
    union = list(dict.fromkeys(i for s in scored for i in s))
    if not union:
        return []
    fused: dict[K, float] = dict.fromkeys(union, 0.0)
    for scores, floor, w in zip(scored, floors, weights, strict=True):
        values = [scores.get(i, floor) for i in union]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        for i, v in zip(union, values, strict=True):
            fused[i] += w * (v - mean) / std
    return _sorted(fused)


def session_context(fused: Sequence[tuple[K, float]], session_of: Mapping[K, Hashable], *,
                    weight: float, top: int = 3) -> list[tuple[K, float]]:
    """Add ``weight`` x (mean of the ``top`` best scores in the unit's session) to each
    unit's score and re-sort. Units without a known session keep their score."""
    if weight == 0 or not fused:
        return list(fused)
    by_session: dict[Hashable, list[float]] = defaultdict(list)
    for item, score in fused:  # best first, so each list is sorted
        if item in session_of:
            by_session[session_of[item]].append(score)
    bonus = {s: sum(v[:top]) / len(v[:top]) for s, v in by_session.items()}
    return _sorted({item: score + (weight * bonus[session_of[item]] if item in session_of
                                   else 0.0) for item, score in fused})


def _sorted(scores: Mapping[K, float]) -> list[tuple[K, float]]:
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))

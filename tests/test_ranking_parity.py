"""Ranking parity: the strategy/pipeline refactor changed no ranking. The rankings and
hits of a synthetic memory (three users, thoughts, key rows, a forgetting curve; every
mode, fusion and filter) are compared with those recorded from the facade before it
(tests/data/ranking_golden.json, made by tests/data/ranking_parity.py at a8d760b):
the same candidates in the same order, fused scores equal to 1e-9 until issue 18's
exact dense search (now 1e-5: see SCORE_TOL). Since issue 18 ``Hit.score`` is a
relevance; the hits' fused score (``scores["fused"]``) is compared."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from agentmem import SentenceTransformerEmbedder

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from ranking_parity import rankings  # noqa: E402


def _close(a: Any, b: Any, tol: float = 1e-9) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0,
                                                                 abs_tol=tol)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    return bool(a == b)


#: Since issue 18 a user's dense cosines come from exact search (numpy, float32) where
#: Chroma gave 1 - its float32 distance: ~1e-8 apart, ~1e-6 after z-normalisation.
SCORE_TOL = 1e-5


def _hits_close(got: list[Any], was: list[Any]) -> bool:
    """Kind, text, fused score, retriever scores, retention, strength."""
    return _close(got, was, SCORE_TOL)


@pytest.mark.slow
def test_rankings_match_the_recorded_ones(tmp_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    golden = json.loads((DATA / "ranking_golden.json").read_text(encoding="utf-8"))
    now = rankings(tmp_path, embedder=embedder)
    assert now.keys() == golden.keys()
    for key in sorted(golden):
        was, got = golden[key], now[key]
        assert [r[:2] for r in got["rank"]] == [r[:2] for r in was["rank"]], key
        assert _close(got["rank"], was["rank"], SCORE_TOL), key
        assert _hits_close(got["hits"], was["hits"]), key

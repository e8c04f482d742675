"""Ranking parity: the strategy/pipeline refactor changed no ranking. The rankings and
hits of a synthetic memory (three users, thoughts, key rows, a forgetting curve; every
mode, fusion and filter) are compared with those recorded from the facade before it
(tests/data/ranking_golden.json, made by tests/data/ranking_parity.py at a8d760b):
the same candidates in the same order, scores equal to 1e-9."""

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


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0,
                                                                 abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.mark.slow
def test_rankings_match_the_recorded_ones(tmp_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    golden = json.loads((DATA / "ranking_golden.json").read_text(encoding="utf-8"))
    now = rankings(tmp_path, embedder=embedder)
    assert now.keys() == golden.keys()
    for key in sorted(golden):
        was, got = golden[key], now[key]
        assert [r[:2] for r in got["rank"]] == [r[:2] for r in was["rank"]], key
        assert _close(got["rank"], was["rank"]), key
        assert _close(got["hits"], was["hits"]), key

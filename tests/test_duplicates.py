"""Issue 18, defect 2: many identical texts of one user must not hide another text.
Reproduced here with the real embedder: 500 identical turns and one distinct turn; in
dense mode Chroma's HNSW graph (built over 500 identical vectors) never returned the
distinct one, whatever the query (raising ``ef_search`` to 100 or 500 did not help:
``eval/issue18_probes.py``). The fix: users with at most ``exact_search`` units (2000
by default) are searched exactly, every stored vector compared (``index/exact.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem import Memory, SentenceTransformerEmbedder


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hybrid", "lexical", "dense"])
def test_one_distinct_text_among_500_identical_ones_is_found(
        tmp_path: Path, embedder: SentenceTransformerEmbedder, mode: str) -> None:
    with Memory(tmp_path / "m", embedder=embedder, granularity="turn") as mem:
        mem.add([{"role": "user", "content": "I like jazz"}], user_id="u", session_id="z")
        for _ in range(500):
            mem.add([{"role": "user", "content": "a note"}], user_id="u", session_id="s")
        for query in ("jazz", "what music do I like"):
            hits = mem.search(query, user_id="u", k=5, mode=mode)
            if mode == "lexical" and query != "jazz":
                continue  # no shared word: lexical search has nothing to go on
            assert any("jazz" in h.text for h in hits), (mode, query)

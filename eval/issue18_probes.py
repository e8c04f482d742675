"""Two probes behind issue 18's notes (real MiniLM, printed, nothing recorded):

    HF_HUB_OFFLINE=1 .venv/bin/python eval/issue18_probes.py

1. duplicates: one "I like jazz" turn among 500 identical "a note" turns; dense search
   with Chroma's default ``ef_search`` and with it raised to 100 and 500 (does the
   distinct turn reach the top 5?);
2. score: the query's cosine against its unit for a query repeating a user turn word
   for word (a round unit with context), a one-turn unit, and unrelated text.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory


def duplicates() -> None:
    for ef in (None, 100, 500):
        with tempfile.TemporaryDirectory() as d, Memory(d, granularity="turn") as mem:
            mem.add([{"role": "user", "content": "I like jazz"}], user_id="u", session_id="z")
            for _ in range(500):
                mem.add([{"role": "user", "content": "a note"}], user_id="u", session_id="s")
            if ef is not None:
                for name in mem.dense.collections():
                    mem.dense.client.get_collection(name, embedding_function=None).modify(
                        configuration={"hnsw": {"ef_search": ef}})
                mem.dense._collections.clear()  # look the collections up again
            for query in ("jazz", "what music do I like"):
                hits = mem.search(query, user_id="u", k=5, mode="dense")
                print(f"ef_search={ef}: {query!r} found: "
                      f"{any('jazz' in h.text for h in hits)}")


def scores() -> None:
    with Memory() as mem:
        mem.add([{"role": "user", "content": "I adopted a grey cat called Miso."},
                 {"role": "assistant", "content": "Lovely name!"}],
                user_id="u", session_id="s1")
        mem.add([{"role": "user", "content": "I like jazz on vinyl."}],
                user_id="u", session_id="s2")
        for query in ("I adopted a grey cat called Miso.", "I like jazz on vinyl.",
                      "quantum chromodynamics lecture"):
            ranking = mem.ranking(query, user_id="u", mode="dense")
            top = ranking.order[0][0]
            print(f"{query!r}: top unit's cosine {ranking.scores['dense'][top]:.3f}")


if __name__ == "__main__":
    duplicates()
    scores()

"""Dense search latency: exact search from the SQL vector cache against Chroma's HNSW,
side by side on the same memory, by the number of units the user has.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_exact.py [--sizes 1000 5000 20000 50000]
        [--queries 200] [--out eval/results/issue18/bench_exact.json]

For each size, one on-disk memory (turn granularity) holds one user with that many
units and 9 other users with 500 each (the shared Chroma collections hold them all).
Vectors come from ``HashingEmbedder(384)``, a deterministic stand-in that costs
nothing to embed, so that only the search is timed (the real model would add the same
~10 ms query embedding to both). Two ``Memory`` objects open the memory, one with
``exact_search`` above the size and one with ``exact_search=0`` (HNSW); queries
alternate between them (ABBA), ``mode="dense"``, ``k=10``, each query text new (no
query cache). Printed: p50 / p95 in ms per size and the exact/HNSW ratio of p50s, and
how often the two agree on the top 10 (HNSW is approximate). Recorded as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory  # noqa: E402
from agentmem.embed.hashing import HashingEmbedder  # noqa: E402

WORDS = ("trail hike boots lake river city train coffee jazz vinyl cat dog garden "
         "risotto pasta bread market concert museum beach mountain snow rain sun book "
         "film game chess piano guitar office meeting project deadline holiday flight "
         "hotel friend sister brother mother father school exam lecture painting").split()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(12))


def run(sizes: list[int], queries: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as d:
            emb = HashingEmbedder(384)
            with Memory(d, embedder=emb, granularity="turn") as mem:
                for start in range(0, size, 2000):
                    mem.add([{"role": "user", "content": _text(rng)}
                             for _ in range(min(2000, size - start))],
                            user_id="big", session_id=f"s{start}")
                for u in range(9):
                    mem.add([{"role": "user", "content": _text(rng)} for _ in range(500)],
                            user_id=f"other{u}", session_id="s")
            exact = Memory(d, embedder=emb, exact_search=size + 1)
            hnsw = Memory(d, embedder=emb, exact_search=0)
            times: dict[str, list[float]] = {"exact": [], "hnsw": []}
            agree = 0
            try:
                for i in range(queries):
                    q = _text(rng)
                    order = [("exact", exact), ("hnsw", hnsw)]
                    if i % 2:
                        order.reverse()
                    found: dict[str, list[str]] = {}
                    for name, m in order:
                        t = time.perf_counter()
                        hits = m.search(q, user_id="big", k=10, mode="dense")
                        times[name].append(time.perf_counter() - t)
                        found[name] = [h.id for h in hits]
                    agree += found["exact"] == found["hnsw"]
            finally:
                exact.close()
                hnsw.close()
        row = {"units": size, "queries": queries, "top10_identical": agree / queries}
        for name, ts in times.items():
            ms = sorted(1000 * t for t in ts)
            row[f"{name}_p50_ms"] = round(statistics.median(ms), 2)
            row[f"{name}_p95_ms"] = round(ms[int(0.95 * (len(ms) - 1))], 2)
        row["exact_over_hnsw_p50"] = round(row["exact_p50_ms"] / row["hnsw_p50_ms"], 3)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cpus",
            "python": platform.python_version(), "embedder": "HashingEmbedder(384), a "
            "stand-in", "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000, 50000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "eval" / "results" / "issue18" / "bench_exact.json")
    args = ap.parse_args()
    result = run(args.sizes, args.queries, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()

"""LSH (TiM's thought buckets) versus exact cosine search on synthetic 384-d vectors.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_lsh.py [--sizes 10000 100000 1000000]

Vectors are clustered like sentence embeddings of related thoughts: unit vectors around
random centres (one centre per ~50 vectors, noise 0.6 per dimension before
normalising); queries are stored vectors plus noise of norm ~0.3. For each size and (b, L,
probes): median and p95 query time of LSHIndex.query (k=5) against exact numpy search
(one matrix-vector product and argpartition over all vectors), and recall@5 relative to
the exact top 5. Writes eval/results/bench_lsh.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentmem.index.lsh import LSHIndex, LSHParams  # noqa: E402

DIM = 384
CONFIGS = [(64, 4, 1), (64, 8, 2), (256, 8, 2), (256, 16, 3)]  # (buckets, tables, probes)


def data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), DIM)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)]
    x += 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" / "bench_lsh.json")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        x = data(n, args.seed)
        rng = np.random.default_rng(args.seed + 1)
        q = x[rng.integers(0, n, args.queries)]
        q = q + 0.3 * rng.standard_normal(q.shape).astype(np.float32) / np.sqrt(DIM)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        exact_t, exact_top = [], []
        for v in q:
            t0 = time.perf_counter()
            s = x @ v
            top = np.argpartition(-s, 5)[:5]
            top = top[np.argsort(-s[top])]
            exact_t.append(time.perf_counter() - t0)
            exact_top.append(set(top.tolist()))
        e50, e95 = (float(np.percentile(exact_t, p)) * 1e3 for p in (50, 95))
        print(f"n={n}: exact p50 {e50:.2f} ms, p95 {e95:.2f} ms", flush=True)
        for b, tables, probes in CONFIGS:
            index = LSHIndex(LSHParams(dim=DIM, buckets=b, tables=tables, seed=args.seed))
            t0 = time.perf_counter()
            for i in range(0, n, 50_000):
                index.add(list(range(i, min(n, i + 50_000))), x[i : i + 50_000])
            build = time.perf_counter() - t0
            times, hits, cands = [], 0, []
            for v, want in zip(q, exact_top, strict=True):
                t0 = time.perf_counter()
                got = index.query(v, k=5, probes=probes)
                times.append(time.perf_counter() - t0)
                hits += len(want & {i for i, _ in got})
                cands.append(len(index.candidates(v, probes)))
            l50, l95 = (float(np.percentile(times, p)) * 1e3 for p in (50, 95))
            row = {"n": n, "buckets": b, "tables": tables, "probes": probes,
                   "build_s": round(build, 2), "lsh_p50_ms": round(l50, 3),
                   "lsh_p95_ms": round(l95, 3), "exact_p50_ms": round(e50, 3),
                   "exact_p95_ms": round(e95, 3), "speedup_p50": round(e50 / l50, 2),
                   "recall_at_5": round(hits / (5 * len(q)), 4),
                   "mean_candidates": round(float(np.mean(cands)), 1)}
            rows.append(row)
            print(f"  b={b} L={tables} probes={probes}: p50 {l50:.2f} ms (x{e50 / l50:.1f}), "
                  f"recall@5 {row['recall_at_5']:.3f}, candidates {row['mean_candidates']:.0f},"
                  f" build {build:.1f} s", flush=True)
            del index
    args.out.write_text(json.dumps({
        "command": "python eval/bench_lsh.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "dim": DIM,
        "queries": args.queries, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

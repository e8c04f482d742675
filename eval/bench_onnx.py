"""The default embedder on ONNX Runtime against sentence-transformers on torch.

    python eval/bench_onnx.py [--queries 300] [--turns 1000] [--rounds 3]

Same packaged all-MiniLM-L6-v2, same machine, one run, the two backends alternating:

* query latency: LoCoMo's real questions embedded one at a time (what a search does),
  p50 / p95 in ms;
* batch throughput: LoCoMo turns (``speaker: text``) embedded in batches of 64 (what
  ingestion does), turns per second, per round and the median;
* agreement: the lowest cosine between the two backends' vectors over all the texts.

The ONNX export (made once, cached) is timed separately and not counted. Figures are
printed and written to eval/results/bench_onnx.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from locomo_text import load_questions, load_sessions

from agentmem import SentenceTransformerEmbedder

RESULTS = Path(__file__).resolve().parent / "results" / "bench_onnx.json"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    backends = {b: SentenceTransformerEmbedder(backend=b) for b in ("onnx", "torch")}
    t0 = time.perf_counter()
    backends["onnx"].embed(["load or export"])
    first_use = time.perf_counter() - t0
    backends["torch"].embed(["load"])
    questions = load_questions()[: args.queries]
    turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns]
    turns = turns[: args.turns]

    latency: dict[str, list[float]] = {b: [] for b in backends}
    for q in questions:  # alternate per query: drift hits both alike
        for name, emb in backends.items():
            t = time.perf_counter()
            emb.embed([q])
            latency[name].append((time.perf_counter() - t) * 1000)
    throughput: dict[str, list[float]] = {b: [] for b in backends}
    for _ in range(args.rounds):
        for name, emb in backends.items():
            t = time.perf_counter()
            emb.embed(turns)
            throughput[name].append(len(turns) / (time.perf_counter() - t))
    texts = questions + turns
    agreement = float(np.min((backends["onnx"].embed(texts)
                              * backends["torch"].embed(texts)).sum(axis=1)))

    rows = {name: {"query_p50_ms": statistics.median(latency[name]),
                   "query_p95_ms": pct(latency[name], 95),
                   "batch_turns_per_s": throughput[name],
                   "batch_turns_per_s_median": statistics.median(throughput[name])}
            for name in backends}
    report = {
        "command": "python " + " ".join(["eval/bench_onnx.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "queries": len(questions), "turns": len(turns), "rounds": args.rounds,
        "onnx_first_use_s": first_use,
        "backends": rows,
        "query_p50_torch_over_onnx": rows["torch"]["query_p50_ms"] / rows["onnx"]["query_p50_ms"],
        "batch_onnx_over_torch": (rows["onnx"]["batch_turns_per_s_median"]
                                  / rows["torch"]["batch_turns_per_s_median"]),
        "min_cosine_onnx_vs_torch": agreement,
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

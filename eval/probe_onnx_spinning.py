"""Probe: ONNX Runtime's idle threads spinning or sleeping, during hybrid search.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/probe_onnx_spinning.py [--memory DIR]
        [--size 100000] [--queries 200] [--rounds 2]

A hybrid search embeds its query while SQLite runs the FTS5 query in another thread. By
default ONNX Runtime's worker threads spin while idle, which takes a core from SQLite on
a 2-core machine; agentmem turns spinning off (``agentmem.embed.onnx.OnnxModel``). This
probe builds (once, kept in ``--memory``) the memory ``eval/bench_core.py`` builds at
``--size`` units, then times the same LoCoMo questions in hybrid mode with the query
embedded by the packaged model on ONNX Runtime, spinning off and on, alternating per
round; and embeds 1,000 LoCoMo turns in batches with each setting. Figures are printed
and written to eval/results/probe_onnx_spinning.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bench_core import DerivedEmbedder, build_search_memory, pct, search_contents
from locomo_text import load_questions, load_sessions

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.embed import default_model_path
from agentmem.embed.onnx import OnnxModel, export_onnx

RESULTS = Path(__file__).resolve().parent / "results" / "probe_onnx_spinning.json"


class Onnx:
    """The packaged model on ONNX Runtime with the spinning setting given."""

    def __init__(self, spinning: bool, real: SentenceTransformerEmbedder) -> None:
        folder = export_onnx(default_model_path(), lambda: None)  # exported by `real`
        self.model = OnnxModel(folder, spinning=spinning)
        self.name, self.dim = real.name, real.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(texts, 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--memory", type=Path, default=Path("/tmp/agentmem-probe-100k"))
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    real = SentenceTransformerEmbedder(backend="onnx")
    real.embed(["export the model if needed"])
    emb = DerivedEmbedder(real, {})
    if not args.memory.exists():  # the memory bench_core builds (seed 0, one size)
        turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns]
        contents, vecs = search_contents(turns, real.embed(turns), args.size,
                                         random.Random(0))
        with Memory(args.memory, embedder=emb, granularity="turn") as mem:
            print(f"built {args.size} units in "
                  f"{build_search_memory(mem, emb, contents, vecs):.0f} s", flush=True)
    questions = load_questions()
    random.Random(0).shuffle(questions)
    qs = questions[: args.queries]
    settings = {"off": Onnx(False, real), "on": Onnx(True, real)}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in settings}
    with Memory(args.memory, embedder=emb, granularity="turn") as mem:
        for q in qs[:10]:
            mem.search(q + " warm", user_id="bench", k=5)
        for r in range(args.rounds):
            for name, model in settings.items():
                emb.real = model  # type: ignore[assignment]
                lat = []
                for q in qs:
                    t0 = time.perf_counter()
                    mem.search(f"{q} [{name} {r}]", user_id="bench", k=5, mode="hybrid")
                    lat.append((time.perf_counter() - t0) * 1000)
                row = {"p50_ms": statistics.median(lat), "p95_ms": pct(lat, 95)}
                runs[name].append(row)
                print(f"round {r + 1}, spinning {name}: hybrid p50 {row['p50_ms']:.1f} ms, "
                      f"p95 {row['p95_ms']:.1f} ms", flush=True)
    turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns][:1000]
    batch: dict[str, list[float]] = {k: [] for k in settings}
    for model in settings.values():  # warm-up: batch-sized buffers
        model.embed(turns[:128])
    for _ in range(args.rounds):  # ingestion's side: turns/s in batches of 64
        for name, model in settings.items():
            t0 = time.perf_counter()
            model.embed(turns)
            batch[name].append(len(turns) / (time.perf_counter() - t0))
    print("batch turns/s: " + ", ".join(f"spinning {k} {[round(v) for v in vs]}"
                                        for k, vs in batch.items()), flush=True)
    report = {"command": "python " + " ".join(["eval/probe_onnx_spinning.py", *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%d"), "units": args.size,
              "queries": len(qs), "spinning": runs,
              "batch_turns": len(turns), "batch_turns_per_s": batch}
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

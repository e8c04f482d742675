"""Core benchmark: ingest overhead over raw embedding, and search latency at scale.

    python eval/bench_core.py [--ingest-turns 1000] [--sizes 10000 100000] [--queries 300]

Part 1 (ingest): the same LoCoMo turns are embedded by the raw sentence-transformers
embedder (in the same per-session batches agentmem uses) and ingested by agentmem into
a fresh on-disk memory (turn granularity, cold cache; timed until every vector is in
Chroma). The two alternate for --rounds rounds. Overhead ratio = agentmem time / raw
embedding time - 1, per round and the median. Because the machine's speed drifts
between runs, the script also reports the in-run overhead: agentmem's time outside the
embedder over its time inside it, both measured during the same ingestion.

Part 2 (search): a memory of N units for one user, each unit the text of two real
LoCoMo turns joined. Embedding 100k such texts would take ~30 min on 2 cores, so a
unit's vector is the normalised mean of its two turns' real vectors (computed once
and served from the embedding cache, as a re-ingest would be). Queries are LoCoMo's
real questions, each embedded for real at search time and included in the latency.

Figures are printed and written to eval/results/bench_core.json.
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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from locomo_text import load_questions, load_sessions

from agentmem import Memory, SentenceTransformerEmbedder

RESULTS = Path(__file__).resolve().parent / "results" / "bench_core.json"


class TimedEmbedder:
    """Passes through to a real embedder and adds up the time spent inside it."""

    def __init__(self, real: SentenceTransformerEmbedder) -> None:
        self.real = real
        self.name = real.name
        self.dim = real.dim
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.real.embed(texts)
        finally:
            self.seconds += time.perf_counter() - t0


class DerivedEmbedder:
    """Embeds texts it was given vectors for from a table; anything else (queries)
    goes to the real model."""

    def __init__(self, real: SentenceTransformerEmbedder, table: dict[str, np.ndarray]) -> None:
        self.real = real
        self.table = table
        self.name = "bench-derived-minilm"
        self.dim = real.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        unknown = [i for i, t in enumerate(texts) if t not in self.table]
        for i, t in enumerate(texts):
            if t in self.table:
                out[i] = self.table[t]
        if unknown:
            out[unknown] = self.real.embed([texts[i] for i in unknown])
        return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def bench_ingest(real: SentenceTransformerEmbedder, n_turns: int, rounds: int
                 ) -> dict[str, object]:
    """Alternates raw embedding and agentmem ingestion ``rounds`` times (so machine
    load drifts hit both alike) and reports each round's ratio and the median."""
    sessions = load_sessions()
    batches: list[tuple[str, str, list[dict[str, str]]]] = []
    total = 0
    for s in sessions:
        msgs = [{"role": "user", "name": t["speaker"], "content": t["text"]} for t in s.turns]
        msgs = msgs[: n_turns - total]
        batches.append((f"{s.conversation}-{s.index}", s.date_time, msgs))
        total += len(msgs)
        if total >= n_turns:
            break
    texts = [[f"{m['name']}: {m['content']}" for m in msgs] for _, _, msgs in batches]
    real.embed(["warm up"])
    raws, ingests, inside = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for group in texts:
            real.embed(group)
        raws.append(time.perf_counter() - t0)
        timed = TimedEmbedder(real)
        with tempfile.TemporaryDirectory() as tmp, Memory(Path(tmp) / "m", embedder=timed,
                                                          granularity="turn") as mem:
            t0 = time.perf_counter()
            for sid, ts, msgs in batches:
                mem.add(msgs, user_id="bench", session_id=sid, timestamp=ts)
            ingests.append(time.perf_counter() - t0)
            inside.append(timed.seconds)
            stats = mem.stats()
            assert stats.units == {"turn": total} and stats.pending_index_repairs == 0
    ratios = [i / r - 1.0 for r, i in zip(raws, ingests, strict=True)]
    # Same-interval measure, immune to drift between the two runs: the time agentmem
    # spends outside the embedder, over the time inside it.
    in_run = [(i - m) / m for i, m in zip(ingests, inside, strict=True)]
    return {
        "turns": total,
        "rounds": rounds,
        "raw_embed_s": raws,
        "agentmem_s": ingests,
        "overhead_ratios": ratios,
        "overhead_ratio_median": statistics.median(ratios),
        "embedder_s_inside_agentmem": inside,
        "overhead_in_run": in_run,
        "overhead_in_run_median": statistics.median(in_run),
        "raw_turns_per_s_median": total / statistics.median(raws),
        "agentmem_turns_per_s_median": total / statistics.median(ingests),
    }


def bench_search(real: SentenceTransformerEmbedder, sizes: list[int], n_queries: int,
                 seed: int) -> list[dict[str, float]]:
    turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns]
    turn_vecs = real.embed(turns)
    rng = random.Random(seed)
    questions = load_questions()
    rng.shuffle(questions)
    results = []
    for size in sizes:
        table: dict[str, np.ndarray] = {}
        contents: list[str] = []
        seen: set[tuple[int, int]] = set()
        while len(contents) < size:
            i, j = rng.randrange(len(turns)), rng.randrange(len(turns))
            if i == j or (i, j) in seen:
                continue
            seen.add((i, j))
            content = f"{turns[i]} {turns[j]}"
            v = turn_vecs[i] + turn_vecs[j]
            table[f"user: {content}"] = (v / np.linalg.norm(v)).astype(np.float32)
            contents.append(content)
        emb = DerivedEmbedder(real, table)
        with tempfile.TemporaryDirectory() as tmp, Memory(Path(tmp) / "m", embedder=emb,
                                                          granularity="turn") as mem:
            t0 = time.perf_counter()
            for b in range(0, size, 200):
                mem.add([{"role": "user", "content": c} for c in contents[b : b + 200]],
                        user_id="bench", session_id=f"s{b // 200}",
                        timestamp="2024-01-01T00:00:00")
            build = time.perf_counter() - t0
            assert sum(mem.stats().units.values()) == size
            qs = questions[:n_queries]
            for q in qs[:10]:  # warm-up: model, connections, Chroma segment load
                mem.search(q + " warm", user_id="bench", k=5)
            row: dict[str, float] = {"units": size, "build_s": build, "queries": len(qs)}
            for mode in ("hybrid", "dense", "lexical"):
                lat = []
                for q in qs:
                    emb_q = f"{q} [{mode}]"  # distinct text: no query-cache hits
                    t0 = time.perf_counter()
                    mem.search(emb_q, user_id="bench", k=5, mode=mode)
                    lat.append((time.perf_counter() - t0) * 1000)
                row[f"{mode}_p50_ms"] = statistics.median(lat)
                row[f"{mode}_p95_ms"] = pct(lat, 95)
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ingest-turns", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="alternating ingest rounds")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    real = SentenceTransformerEmbedder()
    ingest = bench_ingest(real, args.ingest_turns, args.rounds)
    print(json.dumps(ingest), flush=True)
    search = bench_search(real, args.sizes, args.queries, args.seed)
    report = {
        "command": "python " + " ".join(["eval/bench_core.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "ingest": ingest,
        "search": search,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

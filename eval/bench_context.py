"""What context turns in keys cost at ingestion: the same LoCoMo sessions stored with
``context_turns=0`` and ``=2`` (the default), alternating, each into a fresh in-memory
Memory with an empty embedding cache, so every key is embedded.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_context.py [--turns 600] [--rounds 3]

Prints wall time per configuration and round, and the ratio, and writes
eval/results/bench_context.json.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory, SentenceTransformerEmbedder  # noqa: E402
from agentmem.eval.data import load_locomo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "locomo" /
                                          "26.json"))
    ap.add_argument("--turns", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "results" /
                    "bench_context.json")
    args = ap.parse_args()
    ds = load_locomo([args.data])
    hay = ds.haystack(ds.questions[0].haystack_id)
    sessions, n = [], 0
    for s in hay.sessions:
        if n >= args.turns:
            break
        msgs = [{"role": t.role, "content": t.content, "name": t.name}
                for t in s.turns[: args.turns - n] if t.content.strip()]
        n += len(msgs)
        sessions.append((s.id, s.date, msgs))
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    times: dict[int, list[float]] = {0: [], 2: []}
    chars: dict[int, int] = {}
    for _ in range(args.rounds):
        for ctx in (0, 2):
            start = time.perf_counter()
            with Memory(embedder=embedder, context_turns=ctx) as mem:
                for sid, date, msgs in sessions:
                    mem.add(msgs, user_id="u", session_id=sid, timestamp=date)
                chars[ctx] = sum(len(u.key or u.text) for u in mem.units("u"))
            times[ctx].append(time.perf_counter() - start)
            print(f"context_turns={ctx}: {times[ctx][-1]:.1f} s", flush=True)
    med = {c: statistics.median(v) for c, v in times.items()}
    result = {
        "command": "python eval/bench_context.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "turns": n, "sessions": len(sessions),
        "wall_s": times, "median_s": med, "indexed_chars": chars,
        "ratio_median": med[2] / med[0],
    }
    print(f"{n} turns: median {med[0]:.1f} s without context, {med[2]:.1f} s with 2 "
          f"context turns (x{result['ratio_median']:.2f}); indexed text "
          f"x{chars[2] / chars[0]:.2f}")
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

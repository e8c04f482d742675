"""The cost of the freed-memory guard around embedded Chroma calls
(agentmem/index/heap.py), side by side in one run.

    python eval/bench_heap_guard.py [--rounds 2]

LoCoMo conversation 26 (19 sessions, 419 turns) is added to a fresh on-disk memory,
session by session, then 100 of its turns are searched (k=5), with the guard on and
off in alternation (each its own subprocess, so heap state starts alike). Written to
eval/results/bench_heap_guard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results" / "bench_heap_guard.json"


def one(guard: bool) -> dict[str, float]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "eval"))
    sys.path.insert(0, str(ROOT))
    from locomo_text import DEFAULT_DIR, load_sessions

    from agentmem import Memory, SentenceTransformerEmbedder
    from agentmem.index import heap

    if not guard:
        heap._mallopt = None
    sessions = [s for s in load_sessions(DEFAULT_DIR) if s.conversation == "26"]
    emb = SentenceTransformerEmbedder()
    emb.embed(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp, \
            Memory(path=Path(tmp) / "m", embedder=emb) as mem:
        t0 = time.perf_counter()
        for i, s in enumerate(sessions):
            mem.add([{"role": "user" if j % 2 == 0 else "assistant", "content": t["text"]}
                     for j, t in enumerate(s.turns)],
                    user_id="u", session_id=f"s{i}", timestamp=s.date_time)
        t1 = time.perf_counter()
        for q in [t["text"] for s in sessions[:5] for t in s.turns][:100]:
            mem.search(q, user_id="u", k=5)
        t2 = time.perf_counter()
    return {"add_s": round(t1 - t0, 3), "search100_s": round(t2 - t1, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one == "on")))
        return
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            out = subprocess.run([sys.executable, __file__, "--one", mode],
                                 capture_output=True, text=True, check=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            print(mode, runs[mode][-1])
    total = {m: {k: round(sum(r[k] for r in rs), 3) for k in rs[0]} for m, rs in runs.items()}
    result = {"rounds": args.rounds, "runs": runs, "total": total,
              "add_on_over_off": round(total["on"]["add_s"] / total["off"]["add_s"], 3),
              "search_on_over_off": round(
                  total["on"]["search100_s"] / total["off"]["search100_s"], 3)}
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

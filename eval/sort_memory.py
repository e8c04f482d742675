"""SORT's memory condition on the Austen novels, before the `sort` harness command
exists: accuracy per excerpt length, segment length and distance bin.

    .venv/bin/python eval/fetch_austen.py          # once: the six novels as text
    HF_HUB_OFFLINE=1 .venv/bin/python eval/sort_memory.py [--excerpts 1] [--chunk 100]

Each excerpt is stored once in a fresh in-memory Memory, as a timestamped stream of
`--chunk`-word messages. Every instance drawn from it (both segment lengths, the four
bins) is then answered from the stored order (agentmem.eval.sort.answer_from_memory).
Writes eval/results/sort/memory_austen.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fetch_austen import DEFAULT_OUT, fetch  # noqa: E402

from agentmem import Memory, SentenceTransformerEmbedder  # noqa: E402
from agentmem.embed import DiskCachedEmbedder  # noqa: E402
from agentmem.eval.sort import answer_from_memory, build_instances, ingest_stream  # noqa: E402


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of k successes in n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(centre - half, 3), round(centre + half, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--excerpts", type=int, default=1, help="excerpts per novel and length")
    ap.add_argument("--chunk", type=int, default=100, help="words per stored message")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--books", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/agentmem-sort-cache"))
    args = ap.parse_args()
    files = fetch(args.books)
    texts = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
    insts = build_instances(texts, excerpts=args.excerpts, seed=args.seed)
    groups: dict[tuple[str, int], list] = defaultdict(list)  # type: ignore[type-arg]
    for inst in insts:
        groups[(inst.source, inst.excerpt_start)].append(inst)
    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder(),
                                  args.cache / "embeddings.sqlite")
    rows = []
    started = time.perf_counter()
    for (source, start), group in groups.items():
        le = group[0].excerpt_length
        words = texts[source].split()[start : start + le]
        with Memory(embedder=embedder, context_turns=0) as mem:
            stream = ingest_stream(mem, "reader", words, chunk=args.chunk)
            for inst in group:
                got = answer_from_memory(mem, "reader", inst, stream)
                rows.append({"id": inst.id, "excerpt_length": le,
                             "segment_length": inst.segment_length, "bin": inst.bin,
                             "answer": inst.answer, "predicted": got,
                             "correct": got == inst.answer})
        print(f"{source} {le} words: {sum(r['correct'] for r in rows[-len(group):])}"
              f"/{len(group)}", flush=True)
    embedder.close()

    def summary(key: str) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for value in sorted({r[key] for r in rows}):
            sel = [r for r in rows if r[key] == value]
            k = sum(r["correct"] for r in sel)
            out[str(value)] = {"accuracy": round(k / len(sel), 3), "n": len(sel),
                               "ci95": wilson(k, len(sel))}
        return out

    k = sum(r["correct"] for r in rows)
    result = {
        "command": "python eval/sort_memory.py " + " ".join(sys.argv[1:]),
        "instances": len(rows), "chunk_words": args.chunk, "seed": args.seed,
        "overall": {"accuracy": round(k / len(rows), 3), "n": len(rows),
                    "ci95": wilson(k, len(rows))},
        "unanswered": sum(r["predicted"] is None for r in rows),
        "by_excerpt_length": summary("excerpt_length"),
        "by_segment_length": summary("segment_length"), "by_bin": summary("bin"),
        "wall_s": round(time.perf_counter() - started, 1), "predictions": rows}
    out = ROOT / "eval" / "results" / "sort"
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory_austen.json").write_text(json.dumps(result, indent=1) + "\n",
                                            encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "predictions"}, indent=1))


if __name__ == "__main__":
    main()

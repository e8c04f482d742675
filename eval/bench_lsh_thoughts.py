"""LSH versus exact recall on real thoughts: the ones a model post-thought from LoCoMo.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_lsh_thoughts.py \
        --llm-name vllm:SmolLM2-135M-Instruct --cache /tmp/tim-cache \
        --data ../shared/data/locomo/26.json ../shared/data/locomo/42.json

Replays the post-thinking completions that an earlier `eval/ablation.py --thoughts` run
left in ``CACHE/llm.sqlite`` (no model is loaded; an exchange missing from the cache
counts as a failed item). Then, per conversation, the active thoughts are queried with
the LoCoMo questions. Exact cosine search over all thoughts is compared with LSHIndex
for several (b, L, probes) on:

- query time;
- recall@5 relative to the exact top 5;
- how often a thought from a gold evidence session is in the top 5 (exact and LSH).

Writes eval/results/bench_lsh_thoughts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory, SentenceTransformerEmbedder, ThoughtConfig  # noqa: E402
from agentmem.embed import DiskCachedEmbedder  # noqa: E402
from agentmem.errors import LLMError  # noqa: E402
from agentmem.eval import load_locomo  # noqa: E402
from agentmem.index.lsh import LSHIndex, LSHParams  # noqa: E402
from agentmem.llm import CachedLLM, Completion, LLMRequest  # noqa: E402

CONFIGS = [(16, 1, 1), (16, 4, 1), (64, 4, 2), (64, 8, 2), (256, 8, 2)]
USER = "eval-user"


class CacheOnly:
    """Stands for the model that filled the cache: every miss is a failed item."""

    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        raise LLMError(f"{len(requests)} requests are not in the cache")


def evidence(tops: list[list[int]], questions: Sequence[Any],
             thought_sessions: list[set[str]]) -> float:
    """Share of questions with a thought from a gold evidence session in the top 5."""
    found = sum(any(thought_sessions[i] & set(q.gold_session_ids) for i in top)
                for q, top in zip(questions, tops, strict=True))
    return round(found / len(questions), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--llm-name", required=True,
                    help="the name the completions were cached under, e.g. "
                         "vllm:SmolLM2-135M-Instruct")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "eval" / "results" / "bench_lsh_thoughts.json")
    args = ap.parse_args()
    data = load_locomo(args.data)
    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder(),
                                  args.cache / "embeddings.sqlite")
    llm = CachedLLM(CacheOnly(args.llm_name), args.cache / "llm.sqlite")
    report: dict[str, Any] = {"command": "python eval/bench_lsh_thoughts.py " +
                              " ".join(sys.argv[1:]), "conversations": []}
    for hay_id in sorted({q.haystack_id for q in data.questions}):
        hay = data.haystack(hay_id)
        questions = [q for q in data.questions if q.haystack_id == hay_id
                     and q.gold_session_ids and not q.abstention]
        with Memory(embedder=embedder, llm=llm, thoughts=ThoughtConfig()) as mem:
            for s in hay.sessions:
                msgs = [{"role": t.role, "content": t.content,
                         **({"name": t.name} if t.name else {})}
                        for t in s.turns if t.content.strip()]
                if msgs:
                    mem.add(msgs, user_id=USER, session_id=s.id, timestamp=s.date)
            stats = mem.stats()
            active = mem.thoughts(USER)
            vectors = mem.thought_store._index(USER).lsh.vectors([t.id for t in active])
            ids = [t.id for t in active]
            x = np.stack([vectors[i] for i in ids])
            turn_session = {t.id: u.session_id for u in mem.units(USER) for t in u.turns}
        thought_sessions = [{turn_session[s] for s in t.source_turn_ids if s in turn_session}
                            for t in active]
        qv = np.stack([embedder.embed([q.question])[0] for q in questions])
        qv /= np.linalg.norm(qv, axis=1, keepdims=True)
        exact_top, exact_t = [], []
        for v in qv:
            t0 = time.perf_counter()
            s = x @ v
            top = np.argsort(-s)[:5]
            exact_t.append(time.perf_counter() - t0)
            exact_top.append(top.tolist())

        row: dict[str, Any] = {
            "conversation": hay_id, "thoughts": stats.thoughts,
            "llm_failures": stats.llm_failures["thoughts"], "questions": len(questions),
            "exact_p50_ms": round(float(np.median(exact_t)) * 1e3, 4),
            "exact_evidence_at_5": evidence(exact_top, questions, thought_sessions), "lsh": []}
        print(f"conversation {hay_id}: {len(ids)} active thoughts {stats.thoughts}, "
              f"{len(questions)} questions; exact p50 {row['exact_p50_ms']:.3f} ms, "
              f"evidence session in top 5: {row['exact_evidence_at_5']:.3f}", flush=True)
        for b, tables, probes in CONFIGS:
            index = LSHIndex(LSHParams(dim=x.shape[1], buckets=b, tables=tables, seed=0))
            index.add(list(range(len(ids))), x)
            got, times, cands = [], [], []
            for v in qv:
                t0 = time.perf_counter()
                res = index.query(v, k=5, probes=probes)
                times.append(time.perf_counter() - t0)
                got.append([int(i) for i, _ in res])  # type: ignore[call-overload]
                cands.append(len(index.candidates(v, probes)))
            rel = float(np.mean([len(set(g) & set(e)) / 5 for g, e in
                                 zip(got, exact_top, strict=True)]))
            lsh = {"buckets": b, "tables": tables, "probes": probes,
                   "p50_ms": round(float(np.median(times)) * 1e3, 4),
                   "recall_at_5_vs_exact": round(rel, 4),
                   "evidence_at_5": evidence(got, questions, thought_sessions),
                   "mean_candidates": round(float(np.mean(cands)), 1)}
            row["lsh"].append(lsh)
            print(f"  b={b} L={tables} p={probes}: p50 {lsh['p50_ms']:.3f} ms, recall@5 vs "
                  f"exact {rel:.3f}, evidence {lsh['evidence_at_5']:.3f}, candidates "
                  f"{lsh['mean_candidates']:.0f}", flush=True)
        report["conversations"].append(row)
    llm.close()
    embedder.close()
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

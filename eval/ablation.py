"""Retrieval ablation on the LoCoMo dev conversations: memory designs side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py [--data ../shared/data/locomo]

Runs the harness (retrieval only) once per configuration below, sharing one embedding
cache, and writes eval/results/ablation/README.md: session and turn recall_any/all@5 and
@10 and NDCG@5, on all five dev conversations and split into the three used while
choosing the defaults (26, 30, 41) and two held out from that choice (42, 43), plus
session recall_all@5 per question category. No LLM is involved: the key designs that
need one (V+fact, V+keyphrase, V+summary) are not in this table yet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem.eval import RunConfig, evaluate  # noqa: E402
from agentmem.eval.metrics import aggregate_retrieval  # noqa: E402

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("round, hybrid score fusion + session context, time-aware (default)", {}),
    ("round, same, time-aware off", {"time_aware": False}),
    ("round, score fusion, no session context", {"session_weight": 0.0}),
    ("round, RRF, no session context (the earlier fusion)", {"fusion": "rrf",
                                                           "session_weight": 0.0}),
    ("turn, default ranking", {"granularity": "turn"}),
    ("session, default ranking", {"granularity": "session"}),
    ("turn, dense only", {"granularity": "turn", "mode": "dense", "time_aware": False}),
    ("turn, FTS5 lexical only", {"granularity": "turn", "mode": "lexical",
                                 "time_aware": False}),
    ("turn, BM25 reference (rank_bm25 formulation)", {"granularity": "turn",
                                                      "retriever": "bm25"}),
]
SPLITS = {"all 5": None, "tune (26, 30, 41)": ("26", "30", "41"),
          "held out (42, 43)": ("42", "43")}
COLUMNS = [("session", "recall_all@5"), ("session", "recall_any@5"),
           ("session", "ndcg_any@5"), ("session", "recall_all@10"),
           ("turn", "recall_all@10"), ("turn", "recall_any@10"), ("turn", "recall_all@5")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "locomo"))
    parser.add_argument("--out", default=str(ROOT / "eval" / "results" / "ablation"))
    parser.add_argument("--cache", default=str(ROOT / "eval" / "results" / "ablation" /
                                               "cache"))
    args = parser.parse_args()
    out = Path(args.out)
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    for i, (label, options) in enumerate(VARIANTS):
        config = RunConfig("locomo", **options)
        result = evaluate("locomo", [args.data], Path("/tmp") / f"agentmem-ablation-{i}",
                          config=config, cache=args.cache, overwrite=True, progress=False)
        preds = [json.loads(line) for line in
                 (result.out / "predictions.jsonl").read_text().splitlines()]
        rows.append((label, config.as_dict(), preds))
        print(f"{label}: session R_all@5 {result.metrics['session']['recall_all@5']:.3f}, "
              f"turn R_all@10 {result.metrics['turn']['recall_all@10']:.3f}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(render(rows), encoding="utf-8")
    print(f"wrote {out / 'README.md'}")


def render(rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]) -> str:
    lines = ["# LoCoMo retrieval ablation (dev conversations, no LLM)", "",
             "Command: `HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py`", "",
             "Questions with gold evidence, abstention (category 5) excluded. Session ranks "
             "come from unit ranks by first appearance (LongMemEval's rule).", ""]
    head = " | ".join(f"{lvl[0].upper()} {m}" for lvl, m in COLUMNS)
    for split, keep in SPLITS.items():
        lines += [f"## {split}", "", f"| configuration | n | {head} |",
                  "|---|---|" + "---|" * len(COLUMNS)]
        for label, _, preds in rows:
            sel = [p for p in preds if keep is None or p["question_id"].split("_")[0] in keep]
            m = aggregate_retrieval(sel)
            cells = " | ".join(f"{m[lvl][metric]:.3f}" for lvl, metric in COLUMNS)
            lines.append(f"| {label} | {m['n']['session']} | {cells} |")
        lines.append("")
    types = sorted({p["question_type"] for _, _, preds in rows for p in preds
                    if not p.get("abstention")})
    lines += ["## Session recall_all@5 by category (all 5)", "",
              "| configuration | " + " | ".join(types) + " |",
              "|---|" + "---|" * len(types)]
    for label, _, preds in rows:
        cells = []
        for t in types:
            m = aggregate_retrieval([p for p in preds if p["question_type"] == t])
            cells.append(f"{m['session']['recall_all@5']:.3f} (n={m['n']['session']})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Configurations (RunConfig):", ""]
    lines += [f"- {label}: `{json.dumps(cfg)}`" for label, cfg, _ in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

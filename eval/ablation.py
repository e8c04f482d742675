"""Retrieval ablation on the LoCoMo dev conversations: memory designs side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py [--data ../shared/data/locomo]
    HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py --llm vllm:/path/to/model \
        --data ../shared/data/locomo/26.json

Without ``--llm``: runs the harness (retrieval only) once per configuration in
VARIANTS, sharing one embedding cache, and writes eval/results/ablation/README.md:
session and turn recall_any/all@5 and @10 and NDCG@5, on all five dev conversations and
split into the three used while choosing the defaults (26, 30, 41) and two held out
from that choice (42, 43), plus session recall_all@5 per question category.

With ``--llm``: the key designs of LongMemEval's table (V, V+fact, V+keyphrase,
V+summary, fact only; time-aware on and off) over the files given, written to
eval/results/ablation/llm_keys_<model>.md. The model reads each round once: one prompt
extracts all three parts, and the completions are kept in the cache folder
(llm.sqlite), so the later designs reuse the first one's extraction.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem.eval import RunConfig, evaluate  # noqa: E402
from agentmem.eval.metrics import aggregate_retrieval  # noqa: E402
from agentmem.llm import load_llm  # noqa: E402

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("round, hybrid score fusion + session context, time-aware, 2 context turns in keys, "
     "composed vectors (default)", {}),
    ("round, same, context turns concatenated in keys (embedded as one text)",
     {"context_vectors": "concatenated"}),
    ("round, same, no context turns in keys", {"context_turns": 0}),
    ("round, same, time-aware off", {"time_aware": False}),
    ("round, score fusion, no session context", {"session_weight": 0.0}),
    ("round, RRF, no session context, no context turns (the first fusion)",
     {"fusion": "rrf", "session_weight": 0.0, "context_turns": 0}),
    ("round, MemoryBank decay in ranking (weight 0.1, t in days)", {"decay_weight": 0.1}),
    ("round, MemoryBank decay in ranking (weight 0.3, t in days)", {"decay_weight": 0.3}),
    ("round, MemoryBank decay in ranking (weight 0.3, t in 30-day units)",
     {"decay_weight": 0.3, "decay_days": 30.0}),
    ("turn, default ranking", {"granularity": "turn"}),
    ("turn, context turns concatenated in keys", {"granularity": "turn",
                                                  "context_vectors": "concatenated"}),
    ("session, default ranking", {"granularity": "session"}),
    ("turn, dense only, no context", {"granularity": "turn", "mode": "dense",
                                      "time_aware": False, "context_turns": 0}),
    ("turn, FTS5 lexical only, no context", {"granularity": "turn", "mode": "lexical",
                                             "time_aware": False, "context_turns": 0}),
    ("turn, BM25 reference (rank_bm25 formulation)", {"granularity": "turn",
                                                      "retriever": "bm25"}),
]
# LongMemEval's key designs (round values, the default ranking otherwise)
LLM_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("V (no LLM)", {}),
    ("V + fact", {"keys": "facts"}),
    ("V + keyphrase", {"keys": "keyphrases"}),
    ("V + summary", {"keys": "summary"}),
    ("fact only (facts as values)", {"keys": "facts", "key_mode": "values",
                                     "kinds": "fact"}),
    ("V (no LLM), time-aware off", {"time_aware": False}),
    ("V + fact, time-aware off", {"keys": "facts", "time_aware": False}),
]
# Think-in-Memory beside the episodic store (round values, the default ranking)
THOUGHT_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("V (no LLM)", {}),
    ("V + thoughts (TiM post-thinking; the two stores fused by reciprocal rank)",
     {"thoughts": True}),
    ("V + thoughts, thought ranking weighted 0.5 in the fusion",
     {"thoughts": True, "thought_weight": 0.5}),
    ("V + thoughts, thought ranking weighted 0.9 in the fusion",
     {"thoughts": True, "thought_weight": 0.9}),
    ("thoughts only", {"thoughts": True, "kinds": "thought"}),
]
SPLITS = {"all 5": None, "tune (26, 30, 41)": ("26", "30", "41"),
          "held out (42, 43)": ("42", "43")}
COLUMNS = [("session", "recall_all@5"), ("session", "recall_any@5"),
           ("session", "ndcg_any@5"), ("session", "recall_all@10"),
           ("turn", "recall_all@10"), ("turn", "recall_any@10"), ("turn", "recall_all@5")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+",
                        default=[str(ROOT.parent / "shared" / "data" / "locomo")],
                        help="LoCoMo files or folders (default: the five dev files)")
    parser.add_argument("--out", default=str(ROOT / "eval" / "results" / "ablation"))
    parser.add_argument("--cache", default=str(ROOT / "eval" / "results" / "ablation" /
                                               "cache"))
    parser.add_argument("--llm", metavar="SPEC",
                        help="run the LLM key designs with this model (see module doc)")
    parser.add_argument("--thoughts", action="store_true",
                        help="with --llm: the Think-in-Memory designs instead of the keys")
    args = parser.parse_args()
    out = Path(args.out)
    llm = load_llm(args.llm) if args.llm else None
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    usage: list[str] = []
    if args.thoughts and llm is None:
        parser.error("--thoughts needs --llm SPEC")
    variants = (THOUGHT_VARIANTS if args.thoughts else LLM_VARIANTS) if llm else VARIANTS
    for i, (label, options) in enumerate(variants):
        config = RunConfig("locomo", **options)
        result = evaluate("locomo", args.data, Path("/tmp") / f"agentmem-ablation-{i}",
                          config=config, cache=args.cache, overwrite=True, progress=False,
                          llm=llm if config.keys or config.thoughts else None)
        for op, spent in result.manifest.get("llm_usage", {}).items():
            usage.append(f"- {label}, {op}: {spent['calls']} calls, "
                         f"{spent['prompt_tokens']} prompt + {spent['completion_tokens']} "
                         f"completion tokens, {spent['wall_s']:.0f} s "
                         f"(cache hits {result.manifest.get('llm_cache_hits')}); ingestion "
                         f"wall time {result.manifest['wall_s']['ingest']:.0f} s")
        if "thoughts" in result.manifest:
            usage.append(f"- {label}: thoughts made {result.manifest['thoughts']}")
        preds = [json.loads(line) for line in
                 (result.out / "predictions.jsonl").read_text().splitlines()]
        rows.append((label, config.as_dict(), preds))
        print(f"{label}: session R_all@5 {result.metrics['session']['recall_all@5']:.3f}, "
              f"turn R_all@10 {result.metrics['turn']['recall_all@10']:.3f}", flush=True)
    close = getattr(llm, "close", None)
    if callable(close):  # a vLLM engine left to interpreter exit can hang it
        close()
    out.mkdir(parents=True, exist_ok=True)
    if llm is None:
        path = out / "README.md"
        path.write_text(render(rows, "# LoCoMo retrieval ablation (dev conversations, no "
                               "LLM)", "HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py",
                               SPLITS), encoding="utf-8")
    else:
        model = llm.name.split(":", 1)[-1].split("/")[-1]
        path = out / f"{'thoughts' if args.thoughts else 'llm_keys'}_{model}.md"
        files = ", ".join(Path(d).name for d in args.data)
        what = "Think-in-Memory" if args.thoughts else "key designs"
        flag = " --thoughts" if args.thoughts else ""
        text = render(rows, f"# LoCoMo {what} with {llm.name} ({files})",
                      f"HF_HUB_OFFLINE=1 .venv/bin/python eval/ablation.py --llm {args.llm}"
                      f"{flag} --data {' '.join(args.data)}", {"all given": None, **{
                          f"conversation {c}": (c,) for c in conversations(rows)}})
        text += "\nLLM cost (this run; a design reusing the cache spends nothing):\n\n" \
            + "\n".join(usage) + "\n"
        path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


def run_dev(out: str, *, embedder: Any = None) -> tuple[Any, list[dict[str, Any]]]:
    """The harness's default configuration over the five dev conversations (the shared
    embedding cache; ``embedder`` instead of the default one when given), and its
    predictions read back."""
    result = evaluate("locomo", [str(ROOT.parent / "shared" / "data" / "locomo")],
                      Path("/tmp") / out, config=RunConfig("locomo"),
                      cache=str(ROOT / "eval" / "results" / "ablation" / "cache"),
                      overwrite=True, progress=False, embedder=embedder)
    return result, [json.loads(line) for line in
                    (result.out / "predictions.jsonl").read_text().splitlines()]


def dev_row(label: str, out: str, *, embedder: Any = None
            ) -> tuple[tuple[str, dict[str, Any], list[dict[str, Any]]], Any]:
    """:func:`run_dev` as a row of :func:`render` (the default configuration), with
    its headline figures printed; and the harness's result."""
    result, preds = run_dev(out, embedder=embedder)
    print(f"{label}: session R_all@5 {result.metrics['session']['recall_all@5']:.3f}, "
          f"turn R_all@10 {result.metrics['turn']['recall_all@10']:.3f}", flush=True)
    return (label, RunConfig("locomo").as_dict(), preds), result


def with_stages(stages: Sequence[Any], *, supersede: bool | None = None) -> None:
    """An experiment switch: every Memory made after this call ranks with the default
    pipeline plus ``stages`` (and the supersede stage forced on or off, unless None).
    ``with_stages([])`` restores the default."""
    import agentmem.memory
    from agentmem.ranking import default_pipeline

    def pipeline(*, fusion: str = "score", session_weight: float = 1.0,
                 extra: Sequence[Any] = (), supersede: bool = True) -> Any:
        return default_pipeline(fusion=fusion, session_weight=session_weight,
                                supersede=supersede if forced is None else forced,
                                extra=[*extra, *stages])

    forced = supersede
    agentmem.memory.default_pipeline = pipeline  # type: ignore[assignment]


def stage_experiment(variants: Sequence[tuple[str, Sequence[Any]]], *, prefix: str,
                     title: str, command: str, out: str) -> None:
    """Each ``(label, stages)`` variant as a :func:`dev_row` with the default pipeline
    plus ``stages`` (:func:`with_stages`), rendered with both splits into
    ``eval/results/ablation/<out>``; the default pipeline is restored after."""
    rows = []
    try:
        for n, (label, stages) in enumerate(variants):
            with_stages(stages)
            rows.append(dev_row(label, f"{prefix}-{n}")[0])
    finally:
        with_stages([])
    path = ROOT / "eval" / "results" / "ablation" / out
    path.write_text(render(rows, title, command, SPLITS), encoding="utf-8")
    print(f"wrote {path}")


def conversations(rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]]
                  ) -> list[str]:
    """The conversation ids the predictions cover (question ids are ``<conv>_q<n>``)."""
    return sorted({p["question_id"].split("_")[0] for _, _, preds in rows for p in preds})


def render(rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]], title: str,
           command: str, splits: dict[str, tuple[str, ...] | None]) -> str:
    lines = [title, "", f"Command: `{command}`", "",
             "Questions with gold evidence, abstention (category 5) excluded. Session ranks "
             "come from unit ranks by first appearance (LongMemEval's rule).", ""]
    head = " | ".join(f"{lvl[0].upper()} {m}" for lvl, m in COLUMNS)
    for split, keep in splits.items():
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
    lines += ["## Session recall_all@5 by category", "",
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

"""Outputs of a run: ``metrics.json``, ``report.md`` with PNG plots, the headline table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .metrics import KS, aggregate_retrieval, qa_summary

__all__ = ["compute_metrics", "headline", "write_report"]


def compute_metrics(predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``metrics.json``: overall session/turn metrics, per type, QA and counts."""
    overall = aggregate_retrieval(predictions)
    by_type: dict[str, Any] = {}
    types = sorted({str(p["question_type"]) for p in predictions})
    for t in types:
        rows = [p for p in predictions if p["question_type"] == t]
        agg = aggregate_retrieval(rows)
        qa = qa_summary(rows)
        by_type[t] = {"session": agg["session"], "turn": agg["turn"],
                      "n": {"questions": len(rows), **agg["n"]},  # type: ignore[dict-item]
                      "qa": qa["overall"] if qa else None}
    return {
        "session": overall["session"],
        "turn": overall["turn"],
        "by_type": by_type,
        "qa": qa_summary(predictions),
        "n": {"questions": len(predictions), **overall["n"]},  # type: ignore[dict-item]
    }


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def headline(metrics: Mapping[str, Any]) -> str:
    """A short text table of the main figures."""
    lines = [f"{'level':<8} {'n':>5} {'R_any@5':>8} {'R_all@5':>8} {'NDCG@5':>8} "
             f"{'R_any@10':>9} {'R_all@10':>9}"]
    for level in ("session", "turn"):
        m = metrics[level]
        n = metrics["n"][level]
        if not m:
            lines.append(f"{level:<8} {n:>5}  (no question with gold at this level)")
            continue
        lines.append(f"{level:<8} {n:>5} {m['recall_any@5']:>8.3f} {m['recall_all@5']:>8.3f} "
                     f"{m['ndcg_any@5']:>8.3f} {m['recall_any@10']:>9.3f} "
                     f"{m['recall_all@10']:>9.3f}")
    qa = metrics.get("qa")
    if qa:
        lines.append(f"QA accuracy {qa['overall']:.3f} (task-averaged {qa['task_averaged']:.3f}, "
                     f"abstention {_f(qa['abstention'])}, n={qa['n']})")
    return "\n".join(lines)


def _level_table(m: Mapping[str, float]) -> list[str]:
    rows = ["| metric | " + " | ".join(f"@{k}" for k in KS) + " |",
            "|---|" + "---|" * len(KS)]
    for metric in ("recall_any", "recall_all", "ndcg_any"):
        rows.append(f"| {metric} | " + " | ".join(_f(m.get(f"{metric}@{k}")) for k in KS)
                    + " |")
    return rows


def _plots(metrics: Mapping[str, Any], out: Path) -> list[str]:
    """Write the PNGs; returns their file names (none when matplotlib is absent)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written: list[str] = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for level, style in (("session", "-"), ("turn", "--")):
        m = metrics[level]
        if not m:
            continue
        for metric in ("recall_any", "recall_all"):
            ax.plot(KS, [m[f"{metric}@{k}"] for k in KS], style, marker="o",
                    label=f"{level} {metric}")
    ax.set_xscale("log")
    ax.set_xticks(KS, [str(k) for k in KS])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k")
    ax.set_ylabel("recall")
    ax.set_title("Recall@k")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "recall_at_k.png", dpi=110)
    plt.close(fig)
    written.append("recall_at_k.png")

    types = [t for t, m in metrics["by_type"].items() if m["session"] or m["qa"] is not None]
    series: list[tuple[str, list[float]]] = []
    for label, level, key in (("session recall_any@5", "session", "recall_any@5"),
                              ("session recall_all@5", "session", "recall_all@5"),
                              ("turn recall_all@10", "turn", "recall_all@10")):
        series.append((label, [metrics["by_type"][t][level].get(key, 0.0) for t in types]))
    if metrics.get("qa"):
        series.append(("QA accuracy", [metrics["by_type"][t]["qa"] or 0.0 for t in types]))
    if not types:
        return written
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(types)), 4.6))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        ax.bar([x + i * width for x in range(len(types))], values, width, label=label)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(types))], types,
                  rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_title("By question type")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
              ncol=min(len(series), 4), frameon=False)
    fig.tight_layout()
    fig.savefig(out / "by_type.png", dpi=110)
    plt.close(fig)
    written.append("by_type.png")
    return written


def write_report(metrics: Mapping[str, Any], manifest: Mapping[str, Any], out: Path) -> Path:
    """Write ``metrics.json``, the plots and ``report.md`` under ``out``."""
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    pngs = _plots(metrics, out)
    cfg = manifest["config"]
    lines = [
        f"# {manifest['benchmark']} — agentmem {manifest['agentmem_version']}",
        "",
        f"Command: `{manifest['command']}`",
        "",
        f"- data: {', '.join(d['path'] for d in manifest['data']['files'])} "
        f"(release: {manifest['data']['release']})",
        f"- retriever: {cfg['retriever']}, granularity={cfg['granularity']}, "
        f"search mode={cfg['mode']}, "
        f"embedder={manifest['embedder']}",
        f"- questions: {metrics['n']['questions']}; retrieval metrics over "
        f"{metrics['n']['session']} (session) and {metrics['n']['turn']} (turn) questions "
        "with gold evidence, abstention questions excluded",
    ]
    if not cfg["retrieval_only"]:
        comparable = "comparable to" if manifest["judge"]["comparable"] else "NOT comparable to"
        lines.append(f"- reader: {manifest['llm']}, top-{cfg['k']} items, Chain-of-Note="
                     f"{cfg['chain_of_note']}; judge: {manifest['judge']['name']} "
                     f"({comparable} published GPT-4o-judged numbers)")
    lines.append(f"- commit: {manifest['git_commit'] or 'unknown'}")
    lines.append("")
    lines += ["## Session-level retrieval", "", *_level_table(metrics["session"]), ""]
    lines += ["## Turn-level retrieval", "", *_level_table(metrics["turn"]), ""]
    lines += ["## By question type", "",
              "| type | n | session R_any@5 | session R_all@5 | session NDCG@5 | "
              "turn R_all@10 | QA |", "|---|---|---|---|---|---|---|"]
    for t, m in metrics["by_type"].items():
        lines.append(f"| {t} | {m['n']['questions']} | {_f(m['session'].get('recall_any@5'))} "
                     f"| {_f(m['session'].get('recall_all@5'))} "
                     f"| {_f(m['session'].get('ndcg_any@5'))} "
                     f"| {_f(m['turn'].get('recall_all@10'))} | {_f(m['qa'])} |")
    lines.append("")
    qa = metrics.get("qa")
    if qa:
        lines += ["## QA", "",
                  f"- overall accuracy: {_f(qa['overall'])} (n={qa['n']})",
                  f"- task-averaged accuracy: {_f(qa['task_averaged'])}",
                  f"- abstention accuracy: {_f(qa['abstention'])} (n={qa['n_abstention']})",
                  f"- unparseable judge replies (counted wrong): {qa['unparsed_verdicts']}",
                  f"- reader or judge calls without a result (counted wrong; answered again "
                  f"by --resume): {qa.get('failed', 0)}",
                  ""]
    if pngs:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in pngs] + [""]
    else:
        lines += ["(plots skipped: install matplotlib, e.g. "
                  "`pip install 'agentmem-local[eval]'`)", ""]
    wall = manifest["wall_s"]
    lines += ["## Time", "",
              "| stage | seconds |", "|---|---|",
              *[f"| {k} | {v:.1f} |" for k, v in wall.items()], ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

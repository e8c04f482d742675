"""LongMemEval's retrieval metrics, exactly as its official evaluation defines them.

- ``recall_any@k``: 1 if any gold id is in the top k; ``recall_all@k``: 1 if all are.
- ``ndcg_any@k``: binary relevance with LongMemEval's DCG, ``rel[0] + sum_{i>=1}
  rel[i] / log2(i + 1)`` (ranks 1 and 2 are both undiscounted), normalised by the DCG
  of the ideal ranking (all gold ids first).
- Rankings over units of another size are reduced by first appearance
  (:func:`rank_by_first_appearance`): k counts distinct gold-level ids.

Abstention questions and questions without gold at a level are excluded from that
level's averages (:func:`aggregate_retrieval`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "KS",
    "dcg",
    "ndcg_any",
    "rank_by_first_appearance",
    "recall_all",
    "recall_any",
    "retrieval_scores",
    "aggregate_retrieval",
    "qa_summary",
]

KS: tuple[int, ...] = (1, 3, 5, 10, 30, 50)
METRICS: tuple[str, ...] = ("recall_any", "recall_all", "ndcg_any")


def rank_by_first_appearance(groups: Iterable[Iterable[str]]) -> list[str]:
    """Flatten ranked groups of ids (a unit's sessions or turns) into distinct ids in
    the order they first appear."""
    return list(dict.fromkeys(i for g in groups for i in g))


def recall_any(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 if any gold id is among the first ``k`` ranked ids."""
    top = set(ranked[:k])
    return float(any(g in top for g in gold))


def recall_all(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 if every gold id is among the first ``k`` ranked ids."""
    top = set(ranked[:k])
    return float(all(g in top for g in gold))


def dcg(relevances: Sequence[float], k: int) -> float:
    """LongMemEval's DCG: ``rel[0] + sum_{i>=1} rel[i] / log2(i + 1)`` over the top k."""
    rel = list(relevances[:k])
    if not rel:
        return 0.0
    return rel[0] + sum(r / math.log2(i + 1) for i, r in enumerate(rel[1:], start=1))


def ndcg_any(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """NDCG@k with binary relevance and LongMemEval's DCG."""
    gold_set = set(gold)
    ideal = dcg([1.0] * len(gold_set), k)
    if ideal == 0:
        return 0.0
    return dcg([1.0 if r in gold_set else 0.0 for r in ranked], k) / ideal


def retrieval_scores(ranked: Sequence[str], gold: Sequence[str],
                     ks: Sequence[int] = KS) -> dict[str, float]:
    """``{"recall_any@5": ..., "recall_all@5": ..., "ndcg_any@5": ..., ...}``."""
    out: dict[str, float] = {}
    for metric in METRICS:
        fn = {"recall_any": recall_any, "recall_all": recall_all, "ndcg_any": ndcg_any}[metric]
        for k in ks:
            out[f"{metric}@{k}"] = fn(ranked, gold, k)
    return out


def _mean_dicts(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}


def aggregate_retrieval(predictions: Sequence[Mapping[str, object]],
                        ks: Sequence[int] = KS) -> dict[str, object]:
    """Average metrics over predictions (``predictions.jsonl`` rows).

    Returns ``{"session": {...}, "turn": {...}, "n": {"session": n, "turn": n}}``; a
    question counts at a level when it is no abstention question and has gold there.
    """
    out: dict[str, object] = {}
    n: dict[str, int] = {}
    for level in ("session", "turn"):
        rows = []
        for p in predictions:
            gold = p[f"gold_{level}_ids"]
            if _is_abstention(p) or not gold:
                continue
            ranked = p[f"ranked_{level}_ids"]
            assert isinstance(gold, list) and isinstance(ranked, list)
            rows.append(retrieval_scores(ranked, gold, ks))
        out[level] = _mean_dicts(rows)
        n[level] = len(rows)
    out["n"] = n
    return out


def _is_abstention(p: Mapping[str, object]) -> bool:
    return bool(p.get("abstention")) or str(p["question_id"]).endswith("_abs")


def qa_summary(predictions: Sequence[Mapping[str, object]]) -> dict[str, object] | None:
    """QA accuracy: overall, task-averaged (mean of per-type means), per type and on
    abstention questions. A missing verdict counts as wrong: ``unparsed_verdicts`` counts
    judge replies that were no verdict, ``failed`` the questions whose reader or judge
    call gave no result.
    None when no prediction was judged."""
    judged = [p for p in predictions if "verdict" in p]
    if not judged:
        return None

    def acc(rows: Sequence[Mapping[str, object]]) -> float:
        return sum(1.0 for r in rows if r["verdict"] == "yes") / len(rows)

    by_type: dict[str, list[Mapping[str, object]]] = {}
    for p in judged:
        by_type.setdefault(str(p["question_type"]), []).append(p)
    type_acc = {t: acc(rows) for t, rows in sorted(by_type.items())}
    abstain = [p for p in judged if _is_abstention(p)]
    return {
        "overall": acc(judged),
        "task_averaged": sum(type_acc.values()) / len(type_acc),
        "by_type": type_acc,
        "abstention": acc(abstain) if abstain else None,
        "n": len(judged),
        "n_abstention": len(abstain),
        "unparsed_verdicts": sum(1 for p in judged
                                 if p["verdict"] is None and "error" not in p),
        "failed": sum(1 for p in judged if "error" in p),
    }

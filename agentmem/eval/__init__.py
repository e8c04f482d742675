"""The evaluation harness: ``python -m agentmem.eval {longmemeval,locomo}``.

Loads a benchmark from local files (validated before any work), ingests each haystack
into an isolated memory, ranks every unit for each question, and scores the rankings
with LongMemEval's official retrieval metrics; optionally answers with a reader LLM and
judges the answers. See ``docs/evaluation.md``.
"""

from .data import Dataset, Haystack, Question, load_locomo, load_longmemeval
from .harness import EvalResult, evaluate, load_dataset
from .judge import judge_prompt, parse_verdict
from .metrics import aggregate_retrieval, ndcg_any, recall_all, recall_any
from .runner import RunConfig

__all__ = [
    "Dataset",
    "EvalResult",
    "Haystack",
    "Question",
    "RunConfig",
    "aggregate_retrieval",
    "evaluate",
    "judge_prompt",
    "load_dataset",
    "load_locomo",
    "load_longmemeval",
    "ndcg_any",
    "parse_verdict",
    "recall_all",
    "recall_any",
]

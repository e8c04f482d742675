"""``python -m agentmem.eval {longmemeval,locomo,sort}``: the command line of the harness
(``sort`` has its own options: :mod:`agentmem.eval.sort_runner`)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from ..errors import AgentMemError
from ..types import GRANULARITIES, SEARCH_MODES
from .harness import evaluate
from .runner import RunConfig

__all__ = ["main"]

_EPILOG = """\
outputs (under --out):
  predictions.jsonl  one line per question: gold and ranked session/turn ids (first 50),
                     and in QA mode the hypothesis, verdict and raw judge reply
  metrics.json       recall_any/recall_all/ndcg_any @1,3,5,10,30,50 at session and turn
                     level, per question type, QA accuracy, counts
  report.md          tables and plots (recall_at_k.png, by_type.png)
  manifest.json      version, commit, configuration, embedder/LLM/judge, data sha256,
                     counts, wall times, LLM calls and tokens
  cache/             the embedding and LLM completion caches (reused by later runs; see --cache)

examples:
  python -m agentmem.eval locomo --data ../shared/data/locomo --out runs/locomo --retrieval-only
  python -m agentmem.eval longmemeval --data longmemeval_s_cleaned.json --out runs/lme \\
      --llm openai:http://127.0.0.1:8000/v1@Qwen2.5-7B-Instruct
"""


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return n


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agentmem.eval",
        description="Evaluate agentmem's memory on LongMemEval or LoCoMo: retrieval metrics "
                    "(LongMemEval's official definitions) and, with an LLM, judged QA.",
    )
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    sub.add_parser("sort", help="sequence order recall on texts and conversation "
                                "histories (options: python -m agentmem.eval sort --help)")
    for name, data_help in (
        ("longmemeval", "a LongMemEval JSON file (longmemeval_s/_m/_oracle, original or "
                        "*_cleaned release), downloaded by you"),
        ("locomo", "LoCoMo files: locomo10.json, one-conversation JSON files, or folders of "
                   "them (repeatable)"),
    ):
        p = sub.add_parser(name, help=f"evaluate on {name}", epilog=_EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--data", required=True, nargs="+", metavar="PATH", help=data_help)
        p.add_argument("--out", required=True, metavar="DIR",
                       help="output folder (created if absent)")
        p.add_argument("--limit", type=_positive, metavar="N",
                       help="evaluate only the first N questions (after --types)")
        p.add_argument("--types", nargs="+", metavar="TYPE",
                       help="only these question types (LongMemEval's question_type, or "
                            "LoCoMo's multi-hop, temporal, open-domain, single-hop, "
                            "adversarial)")
        p.add_argument("--retrieval-only", action="store_true",
                       help="compute retrieval metrics only: no reader, no judge")
        p.add_argument("--retriever", choices=("agentmem", "bm25"), default="agentmem",
                       help="agentmem's memory (default), or the reference BM25 Okapi "
                            "baseline (pure Python, independent of agentmem's indexes)")
        p.add_argument("--granularity", choices=GRANULARITIES, default="round",
                       help="memory unit: a turn, a round (user turn + reply), or a whole "
                            "session (default: round)")
        p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid",
                       help="retrieval: dense + lexical fused by reciprocal rank, dense "
                            "vectors only, or BM25 only (default: hybrid)")
        p.add_argument("--fusion", choices=("score", "rrf"), default="score",
                       help="hybrid fusion: z-normalised score sum (default) or "
                            "reciprocal rank")
        p.add_argument("--session-weight", type=float, default=1.0, metavar="W",
                       help="share of a unit's session match added to its hybrid score "
                            "(default: 1.0; 0 turns it off)")
        p.add_argument("--keys", metavar="PARTS",
                       help="fact-augmented keys: the --llm extracts these parts from each "
                            "unit (comma-separated: facts, keyphrases, summary), indexed "
                            "with the unit (default: none)")
        p.add_argument("--key-mode", choices=("merge", "replace", "separate", "values"),
                       default="merge",
                       help="with --keys: expansion text prepended to the unit (merge, "
                            "default), instead of it (replace), an extra key row whose "
                            "rank counts for the unit (separate), or each fact a unit of "
                            "its own, kind 'fact' (values)")
        p.add_argument("--context-turns", type=int, default=2, metavar="N",
                       help="index each turn/round unit with the session's N turns before "
                            "it (default: 2; 0: the unit's text alone)")
        p.add_argument("--context-vectors", choices=["composed", "concatenated"],
                       default="composed",
                       help="how a key's context is embedded: apart and composed with "
                            "the text's vector (default), or as one text")
        p.add_argument("--thoughts", action="store_true",
                       help="Think-in-Memory: the --llm post-thinks every exchange into "
                            "thoughts (relation triples), searched with the units and "
                            "credited to the turns they came from")
        p.add_argument("--thought-weight", type=float, default=1.0, metavar="W",
                       help="with --thoughts: weight of the thoughts' ranking in the "
                            "reciprocal-rank fusion with the units (default: 1.0)")
        p.add_argument("--decay-weight", type=float, default=0.0, metavar="W",
                       help="MemoryBank: weight of retention exp(-t/S) in ranking, t from "
                            "each unit's date to the question date (default: 0, off)")
        p.add_argument("--decay-days", type=float, default=1.0, metavar="D",
                       help="with --decay-weight: the time unit of t, in days (default: 1)")
        p.add_argument("--kinds", metavar="KINDS",
                       help="rank only units of these kinds (comma-separated), e.g. 'fact' "
                            "for user facts as the only values (with --key-mode values)")
        p.add_argument("--no-time-aware", action="store_true",
                       help="turn off time-aware re-ranking (units dated inside the period "
                            "a question names, relative to its question date, move ahead)")
        p.add_argument("--k", type=_positive, default=5,
                       help="how many retrieved units the reader sees (default: 5)")
        p.add_argument("--llm", metavar="SPEC",
                       help="reader LLM: 'vllm:/path/to/model' or "
                            "'openai:http://host:port/v1@model-name' (needed for QA)")
        p.add_argument("--judge", metavar="SPEC",
                       help="judge LLM, same forms (default: the reader); only a GPT-4o "
                            "judge is comparable to published numbers")
        p.add_argument("--no-chain-of-note", action="store_true",
                       help="ask the reader for the answer directly instead of Chain-of-Note")
        p.add_argument("--reader-max-tokens", type=_positive, default=512,
                       help="reader answer length limit (default: 512)")
        p.add_argument("--batch-size", type=_positive, default=32,
                       help="questions per LLM batch and per write (default: 32)")
        p.add_argument("--cache", metavar="DIR",
                       help="cache folder for embeddings and LLM completions (default: "
                            "OUT/cache); share it between runs to embed each text and ask "
                            "each LLM request once")
        group = p.add_mutually_exclusive_group()
        group.add_argument("--resume", action="store_true",
                           help="continue a run: skip questions already in predictions.jsonl")
        group.add_argument("--overwrite", action="store_true",
                           help="remove earlier outputs in --out first (the cache is kept)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; returns the exit status (0 done, 2 bad arguments or data)."""
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if argv_list[:1] == ["sort"]:
        from .sort_runner import sort_main

        return sort_main(argv_list[1:])
    args = _parser().parse_args(argv)
    command = "python -m agentmem.eval " + " ".join(shlex.quote(a) for a in argv_list)
    try:
        config = RunConfig(
            benchmark=args.benchmark, retriever=args.retriever, granularity=args.granularity,
            mode=args.mode, k=args.k,
            retrieval_only=args.retrieval_only, reader_max_tokens=args.reader_max_tokens,
            chain_of_note=not args.no_chain_of_note, batch_size=args.batch_size,
            time_aware=not args.no_time_aware, fusion=args.fusion,
            session_weight=args.session_weight, keys=args.keys, key_mode=args.key_mode,
            kinds=args.kinds, context_turns=args.context_turns,
            context_vectors=args.context_vectors, thoughts=args.thoughts,
            thought_weight=args.thought_weight, decay_weight=args.decay_weight,
            decay_days=args.decay_days)
        if not args.retrieval_only and args.llm is None:
            print("error: QA mode needs --llm SPEC (or pass --retrieval-only)", file=sys.stderr)
            return 2
        if args.keys and args.llm is None:
            print("error: --keys needs --llm SPEC (the model that extracts them)",
                  file=sys.stderr)
            return 2
        if args.thoughts and args.llm is None:
            print("error: --thoughts needs --llm SPEC (the model that post-thinks)",
                  file=sys.stderr)
            return 2
        # specs: evaluate() loads the models once the data has been validated
        judge = args.judge if args.judge and args.judge != args.llm else None
        result = evaluate(args.benchmark, args.data, args.out, config=config, types=args.types,
                          limit=args.limit, cache=args.cache, llm=args.llm, judge=judge,
                          resume=args.resume, overwrite=args.overwrite,
                          progress=not args.quiet, command=command)
    except AgentMemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: continue later with --resume", file=sys.stderr)
        return 130
    print(result.headline())
    print(f"outputs: {result.out}/ (report.md, metrics.json, predictions.jsonl, manifest.json)")
    return 0

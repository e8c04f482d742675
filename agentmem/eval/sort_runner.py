"""``python -m agentmem.eval sort``: Sequence Order Recall Tasks on texts and
conversation histories, in three conditions.

- ``memory``: each excerpt is stored in a fresh agentmem memory as a timestamped
  stream; each segment is located in it and the answer read from the stored order.
  No LLM is needed.
- ``in-context``: the LLM reads the excerpt, then the two segments, and answers (the
  paper's prompt, answer prefix "Answer: Segment").
- ``rag``: the excerpt is stored as chunks; the LLM sees the chunks retrieved for the
  two segments, in retrieval order (no positions), and answers.

Outputs under ``--out``: ``predictions.jsonl`` (one line per instance, written as it
goes, so ``--resume`` continues), ``metrics.json`` (accuracy overall and per excerpt
length, segment length and distance bin, each with n and a Wilson 95% interval),
``report.md`` (tables and ``accuracy.png``) and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import AgentMemError, ConfigError, DataError, InvalidInput
from ..llm import LLM, LLMRequest
from .runner import read_predictions
from .sort import (
    EXCERPT_LENGTHS,
    SEGMENT_LENGTHS,
    SortInstance,
    answer_from_memory,
    build_instances,
    ingest_stream,
    parse_choice,
)

__all__ = ["CONDITIONS", "SortConfig", "conversation_texts", "run_sort", "sort_main"]

CONDITIONS: tuple[str, ...] = ("memory", "in-context", "rag")
AUSTEN = Path.home() / ".cache" / "agentmem" / "austen"
_USER = "reader"
_QUESTION = ("Segment A: {a}\nSegment B: {b}\n\nWhich fragment appeared first in the "
             "book, A or B?\nAnswer: Segment")


@dataclass(frozen=True)
class SortConfig:
    """Everything that shapes a SORT run's results (recorded in the manifest)."""

    condition: str = "memory"
    excerpts: int = 4
    excerpt_lengths: tuple[int, ...] = EXCERPT_LENGTHS
    segment_lengths: tuple[int, ...] = SEGMENT_LENGTHS
    seed: int = 0
    chunk: int = 100
    k: int = 5
    max_tokens: int = 4

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ConfigError(f"condition: must be one of {', '.join(CONDITIONS)}, "
                              f"got {self.condition!r}")
        for name in ("excerpts", "seed", "chunk", "k", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (
                    0 if name == "seed" else 1):
                raise ConfigError(f"{name}: must be a positive int, got {value!r}")


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson 95% interval of ``k`` successes in ``n``."""
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def conversation_texts(paths: Sequence[str | Path]) -> dict[str, str]:
    """Each conversation history (LoCoMo files, or a LongMemEval file: each question's
    haystack) as one text: its turns in time order, ``speaker: content`` per line."""
    from .data import load_locomo, load_longmemeval

    try:
        data = load_locomo(paths)
    except DataError:
        if len(paths) != 1:
            raise
        data = load_longmemeval(paths[0])
    out: dict[str, str] = {}
    for hay_id in sorted({q.haystack_id for q in data.questions}):
        hay = data.haystack(hay_id)
        lines = [f"{t.name or t.role}: {t.content}"
                 for s in sorted(hay.sessions, key=lambda s: s.date) for t in s.turns
                 if t.content.strip()]
        out[f"conversation-{hay_id}"] = "\n".join(lines)
    return out


def _sources(texts: Sequence[str | Path], conversations: Sequence[str | Path]
             ) -> tuple[dict[str, str], list[dict[str, str]]]:
    found: dict[str, str] = {}
    files: list[dict[str, str]] = []
    paths = [Path(p) for p in texts]
    if not texts and not conversations:  # the default corpus
        paths = sorted(AUSTEN.glob("*.txt"))
        if not paths:
            raise ConfigError(f"no --text or --conversations given, and no Austen novels "
                              f"in {AUSTEN}: run `python eval/fetch_austen.py` first")
    for p in paths:
        if not p.is_file():
            raise InvalidInput("text", f"no such file: {str(p)!r}")
        text = p.read_text(encoding="utf-8")
        if not text.split():
            raise InvalidInput("text", f"{str(p)!r} is empty")
        found[p.stem] = text
        files.append({"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    if conversations:
        found.update(conversation_texts(conversations))
        files += [{"path": str(p), "sha256": hashlib.sha256(Path(p).read_bytes()).hexdigest()}
                  for p in conversations if Path(p).is_file()]
    return found, files


def run_sort(out: str | Path, *, config: SortConfig | None = None,
             texts: Sequence[str | Path] = (), conversations: Sequence[str | Path] = (),
             llm: LLM | None = None, embedder: Any = None, resume: bool = False,
             overwrite: bool = False, progress: bool = True, limit: int | None = None,
             command: str | None = None) -> dict[str, Any]:
    """Run SORT and write its outputs; returns the metrics."""
    config = config or SortConfig()
    if config.condition != "memory" and llm is None:
        raise ConfigError(f"the {config.condition} condition needs an LLM (--llm SPEC)")
    sources, files = _sources(texts, conversations)
    insts = build_instances(sources, excerpts=config.excerpts,
                            excerpt_lengths=config.excerpt_lengths,
                            segment_lengths=config.segment_lengths, seed=config.seed)
    if limit is not None:
        insts = insts[:limit]
    if not insts:
        raise ConfigError("no instance could be built: the texts are shorter than the "
                          "excerpt lengths")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    preds_path = out / "predictions.jsonl"
    if overwrite:
        for name in ("predictions.jsonl", "metrics.json", "report.md", "manifest.json",
                     "accuracy.png"):
            (out / name).unlink(missing_ok=True)
    elif preds_path.exists() and not resume:
        raise ConfigError(f"{preds_path} exists: pass --resume or --overwrite")
    manifest_path = out / "manifest.json"
    if resume and manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if previous.get("config") != json.loads(json.dumps(asdict(config))) or \
                previous.get("llm") != getattr(llm, "name", None):
            raise ConfigError(f"--resume: {out} holds a run with another configuration or "
                              "LLM; use another --out or --overwrite")
    done = {str(r["id"]) for r in read_predictions(preds_path)}
    started = time.perf_counter()
    groups: dict[tuple[str, int, int], list[SortInstance]] = defaultdict(list)
    for inst in insts:
        if inst.id not in done:
            groups[(inst.source, inst.excerpt_start, inst.excerpt_length)].append(inst)
    bar = tqdm(total=sum(len(g) for g in groups.values()), unit="pair", desc="sort",
               disable=not progress or None)
    try:
        with preds_path.open("a", encoding="utf-8") as fh:
            for (source, start, le), group in groups.items():
                words = sources[source].split()[start : start + le]
                for inst, (got, raw) in zip(group, _answer(config, group, words, llm,
                                                           embedder), strict=True):
                    fh.write(json.dumps({
                        "id": inst.id, "source": inst.source,
                        "excerpt_length": inst.excerpt_length,
                        "segment_length": inst.segment_length, "bin": inst.bin,
                        "distance": inst.distance, "answer": inst.answer,
                        "predicted": got, "correct": got == inst.answer, "raw": raw},
                        ensure_ascii=False) + "\n")
                fh.flush()
                bar.update(len(group))
    finally:
        bar.close()
    wanted = {i.id for i in insts}
    rows = [r for r in read_predictions(preds_path) if r["id"] in wanted]
    metrics = _metrics(rows, config)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    plot = _plot(metrics, out / "accuracy.png")
    (out / "report.md").write_text(_report(metrics, command) + (
        "![accuracy by excerpt length and distance bin](accuracy.png)\n" if plot else
        "(no plot: matplotlib is not installed)\n"), encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({
        "benchmark": "sort", "command": command or "agentmem.eval.run_sort(...)",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "config": asdict(config),
        "llm": getattr(llm, "name", None), "data": files,
        "sources": {k: len(v.split()) for k, v in sources.items()},
        "counts": {"instances": len(insts), "resumed": len(done & wanted)},
        "wall_s": round(time.perf_counter() - started, 2)}, indent=2) + "\n",
        encoding="utf-8")
    return metrics


def _answer(config: SortConfig, group: list[SortInstance], words: list[str],
            llm: LLM | None, embedder: Any) -> list[tuple[str | None, str]]:
    from ..memory import Memory

    if config.condition == "in-context":
        assert llm is not None
        excerpt = " ".join(words)
        return _ask(llm, [f"Read and comprehend this extract from a book:\n\n{excerpt}\n\n"
                          + _QUESTION.format(a=i.segment_a, b=i.segment_b) for i in group],
                    config)
    with Memory(embedder=embedder, context_turns=0) as mem:
        stream = ingest_stream(mem, _USER, words, chunk=config.chunk)
        if config.condition == "memory":
            out: list[tuple[str | None, str]] = []
            for inst in group:
                got = answer_from_memory(mem, _USER, inst, stream)
                out.append((got, "" if got else "not located"))
            return out
        assert llm is not None
        prompts = []
        for inst in group:
            hits = mem.search(f"{inst.segment_a}\n{inst.segment_b}", user_id=_USER,
                              k=config.k, time_aware=False)
            passages = "\n\n".join(" ".join(t.content for t in h.turns) for h in hits)
            prompts.append(f"Passages retrieved from a book:\n\n{passages}\n\n"
                           + _QUESTION.format(a=inst.segment_a, b=inst.segment_b))
        return _ask(llm, prompts, config)


def _ask(llm: LLM, prompts: list[str], config: SortConfig) -> list[tuple[str | None, str]]:
    requests = [LLMRequest(prompt=p, max_tokens=config.max_tokens, operation="sort")
                for p in prompts]
    try:
        done = llm.complete(requests)
    except AgentMemError as exc:  # a failing backend: every item unanswered
        return [(None, f"error: {exc}")] * len(prompts)
    return [(parse_choice(c.text), c.text) if c.ok else (None, f"error: {c.error}")
            for c in done]


def _metrics(rows: list[dict[str, Any]], config: SortConfig) -> dict[str, Any]:
    def acc(sel: list[dict[str, Any]]) -> dict[str, Any]:
        k = sum(r["correct"] for r in sel)
        return {"accuracy": round(k / len(sel), 4) if sel else None, "n": len(sel),
                "ci95": wilson(k, len(sel))}

    def by(key: str) -> dict[str, Any]:
        return {str(v): acc([r for r in rows if r[key] == v])
                for v in sorted({r[key] for r in rows})}

    return {"condition": config.condition, "overall": acc(rows),
            "unanswered": sum(r["predicted"] is None for r in rows),
            "by_excerpt_length": by("excerpt_length"),
            "by_segment_length": by("segment_length"), "by_bin": by("bin"),
            "chance": 0.5}


def _plot(metrics: dict[str, Any], path: Path) -> bool:
    """Accuracy (with 95% intervals) by excerpt length and by bin; False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in ((axes[0], "by_excerpt_length", "excerpt length (words)"),
                           (axes[1], "by_bin", "distance bin")):
        cells = metrics[key]
        xs = list(cells)
        ys = [cells[x]["accuracy"] for x in xs]
        errs = [[y - cells[x]["ci95"][0] for x, y in zip(xs, ys, strict=True)],
                [cells[x]["ci95"][1] - y for x, y in zip(xs, ys, strict=True)]]
        ax.bar(xs, ys, yerr=errs, capsize=4, color="#4c72b0")
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("accuracy (95% CI); dashed: chance")
    fig.suptitle(f"SORT, {metrics['condition']} condition")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _report(metrics: dict[str, Any], command: str | None) -> str:
    lines = [f"# SORT — {metrics['condition']} condition", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    o = metrics["overall"]
    lines += [f"Accuracy {o['accuracy']} (n={o['n']}, 95% CI {o['ci95'][0]}-{o['ci95'][1]}); "
              f"unanswered {metrics['unanswered']}; chance 0.5.", ""]
    for title, key in (("excerpt length (words)", "by_excerpt_length"),
                       ("segment length (words)", "by_segment_length"),
                       ("distance bin", "by_bin")):
        lines += [f"| {title} | accuracy | n | 95% CI |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['accuracy']} | {v['n']} | {v['ci95'][0]}-{v['ci95'][1]} |"
                  for k, v in metrics[key].items()]
        lines.append("")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m agentmem.eval sort",
        description="SORT (sequence order recall): given two segments of a text, which "
                    "came first? Default corpus: the Austen novels written by "
                    "eval/fetch_austen.py.")
    p.add_argument("--text", action="append", default=[], metavar="FILE",
                   help="a plain-text source (repeatable)")
    p.add_argument("--conversations", nargs="+", default=[], metavar="PATH",
                   help="LoCoMo files or a LongMemEval file: each history is a source")
    p.add_argument("--condition", choices=CONDITIONS, default="memory",
                   help="memory (no LLM; default), in-context or rag (need --llm)")
    p.add_argument("--llm", metavar="SPEC", help="'vllm:/path' or 'openai:URL@model'")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--excerpts", type=int, default=4, help="excerpts per source and length")
    p.add_argument("--excerpt-lengths", type=int, nargs="+", default=list(EXCERPT_LENGTHS))
    p.add_argument("--segment-lengths", type=int, nargs="+", default=list(SEGMENT_LENGTHS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=100, help="words per stored message")
    p.add_argument("--k", type=int, default=5, help="rag: chunks retrieved")
    p.add_argument("--limit", type=int, help="only the first N instances")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true")
    group.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    return p


def sort_main(argv: Sequence[str]) -> int:
    """The ``sort`` command; returns the exit status (2: bad arguments or data)."""
    args = _parser().parse_args(list(argv))
    command = "python -m agentmem.eval sort " + " ".join(shlex.quote(a) for a in argv)
    llm = None
    try:
        config = SortConfig(condition=args.condition, excerpts=args.excerpts,
                            excerpt_lengths=tuple(args.excerpt_lengths),
                            segment_lengths=tuple(args.segment_lengths), seed=args.seed,
                            chunk=args.chunk, k=args.k)
        if config.condition != "memory":
            if args.llm is None:
                raise ConfigError(f"the {config.condition} condition needs --llm SPEC")
            from ..llm import load_llm

            llm = load_llm(args.llm)
        metrics = run_sort(args.out, config=config, texts=args.text,
                           conversations=args.conversations, llm=llm, resume=args.resume,
                           overwrite=args.overwrite, progress=not args.quiet,
                           limit=args.limit, command=command)
    except AgentMemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        close = getattr(llm, "close", None)
        if callable(close):
            close()
    o = metrics["overall"]
    print(f"SORT {metrics['condition']}: accuracy {o['accuracy']} (n={o['n']}, 95% CI "
          f"{o['ci95'][0]}-{o['ci95'][1]}); outputs: {args.out}/")
    return 0

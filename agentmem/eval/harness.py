"""One evaluation run end to end: load and validate the data, run the questions, write
``predictions.jsonl``, ``metrics.json``, ``report.md`` (with plots) and
``manifest.json`` under the output folder."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..embed import DiskCachedEmbedder, Embedder, SentenceTransformerEmbedder
from ..errors import ConfigError
from ..llm import LLM, CachedLLM
from .data import Dataset, load_locomo, load_longmemeval
from .judge import is_comparable_judge
from .report import compute_metrics, headline, write_report
from .runner import RunConfig, RunState, as_metered, read_predictions, run_questions

__all__ = ["EvalResult", "evaluate", "load_dataset"]

BENCHMARKS = ("longmemeval", "locomo")
OUTPUTS = ("predictions.jsonl", "metrics.json", "report.md", "manifest.json",
           "recall_at_k.png", "by_type.png")


@dataclass(frozen=True)
class EvalResult:
    """Where a run wrote its outputs, and its metrics."""

    out: Path
    metrics: dict[str, Any]
    manifest: dict[str, Any]

    def headline(self) -> str:
        """The headline table printed at the end of a run."""
        return headline(self.metrics)


def load_dataset(benchmark: str, data: Sequence[str | Path]) -> Dataset:
    """Load and validate a benchmark's files (raises DataError on the first bad field)."""
    if benchmark == "longmemeval":
        if len(data) != 1:
            raise ConfigError("longmemeval: --data takes one JSON file")
        return load_longmemeval(data[0])
    if benchmark == "locomo":
        return load_locomo(list(data))
    raise ConfigError(f"benchmark: must be one of {', '.join(BENCHMARKS)}, got {benchmark!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists() or shutil.which("git") is None:
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def evaluate(
    benchmark: str,
    data: Sequence[str | Path],
    out: str | Path,
    *,
    config: RunConfig | None = None,
    types: Sequence[str] | None = None,
    limit: int | None = None,
    cache: str | Path | None = None,
    llm: LLM | str | None = None,
    judge: LLM | str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    embedder: Embedder | None = None,
    progress: bool = True,
    command: str | None = None,
) -> EvalResult:
    """Run ``benchmark`` over ``data`` and write the outputs under ``out``.

    ``config`` sets the memory and QA options (retrieval-only by default). ``llm`` and
    ``judge`` are models or specs (``"vllm:/path"``, ``"openai:URL@model"``), loaded only
    after the data has been validated; ``judge`` defaults to ``llm``. ``cache`` is the
    folder of the embedding cache and of the LLM completion cache (default
    ``out/cache``; see :class:`~agentmem.llm.CachedLLM`). With ``resume`` questions
    already in ``predictions.jsonl`` are skipped; with ``overwrite`` earlier outputs
    are removed first (the cache is kept).
    """
    started = time.perf_counter()
    config = config or RunConfig(benchmark=benchmark)
    if config.benchmark != benchmark:
        raise ConfigError(f"config is for {config.benchmark!r}, not {benchmark!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit: must be a positive integer, got {limit!r}")
    if resume and overwrite:
        raise ConfigError("choose one of resume and overwrite")
    if not config.retrieval_only and llm is None:
        raise ConfigError("QA mode needs a reader LLM (--llm SPEC), or pass --retrieval-only")
    if config.keys and llm is None:
        raise ConfigError("--keys: key expansion needs an LLM (--llm SPEC)")
    if config.thoughts and llm is None:
        raise ConfigError("--thoughts: post-thinking needs an LLM (--llm SPEC)")
    t0 = time.perf_counter()
    dataset = load_dataset(benchmark, data).select(types=types, limit=limit)
    load_s = time.perf_counter() - t0

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    predictions_path = out / "predictions.jsonl"
    manifest_path = out / "manifest.json"
    if overwrite:
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
    elif predictions_path.exists() and not resume:
        raise ConfigError(f"{predictions_path} exists: pass --resume to continue that run or "
                          "--overwrite to start again")
    files = [{"path": str(p), "sha256": _sha256(p)} for p in dataset.files]
    uses_embedder = config.retriever == "agentmem"
    cache_dir = Path(cache) if cache is not None else out / "cache"
    disk = DiskCachedEmbedder(embedder or SentenceTransformerEmbedder(),
                              cache_dir / "embeddings.sqlite") if uses_embedder else None
    loaded: list[LLM] = []  # models loaded here from a spec are closed here
    llm = _resolve(llm, loaded)
    judge = _resolve(judge, loaded) or llm
    # completions are kept beside the embeddings: a repeated run asks the model once
    caches = {id(m): CachedLLM(m, cache_dir / "llm.sqlite") for m in (llm, judge)
              if m is not None}
    if llm is not None:
        llm = caches[id(llm)]
    if judge is not None:
        judge = caches[id(judge)]
    judge_name = judge.name if judge is not None else None
    identity = {"config": config.as_dict(), "embedder": disk.name if disk else None,
                "llm": llm.name if llm is not None else None, "judge_name": judge_name,
                "data": [f["sha256"] for f in files]}
    previous: dict[str, Any] = {}
    if resume and manifest_path.exists():
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        if _identity(previous) != identity:
            _release(disk, caches.values(), loaded)
            raise ConfigError(f"--resume: {out} holds a run with another configuration, "
                              "embedder, LLM, judge or data; use another --out or --overwrite")

    reader_llm, judge_llm = as_metered(llm), as_metered(judge)
    selected = {q.id for q in dataset.questions}
    # A question whose reader or judge failed is answered again on resume.
    done = {str(p["question_id"]) for p in read_predictions(predictions_path)
            if "error" not in p} & selected
    manifest: dict[str, Any] = {
        "benchmark": benchmark,
        "status": "running",
        "command": command or f"agentmem.eval.evaluate({benchmark!r}, ...)",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "agentmem_version": __version__,
        "git_commit": None,
        "git": _git_commit(),
        "python": platform.python_version(),
        "config": config.as_dict(),
        "selection": {"types": list(types) if types else None, "limit": limit},
        "embedder": disk.name if disk else None,
        "embedding_cache": str(cache_dir / "embeddings.sqlite") if disk else None,
        "llm": llm.name if llm is not None else None,
        "llm_cache": str(cache_dir / "llm.sqlite") if caches else None,
        "judge": {"name": judge_name,
                  "comparable": bool(judge_name) and is_comparable_judge(judge_name or ""),
                  "note": None if judge_name is None or is_comparable_judge(judge_name) else
                  "local judge: accuracies are not comparable to published GPT-4o-judged "
                  "numbers"},
        "data": {"dataset": dataset.name, "release": dataset.release, "files": files},
        "counts": {"questions": len(dataset.questions),
                   "haystacks": len({q.haystack_id for q in dataset.questions}),
                   "resumed": len(done)},
    }
    manifest["git_commit"] = manifest["git"]["commit"]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    try:
        state = run_questions(dataset, config, predictions_path, embedder=disk,
                              reader=reader_llm, judge=judge_llm, done=done,
                              progress=progress)
    finally:
        embedding = None if disk is None else {
            "cached_total": disk.count(), "cache_hits": disk.hits,
            "embedded_this_run": disk.embedded}
        _release(disk, caches.values(), loaded)
    # the last row of a question wins (a failed one may have been answered again)
    latest = {p["question_id"]: p for p in read_predictions(predictions_path)}
    rows = [p for qid, p in latest.items() if qid in selected]
    metrics = compute_metrics(rows)
    manifest.update(_finish(state, load_s, started, embedding))
    if caches:  # completions served from the cache cost nothing this run
        manifest["llm_cache_hits"] = sum(c.hits for c in caches.values())
        manifest["llm_cache_misses"] = sum(c.misses for c in caches.values())
    manifest["llm_usage"] = {  # per operation: reader, judge
        **(reader_llm.usage() if reader_llm is not None else {}),
        **(judge_llm.usage() if judge_llm is not None else {}),
    }
    if previous:  # totals over every invocation of a resumed run
        manifest["invocations"] = [*previous.get("invocations", [_invocation(previous)]),
                                   _invocation(manifest)]
    write_report(metrics, manifest, out)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return EvalResult(out=out, metrics=metrics, manifest=manifest)


def _release(disk: DiskCachedEmbedder | None, caches: Iterable[CachedLLM],
             loaded: Sequence[LLM]) -> None:
    """Close the run's cache files and the models it loaded from specs (a vLLM engine
    left to interpreter exit can hang it)."""
    if disk is not None:
        disk.close()
    for c in caches:
        c.close()
    for model in loaded:
        close = getattr(model, "close", None)
        if callable(close):
            close()


def _resolve(llm: LLM | str | None, loaded: list[LLM]) -> LLM | None:
    if isinstance(llm, str):
        from ..llm.spec import load_llm

        model = load_llm(llm)
        loaded.append(model)
        return model
    return llm


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """What must match for a run to be resumed."""
    return {"config": manifest.get("config"), "embedder": manifest.get("embedder"),
            "llm": manifest.get("llm"),
            "judge_name": (manifest.get("judge") or {}).get("name"),
            "data": [f["sha256"] for f in (manifest.get("data") or {}).get("files", [])]}


def _invocation(manifest: dict[str, Any]) -> dict[str, Any]:
    """One invocation's share of a resumed run: its counts, wall times and LLM usage."""
    return {k: manifest.get(k) for k in ("started_at", "finished_at", "counts_run",
                                         "wall_s", "llm_usage", "embedding")}


def _finish(state: RunState, load_s: float, started: float,
            embedding: dict[str, int] | None) -> dict[str, Any]:
    return {
        "status": "complete",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts_run": {"questions": state.questions, "haystacks": state.haystacks,
                       "skipped_empty_turns": state.skipped_empty_turns,
                       "llm_errors": state.llm_errors},
        "embedding": embedding,
        **({"thoughts": dict(state.thoughts)} if state.thoughts else {}),
        "wall_s": {"load": round(load_s, 3),
                   **{k: round(v, 3) for k, v in state.wall_s.items()},
                   "total": round(time.perf_counter() - started, 3)},
    }

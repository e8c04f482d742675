"""The evaluation loop: ingest each haystack, retrieve for each question, optionally
answer and judge, and write ``predictions.jsonl`` as it goes (so a run can resume)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from ..embed import DiskCachedEmbedder, Embedder, SentenceTransformerEmbedder
from ..errors import ConfigError, LLMError
from ..llm import LLM, Completion, LLMRequest, MeteredLLM
from ..memory import Memory
from ..reader import build_reader_prompt, items_from_hits
from ..stores import Decay, KeyExpansion, ThoughtConfig
from ..stores.episodic import CONTEXT_VECTORS, decompose, render_turns
from ..types import GRANULARITIES, SEARCH_MODES, MemoryUnit, Turn
from .baseline import BM25Okapi, tokenize
from .data import Dataset, EvalSession, EvalTurn, Haystack, Question
from .judge import judge_prompt, parse_verdict
from .metrics import rank_by_first_appearance

__all__ = ["RunConfig", "RunState", "run_questions", "read_predictions"]

RANKED_KEEP = 50
RETRIEVERS: tuple[str, ...] = ("agentmem", "bm25")
_EVAL_USER = "eval-user"
_JUDGE_REMINDER = "\n\nReply with one word: yes or no."


@dataclass(frozen=True)
class RunConfig:
    """Everything that shapes a run's results (recorded in the manifest)."""

    benchmark: str
    retriever: str = "agentmem"
    granularity: str = "round"
    mode: str = "hybrid"
    k: int = 5
    retrieval_only: bool = True
    reader_max_tokens: int = 512
    judge_max_tokens: int = 10
    chain_of_note: bool = True
    batch_size: int = 32
    time_aware: bool = True
    fusion: str = "score"
    session_weight: float = 1.0
    keys: str | None = None
    key_mode: str = "merge"
    kinds: str | None = None
    context_turns: int = 2
    context_vectors: str = "composed"
    thoughts: bool = False
    thought_weight: float = 1.0
    decay_weight: float = 0.0
    decay_days: float = 1.0

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVERS:
            raise ConfigError(f"retriever: must be one of {', '.join(RETRIEVERS)}, "
                              f"got {self.retriever!r}")
        if self.granularity not in GRANULARITIES:
            raise ConfigError(f"granularity: must be one of {', '.join(GRANULARITIES)}, "
                              f"got {self.granularity!r}")
        if self.mode not in SEARCH_MODES:
            raise ConfigError(f"mode: must be one of {', '.join(SEARCH_MODES)}, "
                              f"got {self.mode!r}")
        if self.keys is not None:
            KeyExpansion(parts=tuple(self.keys.split(",")), mode=self.key_mode)  # validates
        if isinstance(self.context_turns, bool) or not isinstance(self.context_turns, int) \
                or self.context_turns < 0:
            raise ConfigError(f"context_turns: must be an int >= 0, got {self.context_turns!r}")
        if self.context_vectors not in CONTEXT_VECTORS:
            raise ConfigError(f"context_vectors: must be one of {', '.join(CONTEXT_VECTORS)}"
                              f", got {self.context_vectors!r}")
        if isinstance(self.thought_weight, bool) or not isinstance(
                self.thought_weight, (int, float)) or not 0 <= self.thought_weight < 1e9:
            raise ConfigError(f"thought_weight: must be a number >= 0, "
                              f"got {self.thought_weight!r}")
        if self.decay_weight:
            Decay(unit=timedelta(days=self.decay_days), weight=self.decay_weight)  # validates
        for name in ("k", "reader_max_tokens", "judge_max_tokens", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (``mode`` is None for the BM25
        baseline, which has no search modes)."""
        values = asdict(self)
        if self.retriever == "bm25":
            for key in ("mode", "time_aware", "fusion", "session_weight", "keys", "key_mode",
                        "kinds", "context_turns", "context_vectors", "thoughts",
                        "thought_weight",
                        "decay_weight", "decay_days"):
                values[key] = None
        return values


@dataclass
class RunState:
    """Counters and wall times of one invocation."""

    haystacks: int = 0
    questions: int = 0
    skipped_resumed: int = 0
    skipped_empty_turns: int = 0
    llm_errors: int = 0
    #: thoughts made while ingesting (by status, plus ``llm_failures``), all haystacks
    thoughts: dict[str, int] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=lambda: {
        "ingest": 0.0, "retrieve": 0.0, "read": 0.0, "judge": 0.0})


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``predictions.jsonl``. A torn last line (an interrupted write) is
    dropped and the file rewritten without it; a bad line elsewhere is an error."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
                break
            raise ConfigError(f"{path}: line {i + 1} is not JSON ({exc.msg}); remove it or "
                              "start again with --overwrite") from exc
    return rows


def _chunks(items: Sequence[Question], size: int) -> Iterator[Sequence[Question]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Timer:
    def __init__(self, state: RunState, key: str) -> None:
        self.state, self.key = state, key

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.state.wall_s[self.key] += time.perf_counter() - self.start


def run_questions(
    dataset: Dataset,
    config: RunConfig,
    predictions_path: Path,
    *,
    embedder: Embedder | None,
    reader: MeteredLLM | None = None,
    judge: MeteredLLM | None = None,
    done: set[str] | None = None,
    progress: bool = True,
    on_stage: Callable[[str], None] | None = None,
) -> RunState:
    """Run every question of ``dataset`` not in ``done``, appending one JSON line per
    question to ``predictions_path``. Questions are grouped by haystack; each haystack
    is ingested into a fresh in-memory :class:`Memory` that is closed afterwards."""
    if not config.retrieval_only and (reader is None or judge is None):
        raise ConfigError("QA mode needs a reader LLM and a judge LLM (or --retrieval-only)")
    done = done or set()
    state = RunState()
    todo: dict[str, list[Question]] = {}
    for q in dataset.questions:
        if q.id in done:
            state.skipped_resumed += 1
        else:
            todo.setdefault(q.haystack_id, []).append(q)
    total = sum(len(v) for v in todo.values())
    bar = tqdm(total=total, unit="q", desc=dataset.name, disable=not progress or None,
               dynamic_ncols=True)
    try:
        with predictions_path.open("a", encoding="utf-8") as out:
            for hay_id, questions in todo.items():
                bar.set_postfix_str(f"ingest {hay_id}"[:40])
                with _Timer(state, "ingest"):
                    ranker = _ranker(dataset.haystack(hay_id), config, embedder, state,
                                     reader)
                state.haystacks += 1
                try:
                    for chunk in _chunks(questions, config.batch_size):
                        bar.set_postfix_str(f"retrieve {hay_id}"[:40])
                        with _Timer(state, "retrieve"):
                            rankings = [ranker.rank(q) for q in chunk]
                        rows = [_prediction(q, hits) for q, hits in zip(chunk, rankings,
                                                                         strict=True)]
                        if not config.retrieval_only:
                            assert reader is not None and judge is not None
                            bar.set_postfix_str(f"read {hay_id}"[:40])
                            with _Timer(state, "read"):
                                _read(chunk, rankings, rows, config, reader, state)
                            bar.set_postfix_str(f"judge {hay_id}"[:40])
                            with _Timer(state, "judge"):
                                _judge(chunk, rows, config, judge, state)
                        for row in rows:
                            out.write(json.dumps(row, ensure_ascii=False) + "\n")
                        out.flush()
                        state.questions += len(chunk)
                        bar.update(len(chunk))
                finally:
                    ranker.close()
    finally:
        bar.close()
    return state


def _messages(hay: Haystack, state: RunState) -> Iterator[tuple[EvalSession, list[EvalTurn]]]:
    for s in hay.sessions:
        kept = [t for t in s.turns if t.content.strip()]
        state.skipped_empty_turns += len(s.turns) - len(kept)
        if kept:
            yield s, kept


class _Ranker(Protocol):
    def rank(self, question: Question) -> list[MemoryUnit]: ...

    def close(self) -> None: ...


class _MemoryRanker:
    """The haystack in a fresh in-memory :class:`Memory`; every unit ranked, as the
    official metrics rank the whole corpus."""

    def __init__(self, hay: Haystack, config: RunConfig, embedder: Embedder,
                 state: RunState, llm: LLM | None = None) -> None:
        self.mode = config.mode
        self.time_aware = config.time_aware
        self.kinds = config.kinds.split(",") if config.kinds else None
        keys = (KeyExpansion(parts=tuple(config.keys.split(",")), mode=config.key_mode)
                if config.keys else None)
        self.mem = Memory(embedder=embedder, granularity=config.granularity,
                          fusion=config.fusion, session_weight=config.session_weight,
                          llm=llm if keys or config.thoughts else None, keys=keys,
                          context_turns=config.context_turns,
                          context_vectors=config.context_vectors,
                          thoughts=ThoughtConfig() if config.thoughts else None,
                          thought_weight=config.thought_weight,
                          decay=Decay(unit=timedelta(days=config.decay_days),
                                      weight=config.decay_weight)
                          if config.decay_weight else None)
        try:
            for s, kept in _messages(hay, state):
                msgs: list[dict[str, Any]] = []
                for t in kept:
                    m: dict[str, Any] = {"role": t.role, "content": t.content,
                                         "metadata": {"eval_id": t.id}}
                    if t.name:
                        m["name"] = t.name
                    msgs.append(m)
                self.mem.add(msgs, user_id=_EVAL_USER, session_id=s.id, timestamp=s.date)
            self.units = {u.id: u for u in self.mem.units(_EVAL_USER)}
            if config.thoughts:
                stats = self.mem.stats()
                for key, n in {**stats.thoughts,
                               "llm_failures": stats.llm_failures["thoughts"]}.items():
                    state.thoughts[key] = state.thoughts.get(key, 0) + n
            # a thought counts for the turns it came from (its provenance)
            turns = {t.id: t for u in self.units.values() for t in u.turns}
            for th in self.mem.thoughts(_EVAL_USER):
                src = tuple(turns[i] for i in th.source_turn_ids if i in turns)
                self.units[th.id] = MemoryUnit(
                    id=th.id, kind="thought", user_id=_EVAL_USER,
                    session_id=src[0].session_id if src else (th.session_id or ""),
                    text=th.text, timestamp=th.timestamp, store="thoughts", turns=src)
        except BaseException:
            self.mem.close()
            raise

    def rank(self, question: Question) -> list[MemoryUnit]:
        if not self.units:
            return []
        ranked = self.mem.rank(question.question, user_id=_EVAL_USER, mode=self.mode,
                               candidates=len(self.units), time_aware=self.time_aware,
                               question_date=question.question_date, kinds=self.kinds)
        order = [i for i, _ in ranked if i in self.units]
        # Lexical search returns only units sharing a word with the question: the rest
        # follow in conversation order, so the whole corpus is always ranked.
        seen = set(order)
        order += [i for i in self.units if i not in seen and (
            self.kinds is None or self.units[i].kind in self.kinds)]
        return [self.units[i] for i in order]

    def close(self) -> None:
        self.mem.close()


class _BM25Ranker:
    """The reference BM25 over the same units the episodic store would build."""

    def __init__(self, hay: Haystack, config: RunConfig, state: RunState) -> None:
        self.units: list[MemoryUnit] = []
        for s, kept in _messages(hay, state):
            turns = [Turn(id=t.id, user_id=_EVAL_USER, session_id=s.id, position=i,
                          role=t.role, content=t.content, timestamp=s.date, name=t.name,
                          metadata={"eval_id": t.id}) for i, t in enumerate(kept)]
            for j, group in enumerate(decompose(turns, config.granularity)):
                self.units.append(MemoryUnit(
                    id=f"{s.id}#{j}", kind=config.granularity, user_id=_EVAL_USER,
                    session_id=s.id, text=render_turns(group), timestamp=s.date,
                    store="bm25", turns=tuple(group)))
        self.bm25 = BM25Okapi([tokenize(u.text) for u in self.units]) if self.units else None

    def rank(self, question: Question) -> list[MemoryUnit]:
        if self.bm25 is None:
            return []
        return [self.units[i] for i in self.bm25.rank(tokenize(question.question))]

    def close(self) -> None:
        self.units = []


def _ranker(hay: Haystack, config: RunConfig, embedder: Embedder | None, state: RunState,
            llm: LLM | None = None) -> _Ranker:
    if config.retriever == "bm25":
        return _BM25Ranker(hay, config, state)
    if embedder is None:
        raise ConfigError("the agentmem retriever needs an embedder")
    if config.keys and llm is None:
        raise ConfigError("keys: key expansion needs an LLM (--llm SPEC)")
    if config.thoughts and llm is None:
        raise ConfigError("thoughts: post-thinking needs an LLM (--llm SPEC)")
    return _MemoryRanker(hay, config, embedder, state, llm)


def _prediction(q: Question, hits: Sequence[MemoryUnit]) -> dict[str, Any]:
    sessions = rank_by_first_appearance([h.session_id] for h in hits)
    turns = rank_by_first_appearance(
        [str(t.metadata.get("eval_id", t.id)) for t in h.turns] for h in hits)
    return {
        "question_id": q.id,
        "question_type": q.type,
        "question": q.question,
        "abstention": q.abstention,
        "gold_session_ids": list(q.gold_session_ids),
        "gold_turn_ids": list(q.gold_turn_ids),
        "ranked_session_ids": sessions[:RANKED_KEEP],
        "ranked_turn_ids": turns[:RANKED_KEEP],
        "top_kinds": [h.kind for h in hits[:10]],
    }


def _complete(llm: MeteredLLM, requests: list[LLMRequest], state: RunState
              ) -> list[str | None]:
    """Texts for a batch; None for an item without a usable result. If the whole batch
    fails, each request is tried alone once. Failures are counted, never fatal."""
    try:
        done = llm.complete(requests)
    except LLMError:
        done = []
        for r in requests:
            try:
                done.extend(llm.complete([r]))
            except LLMError as exc:
                done.append(Completion(text="", error=str(exc)))
    texts: list[str | None] = []
    for c in done:
        if c.ok:
            texts.append(c.text)
        else:
            state.llm_errors += 1
            texts.append(None)
    return texts


def _ask(prompt: str, max_tokens: int, operation: str) -> LLMRequest:
    """A chat request of one user message (the model's chat template applies)."""
    return LLMRequest(messages=({"role": "user", "content": prompt},), max_tokens=max_tokens,
                      operation=operation)


def _read(chunk: Sequence[Question], rankings: Sequence[Sequence[MemoryUnit]],
          rows: list[dict[str, Any]], config: RunConfig, reader: MeteredLLM,
          state: RunState) -> None:
    requests = [
        _ask(build_reader_prompt(q.question, items_from_hits(hits[: config.k]),
                                 question_date=q.question_date,
                                 chain_of_note=config.chain_of_note),
             config.reader_max_tokens, "reader")
        for q, hits in zip(chunk, rankings, strict=True)
    ]
    for row, text in zip(rows, _complete(reader, requests, state), strict=True):
        row["hypothesis"] = text


def _judge(chunk: Sequence[Question], rows: list[dict[str, Any]], config: RunConfig,
           judge: MeteredLLM, state: RunState) -> None:
    for row in rows:  # a question the reader could not answer is not judged
        row.update(verdict=None, judge_raw=None)
        if row["hypothesis"] is None:
            row["error"] = "reader failed"
    todo = [i for i, row in enumerate(rows) if row["hypothesis"] is not None]
    prompts = {
        i: judge_prompt(chunk[i].type, chunk[i].question, chunk[i].answer,
                        rows[i]["hypothesis"], abstention=chunk[i].abstention)
        for i in todo
    }
    raws = dict(zip(todo, _complete(judge, [
        _ask(prompts[i], config.judge_max_tokens, "judge") for i in todo], state),
        strict=True))
    retry = [i for i in todo if raws[i] is None or parse_verdict(raws[i] or "") is None]
    if retry:  # one retry, with a reminder of the expected form
        again = _complete(judge, [
            _ask(prompts[i] + _JUDGE_REMINDER, config.judge_max_tokens, "judge")
            for i in retry], state)
        for i, text in zip(retry, again, strict=True):
            if text is not None:
                raws[i] = text
    for i in todo:
        raw = raws[i]
        rows[i]["verdict"] = parse_verdict(raw) if raw is not None else None
        rows[i]["judge_raw"] = raw
        if raw is None:
            rows[i]["error"] = "judge failed"


def default_embedder(cache_file: Path) -> DiskCachedEmbedder:
    """all-MiniLM-L6-v2 with its vectors cached in ``cache_file``."""
    return DiskCachedEmbedder(SentenceTransformerEmbedder(), cache_file)


def as_metered(llm: LLM | None) -> MeteredLLM | None:
    """Wrap an LLM for usage accounting (None stays None)."""
    if llm is None or isinstance(llm, MeteredLLM):
        return llm
    return MeteredLLM(llm)

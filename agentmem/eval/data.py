"""Evaluation datasets: LongMemEval and LoCoMo, loaded from local files and validated.

Both load into the same shape: :class:`Haystack` (the sessions a memory ingests) and
:class:`Question` (a question over one haystack, with its gold session and turn ids in
the dataset's own naming). Every file is validated completely before any work starts;
the first bad field raises :class:`~agentmem.errors.DataError` naming the file and a
JSON path such as ``[3].haystack_sessions[2][0].role``.

- LongMemEval (``longmemeval_s/_m/_oracle.json`` and the ``*_cleaned.json`` release): a
  list of question objects, each with its own haystack. Turn ids are
  ``<session_id>_<turn number>`` (1-based); gold turns carry ``has_answer``.
- LoCoMo (``locomo10.json``, a list of samples, or one conversation per file): one
  haystack per conversation shared by its questions. Sessions are ``session_N``, turns
  their ``dia_id``; gold turns are the normalised ``evidence`` ids, gold sessions the
  sessions holding them; category 5 (adversarial) questions are abstention questions.
  The dataset's own annotations (observations, summaries, events) are never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..temporal import parse_timestamp

__all__ = [
    "LOCOMO_CATEGORIES",
    "LONGMEMEVAL_TYPES",
    "Dataset",
    "EvalSession",
    "EvalTurn",
    "Haystack",
    "Question",
    "load_locomo",
    "load_longmemeval",
    "normalise_evidence",
]

LONGMEMEVAL_TYPES: tuple[str, ...] = (
    "single-session-user",
    "single-session-assistant",
    "single-session-preference",
    "temporal-reasoning",
    "knowledge-update",
    "multi-session",
)
LOCOMO_CATEGORIES: dict[int, str] = {
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
LOCOMO_ABSTENTION_ANSWER = "The conversation does not mention this; it cannot be answered."


@dataclass(frozen=True)
class EvalTurn:
    """One turn of a haystack session; ``id`` is the dataset's own turn id."""

    id: str
    role: str
    content: str
    name: str | None = None
    has_answer: bool = False


@dataclass(frozen=True)
class EvalSession:
    """A dated session of a haystack."""

    id: str
    date: datetime
    date_text: str
    turns: tuple[EvalTurn, ...]


@dataclass(frozen=True)
class Haystack:
    """The conversation history a memory ingests before answering questions."""

    id: str
    sessions: tuple[EvalSession, ...]

    @property
    def turn_count(self) -> int:
        """Number of turns over all sessions."""
        return sum(len(s.turns) for s in self.sessions)


@dataclass(frozen=True)
class Question:
    """A question over one haystack, with gold ids in the dataset's naming."""

    id: str
    type: str
    question: str
    answer: str
    question_date: str | None
    haystack_id: str
    gold_session_ids: tuple[str, ...]
    gold_turn_ids: tuple[str, ...]
    abstention: bool


@dataclass(frozen=True)
class Dataset:
    """Loaded questions and the haystacks they need.

    ``release`` records which data this is: LongMemEval's ``original`` or ``cleaned``
    release, or ``locomo10``; results on different releases are not comparable.
    LongMemEval haystacks are built on demand (the M file holds ~500 sessions per
    question), so iterate with :meth:`haystack`.
    """

    name: str
    release: str
    files: tuple[Path, ...]
    questions: tuple[Question, ...]
    _haystacks: dict[str, Any]

    def haystack(self, haystack_id: str) -> Haystack:
        """The haystack with this id."""
        raw = self._haystacks[haystack_id]
        return raw if isinstance(raw, Haystack) else _lme_haystack(raw)

    def select(self, *, types: Sequence[str] | None = None, limit: int | None = None
               ) -> Dataset:
        """A copy restricted to question types (in order) and the first ``limit``."""
        qs = list(self.questions)
        if types:
            known = {q.type for q in qs}
            unknown = [t for t in types if t not in known]
            if unknown:
                raise DataError(str(self.files[0]), "types",
                                f"no question of type {', '.join(unknown)}; the data has "
                                f"{', '.join(sorted(known))}")
            qs = [q for q in qs if q.type in types]
        if limit is not None:
            qs = qs[:limit]
        used = {q.haystack_id for q in qs}
        return Dataset(self.name, self.release, self.files, tuple(qs),
                       {h: v for h, v in self._haystacks.items() if h in used})


# -- validation helpers ---------------------------------------------------------------


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def fail(self, where: str, message: str) -> DataError:
        return DataError(self.path, where, message)

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        return value

    def lst(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {type(value).__name__}")
        return value

    def field(self, obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...],
              *, optional: bool = False) -> Any:
        if key not in obj:
            if optional:
                return None
            raise self.fail(f"{where}.{key}" if where else key, "is missing")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(
                k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}" if where else key,
                            f"must be {names}, got {type(value).__name__}")
        return value

    def date(self, value: str, where: str) -> datetime:
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise self.fail(where, f"unreadable date {value!r}") from exc


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise DataError(str(path), "", "no such file")
    if not path.is_file():
        raise DataError(str(path), "", "is not a file")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"line {exc.lineno} column {exc.colno}",
                        f"not valid JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(str(path), "", "not UTF-8 text") from exc


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# -- LongMemEval -------------------------------------------------------------------------


def load_longmemeval(path: str | Path) -> Dataset:
    """Load and validate a LongMemEval file (S, M, oracle; original or cleaned)."""
    path = Path(path)
    data = _read_json(path)
    c = _Checker(path)
    items = c.lst(data, "")
    if not items:
        raise c.fail("", "holds no questions")
    questions: list[Question] = []
    haystacks: dict[str, Any] = {}
    for i, raw in enumerate(items):
        w = f"[{i}]"
        obj = c.obj(raw, w)
        qid = c.field(obj, "question_id", w, str)
        if qid in haystacks:
            raise c.fail(f"{w}.question_id", f"duplicate id {qid!r}")
        qtype = c.field(obj, "question_type", w, str)
        if qtype not in LONGMEMEVAL_TYPES:
            raise c.fail(f"{w}.question_type",
                         f"unknown type {qtype!r}; expected one of {', '.join(LONGMEMEVAL_TYPES)}")
        text = c.field(obj, "question", w, str)
        answer = c.field(obj, "answer", w, (str, int, float))
        qdate = c.field(obj, "question_date", w, str)
        c.date(qdate, f"{w}.question_date")
        sids = c.lst(c.field(obj, "haystack_session_ids", w, list), f"{w}.haystack_session_ids")
        dates = c.lst(c.field(obj, "haystack_dates", w, list), f"{w}.haystack_dates")
        sessions = c.lst(c.field(obj, "haystack_sessions", w, list), f"{w}.haystack_sessions")
        if not (len(sids) == len(dates) == len(sessions)):
            raise c.fail(f"{w}.haystack_sessions",
                         f"{len(sessions)} sessions but {len(sids)} ids and {len(dates)} dates")
        answer_sids = c.lst(c.field(obj, "answer_session_ids", w, list),
                            f"{w}.answer_session_ids")
        gold_turns: list[str] = []
        seen: set[str] = set()
        for j, (sid, date, sess) in enumerate(zip(sids, dates, sessions, strict=True)):
            if not isinstance(sid, str) or not sid:
                raise c.fail(f"{w}.haystack_session_ids[{j}]", "must be a non-empty string")
            if sid in seen:
                raise c.fail(f"{w}.haystack_session_ids[{j}]", f"duplicate session id {sid!r}")
            seen.add(sid)
            if not isinstance(date, str):
                raise c.fail(f"{w}.haystack_dates[{j}]", "must be a string")
            c.date(date, f"{w}.haystack_dates[{j}]")
            for t, turn in enumerate(c.lst(sess, f"{w}.haystack_sessions[{j}]")):
                tw = f"{w}.haystack_sessions[{j}][{t}]"
                tobj = c.obj(turn, tw)
                role = c.field(tobj, "role", tw, str)
                if role not in ("user", "assistant"):
                    raise c.fail(f"{tw}.role", f"must be 'user' or 'assistant', got {role!r}")
                c.field(tobj, "content", tw, str)
                if c.field(tobj, "has_answer", tw, bool, optional=True):
                    gold_turns.append(f"{sid}_{t + 1}")
        for j, a in enumerate(answer_sids):
            if not isinstance(a, str):
                raise c.fail(f"{w}.answer_session_ids[{j}]", "must be a string")
        questions.append(Question(
            id=qid, type=qtype, question=text, answer=_as_text(answer), question_date=qdate,
            haystack_id=qid,
            # gold restricted to the haystack: the official metrics judge the corpus
            gold_session_ids=tuple(a for a in answer_sids if a in seen),
            gold_turn_ids=tuple(gold_turns), abstention=qid.endswith("_abs"),
        ))
        haystacks[qid] = obj
    release = "cleaned" if "cleaned" in path.name else "original"
    return Dataset("longmemeval", release, (path,), tuple(questions), haystacks)


def _lme_haystack(obj: dict[str, Any]) -> Haystack:
    sessions = []
    for sid, date, sess in zip(obj["haystack_session_ids"], obj["haystack_dates"],
                               obj["haystack_sessions"], strict=True):
        sessions.append(EvalSession(
            id=sid, date=parse_timestamp(date), date_text=date,
            turns=tuple(EvalTurn(id=f"{sid}_{t + 1}", role=turn["role"],
                                 content=turn["content"],
                                 has_answer=bool(turn.get("has_answer", False)))
                        for t, turn in enumerate(sess)),
        ))
    return Haystack(id=obj["question_id"], sessions=tuple(sessions))


# -- LoCoMo ------------------------------------------------------------------------------

_SESSION_KEY = re.compile(r"session_(\d+)")
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


def normalise_evidence(raw: str) -> list[str]:
    """LoCoMo evidence entry → canonical ``D<session>:<turn>`` ids.

    Splits entries holding several ids ("D8:6; D9:17", "D9:1 D4:4"), fixes a stray
    colon ("D:11:26") and leading zeros ("D30:05"); pieces that are no id are dropped.
    """
    out: list[str] = []
    for piece in re.split(r"[;,\s]+", raw.strip()):
        m = _EVIDENCE.fullmatch(piece)
        if m:
            out.append(f"D{int(m[1])}:{int(m[2])}")
    return out


def _locomo_samples(path: Path, data: Any, c: _Checker
                    ) -> Iterator[tuple[str, str, Any, str, Any]]:
    """(sample id, conversation's JSON path, conversation, qa's JSON path, qa list)."""
    if isinstance(data, list):
        for i, item in enumerate(data):
            w = f"[{i}]"
            obj = c.obj(item, w)
            conv = c.field(obj, "conversation", w, dict)
            sid = obj.get("sample_id")
            yield (str(sid) if sid is not None else f"{path.stem}-{i}", f"{w}.conversation",
                   conv, f"{w}.qa", c.field(obj, "qa", w, list))
    else:
        obj = c.obj(data, "")
        if "conversation" in obj:
            conv = c.field(obj, "conversation", "", dict)
            sid = obj.get("sample_id")
            yield (str(sid) if sid is not None else path.stem, "conversation", conv,
                   "qa", c.field(obj, "qa", "", list))
        else:  # one conversation flattened with its qa list
            yield path.stem, "", obj, "qa", c.field(obj, "qa", "", list)


def _locomo_files(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.json") if f.is_file())
            if not found:
                raise DataError(str(p), "", "folder holds no .json files")
            files.extend(found)
        else:
            files.append(p)
    if not files:
        raise DataError("--data", "", "no LoCoMo file given")
    return files


def load_locomo(paths: str | Path | Sequence[str | Path]) -> Dataset:
    """Load and validate LoCoMo: ``locomo10.json``, one-conversation files, or folders
    of them."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = _locomo_files(paths)
    questions: list[Question] = []
    haystacks: dict[str, Any] = {}
    for path in files:
        c = _Checker(path)
        for sample, w, conv, qa_w, qa in _locomo_samples(path, _read_json(path), c):
            if sample in haystacks:
                raise c.fail(w, f"duplicate conversation {sample!r}")
            hay = _locomo_haystack(sample, conv, w, c)
            haystacks[sample] = hay
            session_of = {t.id: s.id for s in hay.sessions for t in s.turns}
            canon = {_canon(t): t for t in session_of}
            last_date = hay.sessions[-1].date_text
            for i, q in enumerate(qa):
                qw = f"{qa_w}[{i}]"
                qobj = c.obj(q, qw)
                text = c.field(qobj, "question", qw, str)
                cat = c.field(qobj, "category", qw, int)
                if cat not in LOCOMO_CATEGORIES:
                    raise c.fail(f"{qw}.category", f"must be 1-5, got {cat}")
                evidence = c.field(qobj, "evidence", qw, list, optional=True) or []
                gold: list[str] = []
                for j, e in enumerate(evidence):
                    if not isinstance(e, str):
                        raise c.fail(f"{qw}.evidence[{j}]", "must be a string")
                    for ident in normalise_evidence(e):
                        turn_id = canon.get(ident)
                        if turn_id is not None and turn_id not in gold:
                            gold.append(turn_id)
                abstention = cat == 5
                if abstention:
                    answer = LOCOMO_ABSTENTION_ANSWER
                else:
                    raw_answer = c.field(qobj, "answer", qw, (str, int, float))
                    answer = _as_text(raw_answer)
                questions.append(Question(
                    id=f"{sample}_q{i}", type=LOCOMO_CATEGORIES[cat], question=text,
                    answer=answer, question_date=last_date, haystack_id=sample,
                    gold_session_ids=tuple(dict.fromkeys(session_of[t] for t in gold)),
                    gold_turn_ids=tuple(gold), abstention=abstention,
                ))
    if not questions:
        raise DataError(str(files[0]), "qa", "no questions in the given files")
    return Dataset("locomo", "locomo10", tuple(files), tuple(questions), haystacks)


def _canon(dia_id: str) -> str:
    got = normalise_evidence(dia_id)
    return got[0] if got else dia_id


def _locomo_haystack(sample: str, conv: dict[str, Any], w: str, c: _Checker) -> Haystack:
    pre = f"{w}." if w else ""
    speaker_a = c.field(conv, "speaker_a", w, str)
    c.field(conv, "speaker_b", w, str)
    numbered = sorted(
        (int(m[1]), key) for key in conv if (m := _SESSION_KEY.fullmatch(key)))
    sessions: list[EvalSession] = []
    seen: set[str] = set()
    for _, key in numbered:
        turns_raw = c.lst(conv[key], f"{pre}{key}")
        if not turns_raw:
            continue  # dated sessions without turns exist: skip them
        date_key = f"{key}_date_time"
        date_text = c.field(conv, date_key, w, str)
        date = c.date(date_text, f"{pre}{date_key}")
        turns: list[EvalTurn] = []
        for t, raw in enumerate(turns_raw):
            tw = f"{pre}{key}[{t}]"
            tobj = c.obj(raw, tw)
            speaker = c.field(tobj, "speaker", tw, str)
            dia_id = c.field(tobj, "dia_id", tw, str)
            if dia_id in seen:
                raise c.fail(f"{tw}.dia_id", f"duplicate turn id {dia_id!r}")
            seen.add(dia_id)
            text = c.field(tobj, "text", tw, str)
            caption = c.field(tobj, "blip_caption", tw, str, optional=True)
            if caption:  # a shared photo is part of its turn
                text = f"{text} [shares a photo: {caption}]" if text else f"[photo: {caption}]"
            turns.append(EvalTurn(id=dia_id, role="user" if speaker == speaker_a else
                                  "assistant", content=text, name=speaker))
        sessions.append(EvalSession(id=key, date=date, date_text=date_text, turns=tuple(turns)))
    if not sessions:
        raise c.fail(w or "", f"conversation {sample!r} has no session with turns")
    return Haystack(id=sample, sessions=tuple(sessions))

"""Hostile input (issue 16, item 8): lone surrogates, timestamps at the ends of the
calendar, metadata nested thousands deep. Each is refused with an error of the
:class:`~agentmem.AgentMemError` tree naming the field, and nothing is written; a text
that merely mentions a time the calendar cannot hold is stored and searched as usual.
The command line prints one ``agentmem: error:`` line for them and exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import fill

from agentmem import InvalidInput, Memory, parse_timestamp
from agentmem.inputs import MAX_METADATA_DEPTH, check_metadata, check_path
from agentmem.temporal import find_time_ranges, question_time_range, time_aware_order
from agentmem.types import TimeRange

SURROGATE = "\ud800"
GOOD = [{"role": "user", "content": "hello"}]
TIME_WORDS = ["next week", "last year", "in two weeks", "next year", "last week",
              "this year", "next month", "tomorrow", "yesterday", "two weeks ago",
              "a few years ago", "the past 3 years", "next Monday", "last Sunday",
              "next summer", "last winter", "this weekend", "in May", "since December"]
ENDS = ["0001-01-01", "9999-12-31", "9999-12-31T23:59:59.999999"]


def _snapshot(mem: Memory) -> tuple[int, int, int, dict[str, int], int]:
    s = mem.stats()
    return (s.users, s.sessions, s.turns, s.units, s.embeddings_cached)


def _nested(depth: int, kind: type) -> dict[str, Any]:
    """Metadata whose containers (the metadata dict included) nest ``depth`` deep."""
    inner: Any = "leaf"
    for _ in range(depth - 1):
        inner = {"k": inner} if kind is dict else [inner]
    return {"k": inner}


def _deep_json(depth: int, kind: type) -> str:
    """The JSON text of ``_nested(depth, kind)``, written out (``json.dumps`` itself
    cannot nest that deep)."""
    open_, close = ('{"k": ', "}") if kind is dict else ("[", "]")
    return '{"k": ' + open_ * (depth - 1) + '"leaf"' + close * (depth - 1) + "}"


def _deep_message(depth: int, kind: type) -> str:
    return '{"role": "user", "content": "x", "metadata": ' + _deep_json(depth, kind) + "}"


def _message(**extra: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "hello", **extra}]


# -- the library ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": SURROGATE}, "user_id"),
        ({"user_id": "alice\udcff"}, "user_id"),
        ({"session_id": f"s{SURROGATE}1"}, "session_id"),
        ({"messages": _message(content=f"I live in {SURROGATE}Lisbon")},
         "messages[0].content"),
        ({"messages": [*GOOD, {"role": "assistant", "content": "\udfff"}]},
         "messages[1].content"),
        ({"messages": _message(name=f"Ana{SURROGATE}")}, "messages[0].name"),
        ({"messages": _message(metadata={"k": SURROGATE})}, "messages[0].metadata"),
        ({"messages": _message(metadata={SURROGATE: 1})}, "messages[0].metadata"),
        ({"messages": _message(metadata={"a": [1, {"b": ["ok", f"x{SURROGATE}"]}]})},
         "messages[0].metadata"),
        ({"messages": _message(metadata={"a": {"b": {SURROGATE: None}}})},
         "messages[0].metadata"),
        ({"messages": _message(metadata=_nested(5000, dict))}, "messages[0].metadata"),
        ({"messages": _message(metadata=_nested(5000, list))}, "messages[0].metadata"),
        ({"messages": _message(metadata=_nested(MAX_METADATA_DEPTH + 1, dict))},
         "messages[0].metadata"),
        ({"messages": _message(metadata=_nested(MAX_METADATA_DEPTH + 1, list))},
         "messages[0].metadata"),
        ({"messages": _message(timestamp="0001-01-01T00:00:00+01:00")},
         "messages[0].timestamp"),
        ({"timestamp": "9999-12-31T23:00:00-05:00"}, "timestamp"),
        ({"timestamp": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3)))}, "timestamp"),
        ({"timestamp": "0000-01-01"}, "timestamp"),
        ({"timestamp": "10000-01-01"}, "timestamp"),
    ],
)
def test_add_refuses_hostile_input_and_writes_nothing(mem: Memory, kwargs: dict[str, Any],
                                                      field: str) -> None:
    fill(mem)
    before = _snapshot(mem)
    call: dict[str, Any] = {"messages": GOOD, "user_id": "alice", "session_id": "s9",
                            "timestamp": "2024-01-01T00:00:00"}
    call.update(kwargs)
    messages = call.pop("messages")
    with pytest.raises(InvalidInput) as err:
        mem.add(messages, **call)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")
    assert _snapshot(mem) == before
    assert len(str(err.value)) < 500  # a message, not the whole input


@pytest.mark.parametrize("kind", [dict, list])
def test_metadata_at_the_depth_limit_is_kept(mem: Memory, kind: type) -> None:
    metadata = _nested(MAX_METADATA_DEPTH, kind)
    result = mem.add(_message(metadata=metadata), user_id="alice", session_id="s1")
    assert mem.turns("alice")[0].metadata == metadata
    assert len(result.turn_ids) == 1


def test_export_works_after_hostile_input_was_refused(mem: Memory, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        mem.add(_message(metadata={"note": SURROGATE}), user_id="alice", session_id="s1")
    mem.add(_message(metadata={"note": "fine"}), user_id="alice", session_id="s1")
    assert mem.export(tmp_path / "out.jsonl") > 0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda m: m.search(f"where {SURROGATE}", user_id="alice"), "query"),
        (lambda m: m.search("where", user_id=SURROGATE), "user_id"),
        (lambda m: m.search("where", user_id="alice", now="0001-01-01T00:00:00+00:01"),
         "now"),
        (lambda m: m.search("where", user_id="alice", question_date="9999-12-31T23:59-01:00"),
         "question_date"),
        (lambda m: m.get(SURROGATE), "id"),
        (lambda m: m.delete(f"abc{SURROGATE}"), "id"),
        (lambda m: m.forget_user(SURROGATE), "user_id"),
        (lambda m: m.turns("alice", session_id=SURROGATE), "session_id"),
        (lambda m: m.export("out.jsonl", user_id=SURROGATE), "user_id"),
    ],
)
def test_other_calls_refuse_hostile_input(mem: Memory, call: Any, field: str) -> None:
    fill(mem)
    before = _snapshot(mem)
    with pytest.raises(InvalidInput) as err:
        call(mem)
    assert err.value.field == field
    assert _snapshot(mem) == before


@pytest.mark.parametrize("now", ENDS)
@pytest.mark.parametrize("words", TIME_WORDS)
def test_time_words_at_the_ends_of_the_calendar_are_searched(mem: Memory, now: str,
                                                             words: str) -> None:
    fill(mem)
    hits = mem.search(f"What did I do {words}?", user_id="alice", k=3, now=now)
    assert len(hits) == 3


@pytest.mark.parametrize("when", ENDS)
def test_time_words_at_the_ends_of_the_calendar_are_stored(mem: Memory, when: str) -> None:
    messages = [{"role": "user", "content": f"I will see Ana {w}."} for w in TIME_WORDS]
    result = mem.add(messages, user_id="alice", session_id="s1", timestamp=when)
    assert mem.stats().turns == len(TIME_WORDS) == len(result.turn_ids)
    hits = mem.search("next week", user_id="alice", k=50, now=when)
    assert {t for h in hits for t in h.turn_ids} == set(result.turn_ids)


@pytest.mark.parametrize("anchor", [datetime.min, datetime.max,
                                    datetime(1, 1, 3), datetime(9999, 12, 29)])
@pytest.mark.parametrize("words", TIME_WORDS)
def test_expressions_out_of_range_are_ignored_or_clamped(anchor: datetime, words: str) -> None:
    for r in find_time_ranges(f"I saw her {words}.", anchor):
        assert r.start <= r.end
    period = question_time_range(f"What happened {words}?", anchor)
    if period is not None:
        # the caller widens the period by two days: that must hold
        assert isinstance(period.widened(2), TimeRange)


@pytest.mark.parametrize("period", [TimeRange(datetime.min, datetime(1, 1, 5)),
                                    TimeRange(datetime(9999, 12, 20), datetime.max)])
def test_time_aware_order_widens_up_to_the_ends_of_the_calendar(period: TimeRange) -> None:
    events = {"in": [TimeRange(period.start, period.start)],
              "out": [TimeRange(datetime(2023, 1, 1), datetime(2023, 1, 2))]}
    assert time_aware_order(["out", "in"], events, period, widen_days=30) == ["in", "out"]


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
                                   datetime(9999, 12, 31, 23, tzinfo=timezone(
                                       timedelta(hours=-2))),
                                   "0000-12-31", "10000-01-01", "9999-12-32"])
def test_parse_timestamp_out_of_range_names_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_timestamp(value, field="when")
    assert err.value.field == "when"


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31T23:59:59.999999",
                                   "0001-01-01T00:00:00-01:00"])
def test_parse_timestamp_at_the_ends_of_the_calendar(value: str) -> None:
    assert parse_timestamp(value, field="when").year in (1, 9999)


@pytest.mark.parametrize("value", [None, [], {"k": SURROGATE}, {"k": {1}},
                                   _nested(5000, dict), _nested(MAX_METADATA_DEPTH + 1, list)])
def test_check_metadata_refuses(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_metadata(value, "line 3: metadata")
    assert err.value.field == "line 3: metadata"


def test_check_metadata_returns_the_stored_form() -> None:
    assert check_metadata({"a": (1, "é"), 2: None}, "metadata") == {"a": [1, "é"], "2": None}


@pytest.mark.parametrize(
    "value", [SURROGATE, f"data/{SURROGATE}", "a\x00b", 3, None, b"memdata", ["memdata"]])
def test_check_path_refuses(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_path(value, "path")
    assert err.value.field == "path"


def test_check_path_accepts_str_and_path(tmp_path: Path) -> None:
    assert check_path(str(tmp_path), "path") == tmp_path
    assert check_path(tmp_path / "x", "path") == tmp_path / "x"
    assert check_path("données/ß", "path") == Path("données/ß")


# -- the command line -----------------------------------------------------------------

def agentmem(*args: str, input: str = "", path: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    """``python -m agentmem [--path PATH] ARGS``; a lone surrogate in an argument goes
    to the process as the undecodable byte it stands for (``"\\udcff"`` is ``0xff``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    env["HF_HUB_OFFLINE"] = "1"
    cmd = [sys.executable, "-m", "agentmem", *(["--path", str(path)] if path else []), *args]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def one_error_line(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Exit ``code`` and exactly one stderr line, ``agentmem: error: ...`` naming
    ``words``."""
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("agentmem: error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_refuses_hostile_input_with_one_line(tmp_path: Path) -> None:
    mem = tmp_path / "mem"
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps([{"role": "user", "content": "I will see Ana next week."}]),
                    encoding="utf-8")
    # the end of the calendar with a time expression: stored and searched
    done = agentmem("add", str(chat), "--user", "alice", "--session", "s1",
                    "--timestamp", "9999-12-31", path=mem)
    assert done.returncode == 0, done.stderr
    done = agentmem("--json", "search", "next week", "--user", "alice", "--now", "0001-01-01",
                    path=mem)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 1
    bad = "\udcff"  # the byte 0xff on the command line
    one_error_line(agentmem("search", bad, "--user", "alice", path=mem), 2, "query")
    one_error_line(agentmem("search", "hi", "--user", bad, path=mem), 2, "user_id")
    one_error_line(agentmem("search", "hi", "--user", "alice", "--now",
                            "0001-01-01T00:00+01:00", path=mem), 2, "now")
    one_error_line(agentmem("get", bad, path=mem), 2, "id")
    one_error_line(agentmem("delete", f"ab{bad}", path=mem), 2, "id")
    one_error_line(agentmem("forget-user", bad, "--yes", path=mem), 2, "user_id")
    one_error_line(agentmem("export", str(tmp_path / f"out{bad}.jsonl"), path=mem), 2, "file")
    one_error_line(agentmem("import", str(tmp_path / f"in{bad}.jsonl"), path=mem), 2, "file")
    one_error_line(agentmem("--path", str(tmp_path / f"m{bad}"), "stats"), 2, "--path")
    for text, field in [
        (json.dumps([{"role": "user", "content": "x\ud800"}]), "[0].content"),
        (json.dumps([{"role": "user", "content": "x", "name": "\ud800"}]), "[0].name"),
        (json.dumps([{"role": "user", "content": "x", "metadata": {"\ud800": 1}}]),
         "[0].metadata"),
        (f"[{_deep_message(5000, dict)}]", "nested"),
        (_deep_message(5000, list), "nested"),
        (f'{{"role": "user", "content": "x"}}\n{_deep_message(3000, dict)}', "line 2"),
        (f"[{_deep_message(MAX_METADATA_DEPTH + 1, dict)}]", "[0].metadata"),
    ]:
        one_error_line(agentmem("add", "-", "--user", "alice", "--session", "s2",
                                input=text, path=mem), 2, "<stdin>", field)
    one_error_line(agentmem("add", "-", "--user", bad, "--session", "s2",
                            input=json.dumps(GOOD), path=mem), 2, "--user")
    # a backend failure is one line too, with exit 2 (docs/cli.md)
    one_error_line(agentmem("--chroma-host", "127.0.0.1", "--chroma-port", "1", "stats",
                            path=mem), 2, "Chroma")
    done = agentmem("--json", "stats", path=mem)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["turns"] == 1

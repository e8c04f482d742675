"""Bad input raises InvalidInput naming the field, and nothing of the call is written."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import fill

from agentmem import InvalidInput, Memory, parse_timestamp

GOOD = [{"role": "user", "content": "hello"}]


def _snapshot(mem: Memory) -> tuple[int, int, int, dict[str, int], int]:
    s = mem.stats()
    return (s.users, s.sessions, s.turns, s.units, s.embeddings_cached)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": {"role": "user", "content": "x"}}, "messages"),
        ({"messages": ["hello"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x", "colour": "red"}]},
         "messages[0].colour"),
        ({"messages": [{"role": "user", "content": "x", "name": 3}]}, "messages[0].name"),
        ({"messages": [{"role": "user", "content": "x", "metadata": {"a": object()}}]},
         "messages[0].metadata"),
        ({"messages": [{"role": "user", "content": "x", "timestamp": "yesterday-ish"}]},
         "messages[0].timestamp"),
        ({"user_id": None}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": 7}, "user_id"),
        ({"session_id": None}, "session_id"),
        ({"session_id": ["s"]}, "session_id"),
        ({"timestamp": "not a date"}, "timestamp"),
        ({"timestamp": "2023-13-45"}, "timestamp"),
        ({"timestamp": 1700000000}, "timestamp"),
    ],
)
def test_add_rejects_bad_input_and_writes_nothing(mem: Memory, kwargs: dict[str, Any],
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
    assert field in str(err.value)
    assert _snapshot(mem) == before


def test_bad_message_late_in_batch_writes_nothing(mem: Memory) -> None:
    msgs = [{"role": "user", "content": f"message {i}"} for i in range(5)]
    msgs.append({"role": "user", "content": None})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match=r"messages\[5\]\.content"):
        mem.add(msgs, user_id="u", session_id="s")
    assert _snapshot(mem) == (0, 0, 0, {}, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"query": ""}, "query"), ({"query": 5}, "query"), ({"user_id": None}, "user_id"),
     ({"k": 0}, "k"), ({"k": "3"}, "k"), ({"k": True}, "k"), ({"mode": "fuzzy"}, "mode"),
     ({"candidates": -1}, "candidates")],
)
def test_search_rejects_bad_input(mem: Memory, kwargs: dict[str, Any], field: str) -> None:
    call: dict[str, Any] = {"query": "hello", "user_id": "alice"}
    call.update(kwargs)
    query = call.pop("query")
    with pytest.raises(InvalidInput) as err:
        mem.search(query, **call)
    assert err.value.field == field


def test_other_methods_name_their_fields(mem: Memory) -> None:
    with pytest.raises(InvalidInput, match=r"^id"):
        mem.get("")
    with pytest.raises(InvalidInput, match=r"^id"):
        mem.delete(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"^user_id"):
        mem.forget_user("")
    with pytest.raises(InvalidInput, match=r"^granularity"):
        Memory(granularity="paragraph")
    with pytest.raises(InvalidInput, match=r"^path"):
        Memory(path=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-05-20T10:00:00", datetime(2023, 5, 20, 10)),
        ("2023-05-20", datetime(2023, 5, 20)),
        ("2023-05-20T10:00:00Z", datetime(2023, 5, 20, 10)),
        ("2023-05-20T12:00:00+02:00", datetime(2023, 5, 20, 10)),
        ("2023/05/20 (Sat) 10:00", datetime(2023, 5, 20, 10)),
        ("2023/05/20 10:00", datetime(2023, 5, 20, 10)),
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56)),
        ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9)),
        ("10:37 am on 27 June, 2023", datetime(2023, 6, 27, 10, 37)),
        (datetime(2023, 1, 2, 3, 4, 5, 6), datetime(2023, 1, 2, 3, 4, 5, 6)),
        (datetime(2023, 1, 2, 5, tzinfo=timezone(timedelta(hours=2))), datetime(2023, 1, 2, 3)),
        (date(2023, 1, 2), datetime(2023, 1, 2)),
    ],
)
def test_timestamp_forms(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["", "tomorrow", "2023/02/30 (Thu) 10:00",
                                   "13:00 pm on 1 May, 2023", "1:00 pm on 1 Mayo, 2023",
                                   "20-05-2023", 3.5, None, True])
def test_bad_timestamps(value: object) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_timestamp(value, field="when")
    assert err.value.field == "when"

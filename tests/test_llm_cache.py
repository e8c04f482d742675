"""The persistent completion cache (CachedLLM) in front of a scripted stand-in LLM (it
replays fixed replies; not a model), on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from conftest import ScriptedStandInLLM

from agentmem.llm import CachedLLM, LLMRequest, MeteredLLM

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def _req(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(prompt=text, json_schema=SCHEMA, **kw)  # type: ignore[arg-type]


def test_a_repeated_request_is_served_from_the_file(tmp_path: Path) -> None:
    stand_in = ScriptedStandInLLM(['{"a": 1}', '{"a": 2}'])
    cached = CachedLLM(stand_in, tmp_path / "llm.sqlite")
    first = cached.complete([_req("one"), _req("two")])
    assert [c.parsed for c in first] == [{"a": 1}, {"a": 2}]
    cached.close()
    reopened = CachedLLM(stand_in, tmp_path / "llm.sqlite")  # survives reopening
    metered = MeteredLLM(reopened)
    again = metered.complete([_req("two"), _req("one")])
    assert [c.parsed for c in again] == [{"a": 2}, {"a": 1}]
    assert len(stand_in.seen) == 2  # the model was asked once per request
    assert all(c.extra["cached"] and c.extra["cached_tokens"] == 15 for c in again)
    assert metered.usage()["default"]["completion_tokens"] == 0  # nothing spent now
    assert (reopened.hits, reopened.misses) == (2, 0)
    assert reopened.count() == 2


def test_any_request_field_makes_a_new_entry(tmp_path: Path) -> None:
    stand_in = ScriptedStandInLLM(['{"a": 1}'] * 3)
    cached = CachedLLM(stand_in, tmp_path / "llm.sqlite")
    cached.complete([_req("one")])
    cached.complete([_req("one", max_tokens=99)])
    cached.complete([LLMRequest(messages=({"role": "user", "content": "one"},),
                                json_schema=SCHEMA)])
    assert len(stand_in.seen) == 3


def test_model_failures_are_cached_backend_failures_are_not(tmp_path: Path) -> None:
    stand_in = ScriptedStandInLLM(["no json", "still none", '{"a": 3}'])
    cached = CachedLLM(stand_in, tmp_path / "llm.sqlite")
    (bad,) = cached.complete([_req("x")])
    assert not bad.ok and bad.retried
    (again,) = cached.complete([_req("x")])  # the model's own output: replayed
    assert again.error == bad.error and len(stand_in.seen) == 2
    broken = ScriptedStandInLLM([], fail="server said 503")
    broken_cache = CachedLLM(broken, tmp_path / "other.sqlite")
    assert not broken_cache.complete([_req("y")])[0].ok
    assert not broken_cache.complete([_req("y")])[0].ok
    assert len(broken.seen) == 2 and broken_cache.count() == 0


def test_another_model_does_not_read_the_cache(tmp_path: Path) -> None:
    a = ScriptedStandInLLM(['{"a": 1}'])
    b = ScriptedStandInLLM(['{"a": 2}'])
    b.name = "another-model"
    CachedLLM(a, tmp_path / "llm.sqlite").complete([_req("q")])
    (c,) = CachedLLM(b, tmp_path / "llm.sqlite").complete([_req("q")])
    assert c.parsed == {"a": 2} and len(b.seen) == 1

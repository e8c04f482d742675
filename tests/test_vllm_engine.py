"""The in-process VLLMEngine on SmolLM2-135M-Instruct: a batch of chat requests, a plain
prompt and schema-constrained JSON, in one engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from test_eval_harness import longmemeval_items, write_json

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.eval import RunConfig, evaluate
from agentmem.llm import LLMRequest, VLLMEngine
from agentmem.stores import KeyExpansion, Summaries, ThoughtConfig

pytestmark = pytest.mark.vllm

FACTS = {
    "type": "object",
    "properties": {"facts": {"type": "array", "maxItems": 3,
                             "items": {"type": "string", "maxLength": 60}}},
    "required": ["facts"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def engine(smollm2_dir: Path) -> Iterator[VLLMEngine]:
    eng = VLLMEngine(smollm2_dir)
    yield eng
    eng.close()


def chat(text: str, **kw: object) -> LLMRequest:
    return LLMRequest(messages=({"role": "user", "content": text},), **kw)  # type: ignore[arg-type]


def test_chat_batch_and_plain_prompt(engine: VLLMEngine) -> None:
    out = engine.complete([
        chat("What is the capital of France?", max_tokens=24),
        chat("Name a fruit.", max_tokens=16),
        LLMRequest(prompt="One, two, three,", max_tokens=8),
    ])
    assert [c.ok for c in out] == [True, True, True]
    assert "Paris" in out[0].text
    assert all(c.text.strip() and c.prompt_tokens > 0 and c.completion_tokens > 0
               for c in out)
    assert out[2].completion_tokens <= 8
    assert engine.name == f"vllm:{Path(engine.model).name}"


def test_schema_requests_decode_valid_json(engine: VLLMEngine) -> None:
    out = engine.complete([
        chat("Extract short facts about the user as JSON: I moved to Lisbon and I have a "
             "cat named Miso.", max_tokens=160, json_schema=FACTS),
        chat("Extract short facts as JSON: My sister Ana visits in June.", max_tokens=160,
             json_schema=FACTS),
    ])
    for c in out:
        assert c.ok, (c.error, c.text)
        jsonschema.validate(c.parsed, FACTS)


def test_harness_qa_mode_with_the_real_engine(engine: VLLMEngine, tmp_path: Path,
                                              embedder: SentenceTransformerEmbedder) -> None:
    """The harness's QA path end to end on a real model: reader, judge, usage."""
    data = write_json(tmp_path / "longmemeval_s.json", longmemeval_items())
    result = evaluate("longmemeval", [data], tmp_path / "qa", llm=engine, embedder=embedder,
                      progress=False,
                      config=RunConfig("longmemeval", retrieval_only=False, k=2,
                                       reader_max_tokens=48))
    rows = [json.loads(x) for x in (tmp_path / "qa" / "predictions.jsonl").read_text()
            .splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert isinstance(row["hypothesis"], str) and row["hypothesis"].strip()
        assert isinstance(row["judge_raw"], str)
        assert row["verdict"] in ("yes", "no", None)
    usage = result.manifest["llm_usage"]
    assert usage["reader"]["calls"] == 3 and usage["reader"]["completion_tokens"] > 0
    assert usage["judge"]["calls"] >= 3
    assert result.metrics["qa"]["n"] == 3
    assert result.manifest["judge"]["name"] == engine.name
    assert result.manifest["judge"]["comparable"] is False


def test_memory_respond_with_the_real_engine(engine: VLLMEngine,
                                             embedder: SentenceTransformerEmbedder) -> None:
    """Memory.respond end to end on a real model: search, reader prompt, answer."""
    with Memory(embedder=embedder, llm=engine) as mem:
        mem.add([{"role": "user", "content": "I adopted a grey cat called Miso."},
                 {"role": "assistant", "content": "Miso is a lovely name."}],
                user_id="u", session_id="s1", timestamp="2023-06-02T18:30:00")
        answer = mem.respond("What is my cat called?", user_id="u", max_tokens=48,
                             now="2023-06-10T09:00:00")
        assert answer.error is None and answer.text
        assert "Miso" in answer.prompt and answer.hits[0].session_id == "s1"
        usage = mem.stats().llm_usage["reader"]
        assert usage["calls"] == 1 and usage["completion_tokens"] > 0


def test_key_expansion_with_the_real_engine(engine: VLLMEngine,
                                            embedder: SentenceTransformerEmbedder) -> None:
    """Fact extraction on a real model: schema-constrained JSON becomes the unit's key
    (or, should the small model fail, the failure is counted and the unit stays
    indexed by its text)."""
    with Memory(embedder=embedder, llm=engine, keys=KeyExpansion(max_tokens=160)) as mem:
        res = mem.add([{"role": "user", "content": "I moved to Lisbon last month for a job "
                                                   "at a bakery."},
                       {"role": "assistant", "content": "Congratulations on the move!"}],
                      user_id="u", session_id="s1", timestamp="2023-06-02T18:30:00")
        unit = mem.get(res.unit_ids[0])
        assert mem.expander is not None
        assert (unit.key is not None and unit.key.endswith(unit.text)) or (
            mem.expander.failures == 1)
        usage = mem.stats().llm_usage["key_expansion"]
        assert usage["calls"] == 1 and usage["completion_tokens"] > 0
        assert mem.search("Where did I move?", user_id="u", k=1)[0].id == unit.id


def test_post_thinking_with_the_real_engine(engine: VLLMEngine,
                                            embedder: SentenceTransformerEmbedder) -> None:
    """TiM end to end on a real model: an exchange is added, the model post-thinks under
    the thought schema, and the thoughts it wrote are stored with the exchange's turns
    as provenance and found by search (or, should the small model fail, the failure is
    counted and the ingestion goes on)."""
    with Memory(embedder=embedder, llm=engine, thoughts=ThoughtConfig(max_tokens=200)) as mem:
        res = mem.add([{"role": "user", "content": "I moved to Lisbon last month and I "
                                                   "work at a bakery now."},
                       {"role": "assistant", "content": "Congratulations on the move!"}],
                      user_id="u", session_id="s1", timestamp="2023-06-02T18:30:00")
        usage = mem.stats().llm_usage["post_thinking"]
        assert usage["calls"] == 1 and usage["completion_tokens"] > 0
        made = mem.thoughts("u", status=["active", "merged", "forgotten"])
        failures = mem.stats().llm_failures["thoughts"]
        assert made or failures == 1
        for t in made:
            assert t.head and t.relation and t.tail and t.text
            assert set(t.source_turn_ids) == set(res.turn_ids)
            assert mem.history(t.id)[0].op in ("insert", "merge")
        if made:
            hits = mem.search("Where does the user live?", user_id="u", k=5)
            assert any(h.kind == "thought" for h in hits)


def test_summaries_and_portrait_with_the_real_engine(engine: VLLMEngine,
                                                     embedder: SentenceTransformerEmbedder
                                                     ) -> None:
    """MemoryBank's summaries on a real model: a day's event summary and the portrait
    are written under their schemas and stored (or, should the small model fail, the
    failures are counted and nothing is half-written)."""
    with Memory(embedder=embedder, llm=engine, summaries=Summaries(auto=False)) as mem:
        mem.add([{"role": "user", "content": "I adopted a grey cat called Miso today."},
                 {"role": "assistant", "content": "Miso is a lovely name!"}],
                user_id="u", session_id="s1", timestamp="2023-06-02T18:30:00")
        done = mem.summarize("u")
        usage = mem.stats().llm_usage
        assert usage["daily_summary"]["calls"] == 1
        assert usage["daily_summary"]["completion_tokens"] > 0
        prof = mem.profile("u")
        assert mem.summarizer is not None
        assert (done == 1 and prof.days[0][1]) or mem.summarizer.failures >= 1
        if done:
            assert usage["portrait"]["calls"] == 1
            assert prof.summary or mem.summarizer.failures == 1

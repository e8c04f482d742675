"""Time-aware search, the structured reader block (Memory.context) and answering from
memory (Memory.respond). The LLM here is a scripted stand-in (it replays fixed replies);
test_vllm_engine.py answers with the real small model."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import ScriptedStandInLLM

from agentmem import ConfigError, InvalidInput, Memory, SentenceTransformerEmbedder


def concerts(mem: Memory) -> None:
    mem.add([{"role": "user", "content": "I went to a great rock concert downtown, the "
                                         "concert was amazing."}],
            user_id="u", session_id="may", timestamp="2023-05-03T20:00:00")
    mem.add([{"role": "user", "content": "I saw a show with Ana."}],
            user_id="u", session_id="june", timestamp="2023-06-10T20:00:00")
    mem.add([{"role": "user", "content": "Last Saturday I played chess at the club."}],
            user_id="u", session_id="july", timestamp="2023-07-19T09:00:00")  # a Wednesday


def test_time_aware_search_moves_in_period_units_ahead(mem: Memory) -> None:
    concerts(mem)
    query = "Which concert did I go to in June?"
    plain = mem.search(query, user_id="u", k=3, time_aware=False)
    assert plain[0].session_id == "may"  # the words match May best
    aware = mem.search(query, user_id="u", k=3, now="2023-07-10T12:00:00")
    assert aware[0].session_id == "june"  # dated inside June
    assert {h.id for h in aware} == {h.id for h in plain}  # re-ranked, nothing dropped
    # an event read from the text: "last Saturday" said on 2023-07-19 is 2023-07-15
    chess = mem.search("What did I do on July 15, 2023?", user_id="u", k=3,
                       question_date="2023/07/20 (Thu) 10:00")
    assert chess[0].session_id == "july"
    # no period named: same order as without time-awareness
    assert [h.id for h in mem.search("rock concert", user_id="u", k=3)] == [
        h.id for h in mem.search("rock concert", user_id="u", k=3, time_aware=False)]
    with pytest.raises(InvalidInput, match="question_date"):
        mem.search(query, user_id="u", now="2023-07-01", question_date="2023-07-01")
    with pytest.raises(InvalidInput, match="now"):
        mem.search(query, user_id="u", now="not a date")


def test_events_are_rebuilt_by_reindex(mem: Memory) -> None:
    concerts(mem)
    mem.reindex()
    chess = mem.search("What did I do on July 15, 2023?", user_id="u", k=3,
                       now="2023-07-20T10:00:00")
    assert chess[0].session_id == "july"


def test_context_is_the_structured_reader_block(mem: Memory) -> None:
    concerts(mem)
    block = mem.context("concert or show", user_id="u", k=2, now="2023-07-10T12:00:00")
    sections = block.split("### Session ")[1:]
    assert len(sections) == 2
    assert sections[0].startswith("1:\nSession Date: 2023/05/03 (Wed) 20:00\nSession Content:\n")
    assert sections[1].startswith("2:\nSession Date: 2023/06/10 (Sat) 20:00")
    turns = json.loads(sections[0].split("Session Content:\n")[1])
    assert turns == [{"role": "user", "content": "I went to a great rock concert downtown, "
                                                 "the concert was amazing."}]


def test_respond_answers_with_chain_of_note_and_can_remember(
        embedder: SentenceTransformerEmbedder) -> None:
    stand_in = ScriptedStandInLLM(["Notes: June 10, a show with Ana. Answer: the show "
                                   "with Ana."])
    with Memory(embedder=embedder, llm=stand_in) as mem:
        concerts(mem)
        answer = mem.respond("Which concert did I go to in June?", user_id="u",
                             now=datetime(2023, 7, 10, 12), session_id="chat")
        assert answer.error is None and answer.text.endswith("the show with Ana.")
        assert answer.hits[0].session_id == "june"
        prompt = stand_in.seen[0].as_messages()[0]["content"]
        assert prompt == answer.prompt
        assert "step by step" in prompt and "Current Date: 2023/07/10 (Mon) 12:00" in prompt
        assert prompt.index("Session Date: 2023/05/03") < prompt.index("Session Date: 2023/06/10")
        assert mem.stats().llm_usage["reader"]["calls"] == 1
        stored = mem.search("show with Ana", user_id="u", k=5, time_aware=False)
        assert any(h.session_id == "chat" and "the show with Ana" in h.text for h in stored)


def test_respond_failure_and_configuration(embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder, llm=ScriptedStandInLLM([], fail="server said no")) as mem:
        concerts(mem)
        answer = mem.respond("Which concert?", user_id="u", session_id="chat")
        assert answer.text == "" and "server said no" in (answer.error or "")
        assert mem.stats().sessions == 3  # nothing remembered from a failed answer
    with Memory(embedder=embedder) as mem, pytest.raises(ConfigError, match="LLM"):
        mem.respond("Which concert?", user_id="u")


def test_fusion_options_are_checked(embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInput, match="fusion"):
        Memory(embedder=embedder, fusion="sum")
    with pytest.raises(InvalidInput, match="session_weight"):
        Memory(embedder=embedder, session_weight=-1)
    with Memory(embedder=embedder, fusion="rrf", session_weight=0) as mem:
        concerts(mem)
        assert mem.search("rock concert", user_id="u", k=1)[0].session_id == "may"

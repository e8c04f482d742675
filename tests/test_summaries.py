"""MemoryBank's daily summaries, global summary and portrait, through a scripted
stand-in LLM (not a model) on real SQLite, Chroma and the embedder: incremental
updates, search, the reader block, maintenance and deletion."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from conftest import fill

from agentmem import ConfigError, Decay, Memory, Summaries
from agentmem.llm import BaseLLM, Completion, LLMRequest


class ScriptedSummarizer(BaseLLM):
    """A scripted stand-in (not a model): a daily summary naming the day's first
    words, and a portrait; a reader answer otherwise. Counts requests by operation."""

    name = "scripted-summarizer"

    def __init__(self, broken: bool = False) -> None:
        self.ops: list[str] = []
        self.broken = broken

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        out = []
        for r in requests:
            self.ops.append(r.operation)
            text = r.as_messages()[-1]["content"]
            if self.broken:
                reply = "not json"
            elif r.operation == "daily_summary":
                day = text.split("said on ", 1)[1].split(":", 1)[0]
                first = text.split(":\n", 1)[1].split("\n")[0][:60]
                reply = json.dumps({"summary": f"On {day}: {first}",
                                    "personality": "curious" if "cat" in text else ""})
            elif r.operation == "portrait":
                reply = json.dumps({"summary": f"{text.count('personality') + 1} days",
                                    "portrait": "Curious cat person; answer warmly."})
            else:
                reply = "An answer."
            out.append(Completion(text=reply, prompt_tokens=10, completion_tokens=5))
        return out


def test_days_are_summarised_once_over_and_incrementally(embedder) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedSummarizer()
    with Memory(embedder=embedder, llm=llm, summaries=Summaries()) as m:
        fill(m)  # 2023-05-20 (two adds of one session) then 2023-06-02
        # the June add closed May 20: that day and the portrait were written
        assert llm.ops == ["daily_summary", "portrait"]
        prof = m.profile("alice")
        assert [d.isoformat() for d, _, _ in prof.days] == ["2023-05-20"]
        assert prof.days[0][1].startswith("On 2023-05-20: user: I just moved to Lisbon")
        assert prof.portrait == "Curious cat person; answer warmly."
        assert m.summarize("alice") == 1  # June 2 on request, then the portrait again
        assert llm.ops[-2:] == ["daily_summary", "portrait"]
        assert m.summarize("alice") == 0 and len(llm.ops) == 4  # nothing changed
        prof = m.profile("alice")
        assert [d.isoformat() for d, _, _ in prof.days] == ["2023-05-20", "2023-06-02"]
        assert prof.days[1][2] == "curious"
        # a new turn on an old day: only that day is summarised again
        m.add([{"role": "user", "content": "Ana arrives on Friday."}], user_id="alice",
              session_id="s9", timestamp="2023-05-20T22:00:00")
        assert m.summarize("alice") == 1 and llm.ops[-2:] == ["daily_summary", "portrait"]
        # summaries and the portrait are units: searchable, with their kinds
        kinds = {h.kind for h in m.search("What kind of person is the user?",
                                          user_id="alice", k=10)}
        assert {"summary", "portrait"} <= kinds
        # the reader block starts with the portrait
        assert m.context("Where do I live?", user_id="alice").startswith(
            "### User portrait:\nCurious cat person")
        answer = m.respond("Where do I live?", user_id="alice")
        assert "User Portrait:\nCurious cat person" in answer.prompt


def test_maintenance_keeps_summaries_and_deletion_drops_them(embedder) -> None:  # type: ignore[no-untyped-def]
    llm = ScriptedSummarizer()
    with Memory(embedder=embedder, llm=llm, summaries=Summaries(), decay=Decay()) as m:
        fill(m)
        m.summarize("alice")
        done = m.maintain(now="2025-01-01")
        assert done.checked == 3 and len(done.archived) == 3  # the rounds, not summaries
        assert m.profile("alice").portrait
        # deleting a May round drops May's summary and the global ones, not June's
        may = next(u for u in m.units("alice") if u.session_id == "s1")
        m.delete(may.id)
        prof = m.profile("alice")
        assert [d.isoformat() for d, _, _ in prof.days] == ["2023-06-02"]
        assert prof.portrait == "" and prof.summary == ""
        m.forget_user("alice")
        assert m.profile("alice").days == () and m.units("alice") == []


def test_a_failing_llm_leaves_summaries_as_they_were(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, llm=ScriptedSummarizer(broken=True),
                summaries=Summaries(auto=False)) as m:
        fill(m)
        assert m.summarize("alice") == 0
        assert m.profile("alice").days == () and m.stats().turns == 6
    with pytest.raises(ConfigError, match="need an LLM"):
        Memory(embedder=embedder, summaries=Summaries())
    with Memory(embedder=embedder) as m, pytest.raises(ConfigError, match="summarize needs"):
        m.summarize("alice")


def test_export_and_import_keep_summaries_and_forgetting_curves(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, llm=ScriptedSummarizer(), summaries=Summaries(),
                decay=Decay()) as m:
        fill(m)
        m.summarize("alice")
        m.search("Where do I live?", user_id="alice", k=1, now="2023-06-05")  # S=2
        archived = m.maintain(now="2023-06-30").archived
        before = m.profile("alice")
        m.export(tmp_path / "x.jsonl")
    with Memory(embedder=embedder, decay=Decay()) as m2:  # no LLM needed to read them
        m2.import_(tmp_path / "x.jsonl")
        assert m2.profile("alice") == before
        assert set(m2.maintain(now="2023-06-30").archived) == set()  # already archived
        found = {h.id for h in m2.search("Where do I live?", user_id="alice", k=10,
                                         now="2023-06-30")}
        assert not found & set(archived)
        every = m2.search("Where do I live?", user_id="alice", k=10, now="2023-06-30",
                          include_forgotten=True)
        assert {h.id for h in every} >= set(archived)
        assert any(h.strength == 2 for h in every)


def test_summaries_are_found_by_dense_search_too(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, llm=ScriptedSummarizer(), summaries=Summaries()) as m:
        fill(m)
        m.summarize("alice")
        kinds = {h.kind for h in m.search("What kind of person is the user?",
                                          user_id="alice", k=10, mode="dense")}
        assert {"summary", "portrait"} <= kinds

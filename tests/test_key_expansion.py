"""Fact-augmented key expansion with a scripted stand-in LLM (it replays fixed replies):
keys merged into the index, the cache, the failure path, export/import, forgetting, and
opening a database made before keys existed. test_vllm_engine.py runs the real model."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import ScriptedStandInLLM

from agentmem import ConfigError, InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.llm import BaseLLM, Completion, LLMRequest
from agentmem.stores import Expansion, KeyExpansion

FACTS = json.dumps({"facts": ["Alice adopted a ferret named Pip on 2023-05-20."],
                    "keyphrases": ["ferret", "pet adoption"],
                    "summary": "Alice talks about her new pet."})


PET = [{"role": "user", "content": "Guess what, I finally got the little guy I wanted!"},
       {"role": "assistant", "content": "Congratulations, what is his name?"}]


def test_key_text_by_mode_and_parts() -> None:
    e = Expansion(facts=("A.", "B."), keyphrases=("k1", "k2"), summary="S.")
    assert KeyExpansion().key("V", e) == "A.\nB.\nV"
    assert KeyExpansion(parts=("summary", "keyphrases"), mode="replace").key("V", e) == (
        "S.\nk1; k2")
    assert KeyExpansion().key("V", None) is None
    assert KeyExpansion().key("V", Expansion()) is None
    with pytest.raises(ConfigError, match="parts"):
        KeyExpansion(parts=("gist",))
    with pytest.raises(ConfigError, match="mode"):
        KeyExpansion(mode="separate-ish")


def test_merged_keys_make_facts_searchable_and_are_cached(
        embedder: SentenceTransformerEmbedder) -> None:
    stand_in = ScriptedStandInLLM([FACTS])
    with Memory(embedder=embedder, llm=stand_in, keys=KeyExpansion()) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        unit = mem.get(res.unit_ids[0])
        assert unit.key == ("Alice adopted a ferret named Pip on 2023-05-20.\n" + unit.text)
        prompt = stand_in.seen[0].as_messages()[0]["content"]
        assert "2023/05/20" in prompt and "finally got the little guy" in prompt
        hit = mem.search("ferret", user_id="alice", k=1, mode="lexical")[0]
        assert hit.id == unit.id  # found only through the extracted fact
        assert mem.stats().pending_index_repairs == 0
        # the same text again (another session) is read from the cache: no LLM call
        again = mem.add(PET, user_id="alice", session_id="s2",
                        timestamp="2023-05-21T10:00:00")
        assert len(stand_in.seen) == 1
        assert mem.get(again.unit_ids[0]).key == unit.key
        assert mem.stats().llm_usage["key_expansion"]["calls"] == 1


def test_failed_extraction_leaves_the_value_indexed(
        embedder: SentenceTransformerEmbedder) -> None:
    stand_in = ScriptedStandInLLM(["not json", '{"facts": 3}'])
    with Memory(embedder=embedder, llm=stand_in, keys=KeyExpansion()) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        assert mem.get(res.unit_ids[0]).key is None
        assert mem.expander is not None and mem.expander.failures == 1
        assert mem.search("little guy", user_id="alice", k=1)[0].id == res.unit_ids[0]
        # nothing cached for a failure: the next add of the text asks again
        mem.add(PET, user_id="alice", session_id="s2", timestamp="2023-05-21T10:00:00")
        assert len(stand_in.seen) == 3


def test_keys_need_an_llm(embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(ConfigError, match="needs an LLM"):
        Memory(embedder=embedder, keys=KeyExpansion())


def test_keys_survive_export_import_and_forget_purges_them(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=embedder, llm=ScriptedStandInLLM([FACTS]),
                keys=KeyExpansion()) as mem:
        mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        mem.export(tmp_path / "backup.jsonl")
    with Memory(embedder=embedder) as other:
        other.import_(tmp_path / "backup.jsonl")
        [unit] = other.units("alice")
        assert unit.key is not None and unit.key.startswith("Alice adopted a ferret")
        assert other.search("ferret", user_id="alice", k=1, mode="lexical")[0].id == unit.id
    with Memory(path, embedder=embedder) as mem:
        mem.forget_user("alice")
    con = sqlite3.connect(path / "agentmem.db")
    assert con.execute("SELECT count(*) FROM expansion_cache").fetchone() == (0,)
    con.close()
    raw = b"".join(f.read_bytes() for f in path.rglob("*") if f.is_file())
    assert b"ferret" not in raw


def test_a_database_from_before_keys_gets_the_columns(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    path = tmp_path / "old"
    with Memory(path, embedder=embedder) as mem:
        mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
    con = sqlite3.connect(path / "agentmem.db")
    con.execute("DROP INDEX ix_units_key_hash")
    con.execute("ALTER TABLE units DROP COLUMN key_hash")
    con.execute("ALTER TABLE units DROP COLUMN key")
    con.commit()
    con.close()
    with Memory(path, embedder=embedder) as mem:
        assert mem.search("little guy", user_id="alice", k=1)
        assert mem.units("alice")[0].key is None


def test_separate_key_rows_rank_for_their_unit(tmp_path: Path,
                                               embedder: SentenceTransformerEmbedder) -> None:
    empty = json.dumps({"facts": [], "keyphrases": [], "summary": ""})
    stand_in = ScriptedStandInLLM([FACTS, empty])
    with Memory(tmp_path / "m", embedder=embedder, llm=stand_in,
                keys=KeyExpansion(parts=("facts", "keyphrases"), mode="separate")) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        mem.add([{"role": "user", "content": "The weather is lovely today."}],
                user_id="alice", session_id="s2", timestamp="2023-05-22T10:00:00")
        [value, other] = mem.units("alice")  # key rows are not listed as units
        assert value.id == res.unit_ids[0] and value.key is None
        assert mem.stats().units == {"round": 2, "key": 1}
        for mode in ("lexical", "dense", "hybrid"):
            hits = mem.search("ferret", user_id="alice", k=5, mode=mode)
            assert hits[0].id == value.id, mode  # the key row's rank, the value's hit
            assert len({h.id for h in hits}) == len(hits) == (1 if mode == "lexical" else 2)
        mem.export(tmp_path / "backup.jsonl")
        # deleting the value deletes its key row
        mem.delete(value.id)
        assert mem.stats().units == {"round": 1}
        assert mem.search("ferret", user_id="alice", k=5, mode="lexical") == []
    with Memory(embedder=embedder) as other:
        other.import_(tmp_path / "backup.jsonl")
        assert other.stats().units == {"round": 2, "key": 1}
        assert other.search("ferret", user_id="alice", k=1, mode="lexical")[0].id == value.id


def test_user_facts_as_values(embedder: SentenceTransformerEmbedder) -> None:
    two = json.dumps({"facts": ["Alice adopted a ferret named Pip.",
                                "Alice wanted a pet for a long time."],
                      "keyphrases": [], "summary": ""})
    with Memory(embedder=embedder, llm=ScriptedStandInLLM([two]),
                keys=KeyExpansion(mode="values")) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        listed = mem.units("alice")
        assert sorted(u.kind for u in listed) == ["fact", "fact", "round"]
        hits = mem.search("ferret name", user_id="alice", k=5, kinds=["fact"])
        assert [h.kind for h in hits] == ["fact", "fact"]
        assert hits[0].text == "Alice adopted a ferret named Pip."
        assert hits[0].turns == mem.get(res.unit_ids[0]).turns  # the source's turns
        assert {h.kind for h in mem.search("ferret", user_id="alice", k=5)} == {"fact", "round"}
        with pytest.raises(InvalidInput, match="kinds"):
            mem.search("ferret", user_id="alice", kinds="fact")
        mem.delete(hits[1].id)  # a fact alone: the conversation stays
        assert sorted(u.kind for u in mem.units("alice")) == ["fact", "round"]
        mem.delete(res.unit_ids[0])  # the source goes, and its facts with it
        assert mem.units("alice") == [] and mem.stats().units == {}


class _BrokenStandIn(BaseLLM):
    """A scripted stand-in whose every call raises a non-LLM error (a buggy backend)."""

    name = "broken-stand-in"

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        raise RuntimeError("backend bug")


def test_a_crashing_llm_never_aborts_an_ingestion(embedder: SentenceTransformerEmbedder
                                                   ) -> None:
    with Memory(embedder=embedder, llm=_BrokenStandIn(), keys=KeyExpansion()) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        assert mem.expander is not None and mem.expander.failures == 1
        assert mem.stats().pending_index_repairs == 0
        assert mem.search("little guy", user_id="alice", k=1)[0].id == res.unit_ids[0]


def test_dates_in_extracted_facts_date_the_unit(embedder: SentenceTransformerEmbedder
                                                ) -> None:
    dated = json.dumps({"facts": ["Alice adopted Pip on 2023-04-02."], "keyphrases": [],
                        "summary": ""})
    empty = json.dumps({"facts": [], "keyphrases": [], "summary": ""})
    with Memory(embedder=embedder, llm=ScriptedStandInLLM([dated, empty]),
                keys=KeyExpansion()) as mem:
        res = mem.add(PET, user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
        mem.add([{"role": "user", "content": "How lovely the weather was today!"}],
                user_id="alice", session_id="s2", timestamp="2023-05-22T10:00:00")
        query = "How was the weather in early April 2023?"
        plain = mem.search(query, user_id="alice", k=2, time_aware=False)
        assert plain[0].session_id == "s2"  # the weather talk matches the words best
        for _ in range(2):  # the fact's date puts the pet unit in the period; reindex keeps it
            hits = mem.search(query, user_id="alice", k=2, now="2023-06-01T10:00:00")
            assert hits[0].id == res.unit_ids[0]
            mem.reindex()

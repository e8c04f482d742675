"""The Memory contract: add, search, get, delete, stats, persistence, granularity."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import conversation, fill

from agentmem import (
    AgentMemError,
    ConfigError,
    InvalidInput,
    Memory,
    NotFound,
    SentenceTransformerEmbedder,
)


def test_add_and_search_returns_dated_round_units(mem: Memory) -> None:
    fill(mem)
    hits = mem.search("Where did I move for my new job?", user_id="alice", k=3)
    assert hits, "search found nothing"
    top = hits[0]
    assert "Lisbon" in top.text
    assert top.kind == "round" and top.session_id == "s1" and top.user_id == "alice"
    assert top.timestamp == datetime(2023, 5, 20, 10, 0)
    assert [t.role for t in top.turns] == ["user", "assistant"]
    assert 0 < top.score <= 1 and set(top.scores) <= {"dense", "lexical", "fused", "relevance"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    cat = mem.search("What is the name of my pet?", user_id="alice", k=1)[0]
    assert "Miso" in cat.text and cat.timestamp == datetime(2023, 6, 2, 18, 30)


def test_search_modes_each_find_the_answer(mem: Memory) -> None:
    fill(mem)
    for mode in ("dense", "lexical", "hybrid"):
        hits = mem.search("Miso the cat", user_id="alice", k=1, mode=mode)
        assert "Miso" in hits[0].text, mode
    assert "lexical" in mem.search("Miso", user_id="alice", k=1, mode="lexical")[0].scores


def test_rank_and_units(mem: Memory) -> None:
    fill(mem)
    fill(mem, user_id="bob")
    units = mem.units("alice")
    # conversation order: s1's two rounds, then s2's round; only alice's
    assert [u.session_id for u in units] == ["s1", "s1", "s2"]
    assert [u.turns[0].position for u in units] == [0, 2, 0]
    assert all(u.user_id == "alice" for u in units)
    ranked = mem.rank("Miso the cat", user_id="alice", candidates=10)
    assert {i for i, _ in ranked} == {u.id for u in units}  # every unit, ids only
    assert ranked[0][0] == mem.search("Miso the cat", user_id="alice", k=1)[0].id
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert mem.units("nobody") == []


def test_round_spanning_two_add_calls_is_one_unit(mem: Memory) -> None:
    mem.add([{"role": "user", "content": "What should I cook tonight?"}],
            user_id="u", session_id="s", timestamp="2024-01-01T19:00:00")
    res = mem.add([{"role": "assistant", "content": "Try a mushroom risotto."}],
                  user_id="u", session_id="s", timestamp="2024-01-01T19:01:00")
    assert mem.stats().units == {"round": 1}
    unit = mem.get(res.unit_ids[0])
    assert unit.text == "user: What should I cook tonight?\nassistant: Try a mushroom risotto."
    assert [t.position for t in unit.turns] == [0, 1]
    hits = mem.search("risotto", user_id="u", k=5)
    assert len(hits) == 1 and hits[0].id == unit.id


@pytest.mark.parametrize(("granularity", "expected"), [("turn", 6), ("round", 3), ("session", 2)])
def test_granularity(embedder: SentenceTransformerEmbedder, granularity: str,
                     expected: int) -> None:
    with Memory(embedder=embedder, granularity=granularity) as m:
        fill(m)
        assert m.stats().units == {granularity: expected}
        assert m.search("grey cat", user_id="alice", k=1)[0].kind == granularity


def test_two_human_speakers_both_sides_indexed(mem: Memory) -> None:
    mem.add([
        {"role": "user", "name": "Caroline", "content": "I went to a pride parade."},
        {"role": "assistant", "name": "Melanie", "content": "I painted a sunrise over the lake."},
    ], user_id="pair", session_id="d1", timestamp="1:56 pm on 8 May, 2023")
    hit = mem.search("What did Melanie paint?", user_id="pair", k=1)[0]
    assert "Melanie: I painted a sunrise" in hit.text
    assert hit.timestamp == datetime(2023, 5, 8, 13, 56)
    assert hit.turns[1].name == "Melanie"


def test_get_and_delete(mem: Memory) -> None:
    fill(mem)
    hit = mem.search("sister Ana", user_id="alice", k=1)[0]
    unit = mem.get(hit.id)
    assert unit.text == hit.text and unit.turn_ids == hit.turn_ids
    before = mem.stats()
    mem.delete(hit.id)
    with pytest.raises(NotFound):
        mem.get(hit.id)
    with pytest.raises(NotFound):
        mem.delete(hit.id)
    after = mem.stats()
    assert after.turns == before.turns - len(unit.turns)
    assert all(h.id != hit.id for h in mem.search("sister Ana", user_id="alice", k=10))


def test_persistence_across_reopen(mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        fill(m)
        first = m.search("grey cat", user_id="alice", k=1)[0]
    assert (mem_path / "agentmem.db").exists() and (mem_path / "chroma").is_dir()
    with Memory(mem_path, embedder=embedder) as m:
        stats = m.stats()
        assert (stats.users, stats.sessions, stats.turns) == (1, 2, 6)
        assert stats.pending_index_repairs == 0
        again = m.search("grey cat", user_id="alice", k=1, mode="dense")[0]
        assert again.id == first.id and again.text == first.text
        # new writes continue the session where it stopped
        m.add([{"role": "user", "content": "Miso loves tuna."}], user_id="alice", session_id="s2")
        assert [t.position for t in m.search("tuna", user_id="alice", k=1)[0].turns] == [2]


def test_granularity_is_fixed_at_creation(mem_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    Memory(mem_path, embedder=embedder, granularity="turn").close()
    with pytest.raises(ConfigError, match="granularity"):
        Memory(mem_path, embedder=embedder, granularity="session")
    with Memory(mem_path, embedder=embedder) as m:
        assert m.stats().granularity == "turn"


def test_closed_memory_refuses_work(embedder: SentenceTransformerEmbedder) -> None:
    m = Memory(embedder=embedder)
    m.close()
    m.close()  # idempotent
    with pytest.raises(AgentMemError, match="closed"):
        m.search("x", user_id="u")


def test_in_memory_instances_are_independent(embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder) as a, Memory(embedder=embedder) as b:
        fill(a)
        assert b.search("grey cat", user_id="alice", k=5) == []
        assert a.search("grey cat", user_id="alice", k=1)


def test_unknown_user_search_is_empty(mem: Memory) -> None:
    fill(mem)
    assert mem.search("Lisbon", user_id="nobody") == []


def test_turns_reads_the_log_in_order(mem: Memory) -> None:
    fill(mem)
    fill(mem, user_id="bob")
    mem.add([{"role": "user", "content": "An earlier aside.", "name": "Al"}],
            user_id="alice", session_id="s0", timestamp="2023-01-01T08:00:00")
    every = mem.turns("alice")
    assert [(t.session_id, t.position) for t in every] == [
        ("s0", 0), ("s1", 0), ("s1", 1), ("s1", 2), ("s1", 3), ("s2", 0), ("s2", 1)]
    assert all(t.user_id == "alice" for t in every) and every[0].name == "Al"
    s1 = mem.turns("alice", session_id="s1")
    assert [t.content for t in s1] == [
        m["content"] for sid, _, msgs in conversation() if sid == "s1" for m in msgs]
    assert s1[0].timestamp == datetime(2023, 5, 20, 10, 0)
    assert mem.turns("alice", session_id="nope") == [] and mem.turns("nobody") == []
    with pytest.raises(InvalidInput, match="session_id"):
        mem.turns("alice", session_id="")


def test_delete_session_removes_it_and_what_came_from_it(mem: Memory) -> None:
    fill(mem)
    fill(mem, user_id="bob")
    s2 = mem.turns("alice", session_id="s2")
    mem.add_thoughts([{"head": "Alice", "relation": "has cat", "tail": "Miso",
                       "source_turn_ids": [s2[0].id]},
                      {"head": "Alice", "relation": "lives in", "tail": "Lisbon"}],
                     user_id="alice")
    assert mem.delete_session("alice", "s2") == 2
    assert [t.session_id for t in mem.turns("alice")] == ["s1"] * 4
    assert {u.session_id for u in mem.units("alice")} == {"s1"}
    assert [t.tail for t in mem.thoughts("alice")] == ["Lisbon"]  # only s2's went
    assert all("Miso" not in h.text for h in mem.search("Miso the cat", user_id="alice"))
    assert "Miso" in mem.search("Miso the cat", user_id="bob", k=1)[0].text
    s = mem.stats()
    assert (s.sessions, s.turns) == (3, 10)
    assert mem.delete_session("alice", "s2") == 0
    assert mem.delete_session("nobody", "s1") == 0
    with pytest.raises(InvalidInput, match="session_id"):
        mem.delete_session("alice", " ")

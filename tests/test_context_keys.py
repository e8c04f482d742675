"""Keys with context: turn and round units are indexed under their text followed by the
session's turns just before them (real SQLite, Chroma and embedding model)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import ScriptedStandInLLM

from agentmem import ConfigError, InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.embed.cache import CONTEXT_WEIGHT, PARTS
from agentmem.stores import KeyExpansion
from agentmem.stores.episodic import EpisodicStore
from agentmem.strategies.episodic import Episodic

TALK = [{"role": "user", "name": "Ana", "content": "I started pottery classes on Monday."},
        {"role": "assistant", "name": "Ben", "content": "How are you finding them?"},
        {"role": "user", "name": "Ana", "content": "Hard, but I love it."},
        {"role": "assistant", "name": "Ben", "content": "Keep going!"}]


def made_before(path: Path, embedder: SentenceTransformerEmbedder, setting: str) -> None:
    """A memory with two turns, as a version without ``setting`` left it."""
    with Memory(path, embedder=embedder) as mem:
        mem.add(TALK[:2], user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
    con = sqlite3.connect(path / "agentmem.db")
    con.execute("DELETE FROM agentmem_meta WHERE key = ?", (setting,))
    con.commit()
    con.close()


def test_round_keys_carry_the_turns_before_them(embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder) as mem:
        res = mem.add(TALK, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        first, second = (mem.get(i) for i in res.unit_ids)
        assert first.key is None  # nothing before it
        assert second.text == "Ana: Hard, but I love it.\nBen: Keep going!"
        # text, then context (apart: composed vectors, the default)
        assert second.key == (second.text + PARTS + "Ana: I started pottery classes on "
                              "Monday.\nBen: How are you finding them?")
        # the reply is found by the words of what it answers; search returns its text
        hit = mem.search("pottery", user_id="u", k=2, mode="lexical")
        assert {h.id for h in hit} == {first.id, second.id}
        assert all("pottery" not in h.text for h in hit if h.id == second.id)


def test_context_spans_separate_adds_and_never_crosses_sessions(
        embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder, granularity="turn", context_turns=1) as mem:
        mem.add(TALK[:1], user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        later = mem.add(TALK[1:2], user_id="u", session_id="s",
                        timestamp="2024-03-01T10:01:00")
        other = mem.add(TALK[2:3], user_id="u", session_id="t",
                        timestamp="2024-03-02T10:00:00")
        assert mem.get(later.unit_ids[0]).key == (
            f"Ben: How are you finding them?{PARTS}Ana: I started pottery classes on Monday.")
        assert mem.get(other.unit_ids[0]).key is None


def test_a_reply_added_alone_joins_its_round_not_a_fact_unit(
        embedder: SentenceTransformerEmbedder) -> None:
    """Derived rows (fact units, key rows) share their parent's position; the round a
    reply completes is the parent."""
    facts = json.dumps({"facts": ["Ana takes pottery classes."], "keyphrases": [],
                        "summary": ""})
    stand_in = ScriptedStandInLLM([facts] * 4)
    with Memory(embedder=embedder, llm=stand_in, keys=KeyExpansion(mode="values")) as mem:
        mem.add(TALK[:1], user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        mem.add(TALK[1:2], user_id="u", session_id="s", timestamp="2024-03-01T10:01:00")
        kinds = sorted(u.kind for u in mem.units("u"))
        assert kinds == ["fact", "round"]
        (round_,) = [u for u in mem.units("u") if u.kind == "round"]
        assert [t.content for t in round_.turns] == [TALK[0]["content"], TALK[1]["content"]]


def test_context_turns_is_fixed_at_creation_and_checked(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInput, match="context_turns"):
        Memory(embedder=embedder, context_turns=-1)
    with pytest.raises(InvalidInput, match="context_turns"):
        Memory(embedder=embedder, context_turns=True)  # type: ignore[arg-type]
    with Memory(tmp_path / "m", embedder=embedder, context_turns=0) as mem:
        res = mem.add(TALK, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        assert mem.get(res.unit_ids[1]).key is None
    with pytest.raises(ConfigError, match=r"context_turns='0'"):
        Memory(tmp_path / "m", embedder=embedder, context_turns=2)
    with Memory(tmp_path / "m", embedder=embedder) as mem:  # omitted: the stored value
        assert mem.store.context_turns == 0


def test_a_memory_made_before_context_turns_keeps_indexing_without_them(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    # as a version without context turns left it: no context_turns in the meta table
    made_before(tmp_path / "old", embedder, "context_turns")
    with Memory(tmp_path / "old", embedder=embedder) as mem:
        assert mem.store.context_turns == 0
        res = mem.add(TALK[2:], user_id="u", session_id="s", timestamp="2024-03-01T10:05:00")
        assert mem.get(res.unit_ids[0]).key is None


def test_session_units_take_no_context() -> None:
    assert EpisodicStore("session", context_turns=3).context_turns == 0
    with pytest.raises(ConfigError, match="context_turns"):
        EpisodicStore("round", context_turns=-2)


class CountingEmbedder:
    """The real model, with every text it is asked to embed recorded."""

    def __init__(self, real: SentenceTransformerEmbedder) -> None:
        self.real = real
        self.name = real.name
        self.dim = real.dim
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.real.embed(texts)


def test_composed_keys_embed_each_turn_once(embedder: SentenceTransformerEmbedder) -> None:
    """Issue 20: a round's context (the two turns before it) is the round before it,
    whose vector exists: the model embeds each unit's own text and nothing else, and
    the key's vector is normalize(e(text) + CONTEXT_WEIGHT * e(context))."""
    counting = CountingEmbedder(embedder)
    talk = [*TALK, {"role": "user", "name": "Ana", "content": "Next week I try the wheel."},
            {"role": "assistant", "name": "Ben", "content": "Tell me how it goes."}]
    with Memory(embedder=counting) as mem:
        res = mem.add(talk, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        units = [mem.get(i) for i in res.unit_ids]
        assert sorted(counting.texts) == sorted(u.text for u in units)
        first, second = units[:2]
        e = embedder.embed([second.text, first.text])
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        want = e[0] + CONTEXT_WEIGHT * e[1]
        want /= np.linalg.norm(want)
        got = mem.search(second.text, user_id="u", k=3, mode="dense")
        by_id = {h.id: h.scores["dense"] for h in got}
        q = embedder.embed([second.text])[0]
        assert by_id[second.id] == pytest.approx(
            float(want @ (q / np.linalg.norm(q))), abs=1e-5)
    with Memory(embedder=CountingEmbedder(embedder), context_vectors="concatenated") as mem:
        res = mem.add(talk, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        keyed = mem.get(res.unit_ids[1])
        assert keyed.key == keyed.text + "\n" + mem.get(res.unit_ids[0]).text
        counted = mem._engine.embedder.embedder
        assert keyed.key in counted.texts and keyed.text not in counted.texts


def test_context_vectors_is_fixed_at_creation_and_old_memories_concatenate(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInput, match="context_vectors"):
        Memory(embedder=embedder, context_vectors="summed")
    with Memory(tmp_path / "m", embedder=embedder, context_vectors="concatenated") as mem:
        mem.add(TALK[:2], user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
    with pytest.raises(ConfigError, match=r"context_vectors='concatenated'"):
        Memory(tmp_path / "m", embedder=embedder, context_vectors="composed")
    # a memory made before composed keys: no context_vectors in its meta table
    made_before(tmp_path / "old", embedder, "context_vectors")
    with Memory(tmp_path / "old", embedder=embedder) as mem:
        assert mem.strategy(Episodic).store.context_vectors == "concatenated"
        res = mem.add(TALK[2:], user_id="u", session_id="s", timestamp="2024-03-01T10:05:00")
        assert PARTS not in (mem.get(res.unit_ids[0]).key or "")


def test_composed_keys_leave_no_vector_behind(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """The contexts' vectors are not cached apart (no unit holds their text alone):
    forgetting the user leaves no cached vector, as with concatenated keys."""
    with Memory(tmp_path / "m", embedder=embedder, granularity="turn") as mem:
        mem.add(TALK, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        assert mem.stats().embeddings_cached > 0
        mem.forget_user("u")
        assert mem.stats().embeddings_cached == 0


def test_turn_units_compose_their_context_from_cached_turns(
        embedder: SentenceTransformerEmbedder) -> None:
    """A context of two turn units has one part per unit, each a unit's own text: the
    model embeds each turn once. Deleting a context turn rebuilds the key in parts
    from the turns that remain."""
    counting = CountingEmbedder(embedder)
    with Memory(embedder=counting, granularity="turn") as mem:
        res = mem.add(TALK, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        units = [mem.get(i) for i in res.unit_ids]
        assert sorted(counting.texts) == sorted(u.text for u in units)
        assert units[2].key == PARTS.join([units[2].text, units[0].text, units[1].text])
        mem.delete(units[1].id)
        counting.texts.clear()
        last = mem.get(units[3].id)
        assert last.key == PARTS.join([last.text, units[0].text, units[2].text])
        assert counting.texts == []  # every part a cached unit text


def test_a_record_separator_in_a_message_is_not_read_as_a_key_part(
        embedder: SentenceTransformerEmbedder) -> None:
    """Composed keys separate their parts with "\\x1e": a message containing one is
    rendered with a space there, so its unit's text is embedded whole (the turn keeps
    the message as written)."""
    counting = CountingEmbedder(embedder)
    with Memory(embedder=counting) as mem:
        res = mem.add([{"role": "user", "content": f"pottery{PARTS}classes"}],
                      user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        unit = mem.get(res.unit_ids[0])
        assert unit.text == "user: pottery classes" and unit.key is None
        assert unit.turns[0].content == f"pottery{PARTS}classes"
        assert counting.texts == ["user: pottery classes"]


def test_only_keys_are_composed(embedder: SentenceTransformerEmbedder) -> None:
    """A stored text holding a record separator that is not a composed key (a thought,
    an item field, an imported text) is embedded whole."""
    counting = CountingEmbedder(embedder)
    with Memory(embedder=counting) as mem:
        cache = mem._engine.embedder
        cache.embed_stored([f"left{PARTS}right"])
        assert counting.texts == [f"left{PARTS}right"]
        counting.texts.clear()
        cache.embed_stored([f"own text{PARTS}context"], composed=[0])
        assert sorted(counting.texts) == ["context", "own text"]


def test_vectors_loaded_without_chroma_are_composed_alike(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """A memory opened from its database alone (no Chroma) loads the composed keys'
    vectors as they were indexed, also when the cache lost them: the same dense
    scores."""
    talk = [*TALK, {"role": "user", "name": "Ana", "content": "Next week I try the wheel."},
            {"role": "assistant", "name": "Ben", "content": "Tell me how it goes."}]
    with Memory(tmp_path / "m", embedder=embedder, exact_search=0) as mem:
        mem.add(talk, user_id="u", session_id="s", timestamp="2024-03-01T10:00:00")
        want = {h.id: h.scores["dense"] for h in mem.search(
            "pottery wheel", user_id="u", k=3, mode="dense")}
    con = sqlite3.connect(tmp_path / "m" / "agentmem.db")
    lost = con.execute("DELETE FROM embedding_cache WHERE content_hash IN "
                       "(SELECT key_hash FROM units)").rowcount
    con.commit()
    con.close()
    assert lost == 2
    with Memory(url=f"sqlite:///{tmp_path / 'm' / 'agentmem.db'}", embedder=embedder,
                exact_search=0) as mem:
        got = {h.id: h.scores["dense"] for h in mem.search(
            "pottery wheel", user_id="u", k=3, mode="dense")}
    assert got.keys() == want.keys()
    assert all(abs(got[i] - want[i]) < 1e-5 for i in want)


def test_a_unit_deleted_while_its_composed_key_is_embedded_leaves_no_vector(
        tmp_path: Path) -> None:
    """Two writers on one memory: one embeds a composed key and has found its own text
    held by a unit (so that text's vector is cached with the key's) when the other
    deletes the unit. Neither vector stays cached. The hashing embedder is a named
    stand-in; SQLite and Chroma are real."""
    from agentmem.embed.hashing import HashingEmbedder
    from agentmem.errors import BackendError

    path = tmp_path / "mem"
    a = Memory(path, embedder=HashingEmbedder(), granularity="turn")
    b = Memory(path, embedder=HashingEmbedder())
    a.add([{"role": "user", "content": "an old note"}], user_id="u", session_id="s")
    cache = a._engine.embedder
    real_embed = cache.embedder.embed

    def down(*_a: object, **_k: object) -> None:
        raise BackendError("embedder down (scripted)")

    cache.embedder.embed = down  # type: ignore[method-assign]
    a.add([{"role": "user", "content": "the secret is swordfish"}],
          user_id="u", session_id="s")  # stored; its key queued, nothing embedded
    cache.embedder.embed = real_embed  # type: ignore[method-assign]
    real_missing = cache._embed_missing
    done: list[bool] = []

    def missing(*args: object, **kw: object) -> object:
        if not done:  # after the held check, before the vectors are written
            done.append(True)
            b.forget_user("u")
        return real_missing(*args, **kw)  # type: ignore[arg-type]

    cache._embed_missing = missing  # type: ignore[method-assign]
    a._sync_index()
    assert done and a.stats().units == {} and a.stats().embeddings_cached == 0
    a.close()
    b.close()

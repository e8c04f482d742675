"""The Think-in-Memory thought store on real SQLite, Chroma and the packaged embedder:
LSH buckets (persisted, rebuilt), knowledge-update forgetting, MinHash merging with
provenance union, the audit history, deletion, post-thinking through a scripted
stand-in LLM (malformed JSON included), and search fusion."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from conftest import ScriptedStandInLLM, files_containing, fill

from agentmem import (
    ConfigError,
    InvalidInput,
    Memory,
    NotFound,
    SentenceTransformerEmbedder,
    ThoughtConfig,
    ThoughtDraft,
)
from agentmem.storage.schema import memory_log, thoughts

PORTO = {"head": "Alice", "relation": "lives in", "tail": "Porto",
         "text": "Alice lives in Porto."}
LISBON = {"head": "alice", "relation": "Lives in", "tail": "Lisbon",
          "text": "Alice moved to Lisbon."}


def _thoughts_json(*items: tuple[str, str, str, str]) -> str:
    return json.dumps({"thoughts": [{"head": h, "relation": r, "tail": t, "text": x}
                                    for h, r, t, x in items]})


# -- buckets ---------------------------------------------------------------------------


def test_buckets_are_the_hash_of_the_vector_and_survive_reopen(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    config = ThoughtConfig(buckets=16, tables=3, seed=7)
    with Memory(mem_path, embedder=embedder, thoughts=config) as m:
        [c] = m.add_thoughts([PORTO], user_id="a")
        store = m.thought_store
        vec = embedder.embed([PORTO["text"]])[0]
        assert c.thought.buckets == tuple(int(b) for b in store.hasher.hash(vec)[0])
        assert len(c.thought.buckets) == 3 and all(0 <= b < 16 for b in c.thought.buckets)
        # the same vector always lands in the same buckets
        again = store.hasher.hash(np.stack([vec, vec]))
        assert (again[0] == again[1]).all()
        first = c.thought
    with Memory(mem_path, embedder=embedder) as m:  # settings come from the file
        assert m.thought_store.params.buckets == 16 and m.thought_store.params.tables == 3
        assert m.thought(first.id).buckets == first.buckets
        hits = m.search("Where does Alice live?", user_id="a", kinds=["thought"])
        assert [h.id for h in hits] == [first.id]
    with pytest.raises(ConfigError, match="buckets=16, seed=7, tables=3"):
        Memory(mem_path, embedder=embedder, thoughts=ThoughtConfig(buckets=32))


def test_reindex_rebuilds_buckets_from_sql(mem_path: Path,
                                           embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        changes = m.add_thoughts([PORTO, {"head": "Bob", "relation": "owns", "tail": "a cat"}],
                                 user_id="a")
        want = {c.thought.id: c.thought.buckets for c in changes}
        with m.db.begin() as conn:  # wreck the stored buckets
            conn.execute(sa.update(thoughts).values(buckets=[0, 0, 0, 0]))
        m.thought_store.evict()
        m.reindex()
        assert {i: m.thought(i).buckets for i in want} == want
        assert m.search("Where does Alice live?", user_id="a", k=1,
                        kinds=["thought"])[0].id == changes[0].thought.id


def test_recall_ranks_the_bucket_candidates_by_cosine(mem: Memory) -> None:
    mem.add_thoughts([
        {"head": "Alice", "relation": "owns", "tail": "a grey cat called Miso"},
        {"head": "Alice", "relation": "works at", "tail": "a bakery in Lisbon"},
        {"head": "Alice", "relation": "plays", "tail": "the violin"},
    ], user_id="a")
    hits = mem.search("What is the name of Alice's cat?", user_id="a", kinds=["thought"], k=3)
    assert hits[0].text == "Alice owns a grey cat called Miso."
    assert all(h.kind == "thought" and h.store == "thoughts" for h in hits)
    cos = [h.scores["dense"] for h in hits]
    assert cos == sorted(cos, reverse=True)
    assert mem.search("cat", user_id="someone-else", kinds=["thought"]) == []


def test_above_exact_below_recall_reads_only_the_query_buckets(
        embedder: SentenceTransformerEmbedder) -> None:
    facts = [{"head": f"Person {i}", "relation": "likes", "tail": food}
             for i, food in enumerate(["apples", "pears", "jazz", "football", "chess",
                                       "Paris", "cats", "rain", "tea", "maths", "sailing",
                                       "bread"])]
    query = "Who likes fruit?"
    for exact_below in (0, 1000):
        config = ThoughtConfig(buckets=8, tables=2, probes=1, exact_below=exact_below)
        with Memory(embedder=embedder, thoughts=config) as m:
            m.add_thoughts(facts, user_id="a")
            probed = m.thought_store.hasher.probe(embedder.embed([query])[0], 1)[:, 0]
            found = m.search(query, user_id="a", kinds=["thought"], k=12)
            in_bucket = {t.id for t in m.thoughts("a")
                         if any(t.buckets[j] == probed[j] for j in range(2))}
            if exact_below:
                assert len(found) == 12
            else:
                assert {h.id for h in found} == in_bucket
                assert 0 < len(in_bucket) < 12


# -- insert / forget / merge -----------------------------------------------------------


def test_knowledge_update_forgets_the_older_thought(mem: Memory) -> None:
    [porto] = mem.add_thoughts([PORTO], user_id="a", timestamp="2023-05-01")
    [lisbon] = mem.add_thoughts([LISBON], user_id="a", timestamp="2023-06-01")
    assert lisbon.op == "insert" and lisbon.superseded == (porto.thought.id,)
    old = mem.thought(porto.thought.id)
    assert (old.status, old.replaced_by) == ("forgotten", lisbon.thought.id)
    assert [t.text for t in mem.thoughts("a")] == ["Alice moved to Lisbon."]
    assert [t.id for t in mem.thoughts("a", status="forgotten")] == [porto.thought.id]
    hits = mem.search("Where does Alice live?", user_id="a", kinds=["thought"])
    assert [h.text for h in hits] == ["Alice moved to Lisbon."]
    assert [(e.op, e.other_id, e.reason) for e in mem.history(porto.thought.id)] == [
        ("insert", None, ""), ("forget", lisbon.thought.id, "same head and relation")]
    assert [e.op for e in mem.history(lisbon.thought.id)] == ["insert", "supersede"]
    # a different relation of the same head is another fact: kept
    [job] = mem.add_thoughts([{"head": "Alice", "relation": "works at", "tail": "a bakery"}],
                             user_id="a")
    assert job.op == "insert" and not job.superseded
    assert len(mem.thoughts("a")) == 2


def test_alike_texts_with_another_tail_are_an_update_not_a_merge(mem: Memory) -> None:
    [porto] = mem.add_thoughts([PORTO], user_id="a", timestamp="2023-05-01")
    [lisbon] = mem.add_thoughts([{"head": "Alice", "relation": "lives in", "tail": "Lisbon",
                                  "text": "Alice lives in Lisbon."}],
                                user_id="a", timestamp="2023-06-01")
    assert lisbon.op == "insert" and lisbon.superseded == (porto.thought.id,)
    # a tail that only adds words is the same fact: merged, not superseded
    [bread] = mem.add_thoughts([{"head": "Alice", "relation": "bakes", "tail": "sourdough",
                                 "text": "Alice bakes sourdough every Sunday."}], user_id="a")
    [more] = mem.add_thoughts([{"head": "Alice", "relation": "bakes",
                                "tail": "sourdough bread",
                                "text": "Alice bakes sourdough bread each Sunday."}],
                              user_id="a")
    assert more.op == "merge" and mem.thought(bread.thought.id).status == "merged"


def test_an_older_fact_arriving_late_does_not_win(mem: Memory) -> None:
    [lisbon] = mem.add_thoughts([LISBON], user_id="a", timestamp="2023-06-01")
    [porto] = mem.add_thoughts([PORTO], user_id="a", timestamp="2023-05-01")
    assert porto.op == "forgotten" and porto.thought.replaced_by == lisbon.thought.id
    assert [t.id for t in mem.thoughts("a")] == [lisbon.thought.id]


def test_near_duplicates_merge_with_the_union_of_their_provenance(mem: Memory) -> None:
    r1 = mem.add([{"role": "user", "content": "I bake sourdough bread every Sunday."},
                  {"role": "assistant", "content": "Sounds delicious."}],
                 user_id="a", session_id="s1", timestamp="2023-05-01")
    r2 = mem.add([{"role": "user", "content": "Baked my sourdough again this Sunday."},
                  {"role": "assistant", "content": "Nice routine."}],
                 user_id="a", session_id="s2", timestamp="2023-05-08")
    [first] = mem.add_thoughts([{
        "head": "Alice", "relation": "bakes", "tail": "sourdough bread",
        "text": "Alice bakes sourdough bread every Sunday.",
        "source_turn_ids": list(r1.turn_ids[:1])}], user_id="a", timestamp="2023-05-01")
    [second] = mem.add_thoughts([{
        "head": "Alice", "relation": "bakes", "tail": "sourdough",
        "text": "Alice bakes sourdough bread each Sunday.",
        "source_turn_ids": list(r2.turn_ids[:1])}], user_id="a", timestamp="2023-05-08")
    assert second.op == "merge"
    merged = second.thought
    assert merged.id != first.thought.id
    assert set(merged.source_turn_ids) == {r1.turn_ids[0], r2.turn_ids[0]}
    assert merged.text == "Alice bakes sourdough bread each Sunday."  # newest wins (no LLM)
    old = mem.thought(first.thought.id)
    assert (old.status, old.replaced_by) == ("merged", merged.id)
    assert [t.id for t in mem.thoughts("a")] == [merged.id]
    assert [(e.op, e.other_id) for e in mem.history(merged.id)] == [("merge", old.id)]
    assert [(e.op, e.other_id) for e in mem.history(old.id)] == [
        ("insert", None), ("merged", merged.id)]
    # a search hit of the merged thought carries both source turns, in order
    hit = mem.search("How often does Alice bake bread?", user_id="a", kinds=["thought"])[0]
    assert hit.id == merged.id and hit.turn_ids == (r1.turn_ids[0], r2.turn_ids[0])
    # the identical thought again only adds provenance, in place
    [same] = mem.add_thoughts([ThoughtDraft(
        head="Alice", relation="bakes", tail="sourdough",
        text="Alice bakes sourdough bread each Sunday.",
        source_turn_ids=(r2.turn_ids[1],))], user_id="a")
    assert same.op == "merge" and same.thought.id == merged.id
    assert r2.turn_ids[1] in same.thought.source_turn_ids
    assert mem.history(merged.id)[-1].reason == "duplicate"


def test_unrelated_thoughts_about_one_head_do_not_merge(mem: Memory) -> None:
    mem.add_thoughts([
        {"head": "Alice", "relation": "has a sister", "tail": "Ana"},
        {"head": "Alice", "relation": "adopted", "tail": "a cat called Miso"},
        {"head": "Bob", "relation": "has a sister", "tail": "Ana"},
    ], user_id="a")
    assert len(mem.thoughts("a")) == 3


def test_the_llm_writes_merged_text_and_decides_ambiguous_forgets(
        embedder: SentenceTransformerEmbedder) -> None:
    llm = ScriptedStandInLLM([
        '{"text": "Alice bakes sourdough bread on Sundays."}',  # the merge
        '{"replaces": true}',  # the ambiguous pair
    ])
    with Memory(embedder=embedder, llm=llm) as m:
        m.add_thoughts([{"head": "Alice", "relation": "bakes", "tail": "sourdough bread",
                         "text": "Alice bakes sourdough bread every Sunday."}], user_id="a")
        [merged] = m.add_thoughts([{"head": "Alice", "relation": "bakes", "tail": "sourdough",
                                    "text": "Alice bakes sourdough bread each Sunday."}],
                                  user_id="a")
        assert merged.op == "merge"
        assert merged.thought.text == "Alice bakes sourdough bread on Sundays."
        assert "text by the llm" in m.history(merged.thought.id)[0].reason
        [porto] = m.add_thoughts([PORTO], user_id="a", timestamp="2023-05-01")
        [moved] = m.add_thoughts([{"head": "Alice", "relation": "moved to", "tail": "Lisbon",
                                   "text": "Alice moved from Porto to Lisbon."}],
                                 user_id="a", timestamp="2023-06-01")
        assert moved.superseded == (porto.thought.id,)
        assert m.history(porto.thought.id)[-1].reason == "llm"
        assert [r.operation for r in llm.seen] == ["thought_merge", "thought_forget"]


# -- post-thinking ---------------------------------------------------------------------


def test_post_thinking_extracts_thoughts_with_provenance(
        embedder: SentenceTransformerEmbedder) -> None:
    llm = ScriptedStandInLLM([
        _thoughts_json(("Alice", "lives in", "Lisbon", "Alice moved to Lisbon."),
                       ("Alice", "works at", "a bakery", "Alice works at a bakery.")),
        "Sure! Here are the thoughts: {not json",  # malformed ...
        "still not json",  # ... and again after the retry: skipped, counted
        _thoughts_json(("Alice", "owns", "a cat called Miso", "Alice adopted Miso.")),
    ])
    with Memory(embedder=embedder, llm=llm, thoughts=ThoughtConfig()) as m:
        fill(m)  # session 1: two exchanges in one add (one batch); session 2: one
        assert [r.operation for r in llm.seen].count("post_thinking") == 4  # 3 + 1 retry
        assert "I just moved to Lisbon" in llm.seen[0].as_messages()[-1]["content"]
        assert m.stats().llm_failures["thoughts"] == 1
        found = {t.text: t for t in m.thoughts("alice")}
        assert set(found) == {"Alice moved to Lisbon.", "Alice works at a bakery.",
                              "Alice adopted Miso."}
        units = {u.session_id + str(u.turns[0].position): u for u in m.units("alice")}
        assert found["Alice moved to Lisbon."].source_turn_ids == units["s10"].turn_ids
        assert found["Alice adopted Miso."].session_id == "s2"
        usage = m.stats().llm_usage["post_thinking"]
        assert usage["calls"] == 3 and usage["completion_tokens"] > 0
        hits = m.search("What is the name of my cat?", user_id="alice", k=4)
        assert {"thought", "round"} <= {h.kind for h in hits}
        assert any(h.kind == "thought" and h.text == "Alice adopted Miso." for h in hits)


def test_no_post_thinking_without_config_or_llm(embedder: SentenceTransformerEmbedder
                                                ) -> None:
    llm = ScriptedStandInLLM([])
    with Memory(embedder=embedder, llm=llm) as m:  # an LLM, but thoughts not asked for
        fill(m)
        assert llm.seen == [] and m.thoughts("alice") == []
    with Memory(embedder=embedder, thoughts=ThoughtConfig()) as m:  # asked, no LLM
        fill(m)
        assert not m.post_think and m.thoughts("alice") == []


def test_a_reply_added_alone_is_post_thought_with_its_question(
        embedder: SentenceTransformerEmbedder) -> None:
    llm = ScriptedStandInLLM([_thoughts_json(("Alice", "plays", "violin", "Alice plays "
                                                                          "the violin."))])
    with Memory(embedder=embedder, llm=llm, thoughts=ThoughtConfig()) as m:
        q = m.add([{"role": "user", "content": "I started violin lessons."}],
                  user_id="a", session_id="s")
        assert llm.seen == []  # no response yet
        r = m.add([{"role": "assistant", "content": "Great, enjoy them!"}],
                  user_id="a", session_id="s")
        [t] = m.thoughts("a")
        assert t.source_turn_ids == q.turn_ids + r.turn_ids  # in conversation order


def test_a_failing_llm_never_aborts_an_ingestion(embedder: SentenceTransformerEmbedder
                                                 ) -> None:
    with Memory(embedder=embedder, llm=ScriptedStandInLLM([], fail="server down"),
                thoughts=ThoughtConfig()) as m:
        fill(m)
        assert m.stats().turns == 6 and m.thoughts("alice") == []
        assert m.stats().llm_failures["thoughts"] == 3


# -- deletion, isolation, input --------------------------------------------------------


def test_deleting_a_thought_restores_what_it_superseded(mem: Memory) -> None:
    [porto] = mem.add_thoughts([PORTO], user_id="a", timestamp="2023-05-01")
    [lisbon] = mem.add_thoughts([LISBON], user_id="a", timestamp="2023-06-01")
    mem.delete(lisbon.thought.id)
    with pytest.raises(NotFound):
        mem.thought(lisbon.thought.id)
    with pytest.raises(NotFound):
        mem.history(lisbon.thought.id)
    assert mem.thought(porto.thought.id).status == "active"
    assert [e.op for e in mem.history(porto.thought.id)] == ["insert", "forget", "restore"]
    assert mem.search("Where does Alice live?", user_id="a", kinds=["thought"])[0].id == \
        porto.thought.id
    with pytest.raises(NotFound):
        mem.delete(lisbon.thought.id)


def test_deleting_turns_and_users_purges_their_thoughts(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    secret = "Zanzibarquux"
    with Memory(mem_path, embedder=embedder) as m:
        fill(m)
        r = m.add([{"role": "user", "content": f"My code word is {secret}."},
                   {"role": "assistant", "content": "Noted."}],
                  user_id="alice", session_id="s3")
        [c] = m.add_thoughts([{"head": "Alice", "relation": "code word", "tail": secret,
                               "source_turn_ids": list(r.turn_ids)}], user_id="alice")
        [kept] = m.add_thoughts([{"head": "Alice", "relation": "owns", "tail": "a cat"}],
                                user_id="alice")
        assert files_containing(mem_path, secret)
        m.delete(r.unit_ids[0])
        assert files_containing(mem_path, secret) == []
        with pytest.raises(NotFound):
            m.thought(c.thought.id)
        assert [t.id for t in m.thoughts("alice")] == [kept.thought.id]
        m.add_thoughts([{"head": "Bob", "relation": "likes", "tail": "Quixoteberry"}],
                       user_id="bob")
        m.forget_user("alice")
        assert m.thoughts("alice") == []
        with m.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(memory_log)
                                .where(memory_log.c.user_id == "alice")).scalar() == 0
        assert [t.tail for t in m.thoughts("bob")] == ["Quixoteberry"]
        assert m.search("berry", user_id="alice", kinds=["thought"]) == []


def test_bad_thoughts_name_the_field_and_add_nothing(mem: Memory) -> None:
    cases = [
        ([PORTO, {"head": "Alice", "relation": "", "tail": "x"}], "thoughts[1].relation"),
        ([{"head": "A", "relation": "r", "tail": "t", "colour": "red"}], "thoughts[0].colour"),
        ([{"head": "A", "relation": "r", "tail": "t", "timestamp": "not a date"}],
         "thoughts[0].timestamp"),
        ([PORTO, {**LISBON, "source_turn_ids": ["nope"]}], "thoughts[1].source_turn_ids"),
        ([42], "thoughts[0]"),
        ("Alice lives in Porto", "thoughts"),
    ]
    for bad, field in cases:
        with pytest.raises(InvalidInput) as err:
            mem.add_thoughts(bad, user_id="a")  # type: ignore[arg-type]
        assert err.value.field == field
    assert mem.thoughts("a", status=["active", "merged", "forgotten"]) == []
    with pytest.raises(InvalidInput, match="status"):
        mem.thoughts("a", status="gone")


def test_another_users_turns_are_not_valid_provenance(mem: Memory) -> None:
    r = mem.add([{"role": "user", "content": "hi"}], user_id="b", session_id="s")
    with pytest.raises(InvalidInput, match="no turn"):
        mem.add_thoughts([{**PORTO, "source_turn_ids": list(r.turn_ids)}], user_id="a")


def test_search_modes_and_kinds_with_thoughts(mem: Memory) -> None:
    fill(mem)
    [t] = mem.add_thoughts([{"head": "Alice", "relation": "has a sister", "tail": "Ana",
                             "text": "Alice's sister is called Ana."}], user_id="alice")
    hybrid = mem.search("Who is Ana?", user_id="alice", k=5)
    assert t.thought.id in [h.id for h in hybrid]
    assert all(h.kind != "thought" for h in mem.search("Who is Ana?", user_id="alice",
                                                       k=5, mode="lexical"))
    assert all(h.kind == "round" for h in mem.search("Who is Ana?", user_id="alice", k=5,
                                                     kinds=["round"]))
    ranked = dict(mem.rank("Who is Ana?", user_id="alice"))
    assert t.thought.id in ranked
    stats = mem.stats()
    assert stats.thoughts == {"active": 1} and stats.units == {"round": 3}


def test_concurrent_writers_keep_every_thought(mem: Memory) -> None:
    def write(n: int) -> None:
        mem.add_thoughts([{"head": f"Person {n}", "relation": "has pet", "tail": f"pet {j}"}
                          for j in range(3)], user_id="a")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    everything = mem.thoughts("a", status=["active", "forgotten", "merged"])
    # per person: three values of one relation, each superseding the one before
    assert len(everything) == 12
    assert sorted(t.head for t in mem.thoughts("a")) == [f"Person {n}" for n in range(4)]


def test_export_and_import_keep_thoughts_and_their_history(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder) as m:
        fill(m)
        turn = m.units("alice")[0].turn_ids[0]
        [porto] = m.add_thoughts([{**PORTO, "source_turn_ids": [turn]}], user_id="alice",
                                 timestamp="2023-05-01")
        [lisbon] = m.add_thoughts([LISBON], user_id="alice", timestamp="2023-06-01")
        before = m.thoughts("alice", status=["active", "forgotten"])
        history = {t.id: [(e.op, e.other_id, e.reason) for e in m.history(t.id)]
                   for t in before}
        m.export(tmp_path / "x.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert {r["type"] for r in lines} >= {"thought", "event"}
    with Memory(embedder=embedder, thoughts=ThoughtConfig(buckets=8, tables=2)) as m2:
        m2.import_(tmp_path / "x.jsonl")
        after = m2.thoughts("alice", status=["active", "forgotten"])
        strip = [(t.id, t.triple, t.text, t.status, t.replaced_by, t.timestamp,
                  t.source_turn_ids) for t in after]
        assert strip == [(t.id, t.triple, t.text, t.status, t.replaced_by, t.timestamp,
                          t.source_turn_ids) for t in before]
        assert all(len(t.buckets) == 2 for t in after)  # re-hashed for this memory
        assert {t.id: [(e.op, e.other_id, e.reason) for e in m2.history(t.id)]
                for t in after} == history
        assert m2.search("Where does Alice live?", user_id="alice", kinds=["thought"])[0].id \
            == lisbon.thought.id
        # the imported knowledge keeps working: a newer fact supersedes the import
        [berlin] = m2.add_thoughts([{"head": "Alice", "relation": "lives in",
                                     "tail": "Berlin"}], user_id="alice")
        assert berlin.superseded == (lisbon.thought.id,)
        with pytest.raises(InvalidInput, match="already exists"):
            m2.import_(tmp_path / "x.jsonl")
        assert porto.thought.id in {t.id for t in m2.thoughts("alice", status="forgotten")}


def test_thought_weight_scales_the_thoughts_in_the_fusion(
        embedder: SentenceTransformerEmbedder) -> None:
    def ranks(weight: float) -> tuple[list[str], str]:
        with Memory(embedder=embedder, thought_weight=weight) as m:
            fill(m)
            [t] = m.add_thoughts([{"head": "Alice", "relation": "has a sister",
                                   "tail": "Ana", "text": "Alice's sister is Ana."}],
                                 user_id="alice")
            ids = [h.id for h in m.search("Who is Ana?", user_id="alice", k=5)]
            alone = m.search("Who is Ana?", user_id="alice", kinds=["thought"])
            assert [h.id for h in alone] == [t.thought.id]
            return ids, t.thought.id

    equal, tid = ranks(1.0)
    assert equal.index(tid) == 1  # first of its list: ties with the first unit
    low, tid = ranks(0.25)
    assert low.index(tid) == 3  # after the three rounds
    none, tid = ranks(0.0)
    assert tid not in none
    with pytest.raises(InvalidInput, match="thought_weight"):
        Memory(embedder=embedder, thought_weight=-1)


def test_deleting_one_source_turn_purges_the_merge_and_restores_the_rest(mem: Memory) -> None:
    r1 = mem.add([{"role": "user", "content": "Bob likes tea."}], user_id="b", session_id="s1",
                 timestamp="2023-05-01")
    r2 = mem.add([{"role": "user", "content": "Bob likes green tea from his shop."}],
                 user_id="b", session_id="s2", timestamp="2023-05-02")
    [tea] = mem.add_thoughts([{"head": "Bob", "relation": "likes", "tail": "tea",
                               "source_turn_ids": list(r1.turn_ids)}], user_id="b",
                             timestamp="2023-05-01")
    [green] = mem.add_thoughts([{"head": "Bob", "relation": "likes", "tail": "green tea",
                                 "text": "Bob likes green tea from his shop.",
                                 "source_turn_ids": list(r2.turn_ids)}], user_id="b",
                               timestamp="2023-05-02")
    assert green.op == "merge"
    mem.delete(r2.unit_ids[0])  # the merged text repeats the deleted turn: it goes
    with pytest.raises(NotFound):
        mem.thought(green.thought.id)
    back = mem.thought(tea.thought.id)
    assert (back.status, back.source_turn_ids) == ("active", r1.turn_ids)
    assert mem.history(tea.thought.id)[-1].op == "restore"
    assert [t.text for t in mem.thoughts("b")] == ["Bob likes tea."]


def test_a_draft_text_not_kept_leaves_no_cached_vector(mem: Memory) -> None:
    from agentmem.embed import content_hash

    mem.add_thoughts([{"head": "Carol", "relation": "owns", "tail": "a cat named Tom",
                       "text": "Carol owns a cat named Tom."}], user_id="c",
                     timestamp="2022-01-01")
    stale = "Carol has a cat called Zanzibarquux."
    [c] = mem.add_thoughts([{"head": "Carol", "relation": "owns", "tail": "a cat",
                             "text": stale}], user_id="c", timestamp="2019-01-01")
    assert c.op == "merge" and c.thought.text == "Carol owns a cat named Tom."  # newest wins
    assert mem.embedder.lookup([content_hash(stale)]) == {}
    assert mem.embedder.lookup([content_hash(c.thought.text)])


def test_deleting_a_superseder_restores_the_newest_it_superseded(mem: Memory) -> None:
    def lives(city: str, year: int) -> str:
        [c] = mem.add_thoughts([{"head": "Alice", "relation": "lives in", "tail": city}],
                               user_id="a", timestamp=f"{year}-01-01")
        return c.thought.id

    porto, lisbon, madrid = lives("Porto", 2019), lives("Lisbon", 2021), lives("Madrid", 2020)
    assert mem.thought(madrid).replaced_by == lisbon  # arrived late: stored forgotten
    mem.delete(lisbon)
    assert mem.thought(madrid).status == "active"
    assert (mem.thought(porto).status, mem.thought(porto).replaced_by) == ("forgotten", madrid)
    assert [e.op for e in mem.history(porto)][-1] == "forget"


def test_a_merge_also_supersedes_the_conflicting_thought(mem: Memory) -> None:
    [porto] = mem.add_thoughts([PORTO], user_id="a", timestamp="2023-01-01")
    mem.add_thoughts([{"head": "Alice", "relation": "home city", "tail": "Lisbon",
                       "text": "Alice lives in Lisbon now."}], user_id="a",
                     timestamp="2023-06-01")
    [again] = mem.add_thoughts([{"head": "Alice", "relation": "lives in", "tail": "Lisbon",
                                 "text": "Alice lives in Lisbon now."}], user_id="a",
                               timestamp="2023-06-02")
    assert again.op == "merge" and again.superseded == (porto.thought.id,)
    assert [t.text for t in mem.thoughts("a")] == ["Alice lives in Lisbon now."]
    with pytest.raises(InvalidInput, match=r"thoughts\[0\].source_turn_ids"):
        mem.add_thoughts([{**PORTO, "source_turn_ids": 5}], user_id="a")


def test_respond_post_thinks_the_exchange_it_stores(embedder: SentenceTransformerEmbedder
                                                    ) -> None:
    llm = ScriptedStandInLLM([
        "Your cat is called Miso.",  # the reader's answer
        _thoughts_json(("Alice", "owns", "a cat called Miso", "Alice's cat is Miso.")),
    ])
    with Memory(embedder=embedder, llm=llm, thoughts=ThoughtConfig()) as m:
        m.add([{"role": "user", "content": "I adopted a cat called Miso."}],
              user_id="alice", session_id="s1", timestamp="2023-06-01")
        answer = m.respond("What is my cat called?", user_id="alice", session_id="s2",
                           now="2023-06-10")
        assert answer.text == "Your cat is called Miso."
        [t] = m.thoughts("alice")
        stored = next(u for u in m.units("alice") if u.session_id == "s2")
        assert t.source_turn_ids == stored.turn_ids and t.session_id == "s2"
        assert [r.operation for r in llm.seen] == ["reader", "post_thinking"]


def test_changed_projections_rehash_the_stored_buckets(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        [c] = m.add_thoughts([PORTO], user_id="a")
        want = c.thought.buckets
        # as if another numpy had drawn other projections from the same seed
        m.db.set_meta("thought_projections", "0" * 64)
        with m.db.begin() as conn:
            conn.execute(sa.update(thoughts).values(buckets=[1] * len(want)))
    with Memory(mem_path, embedder=embedder) as m:
        assert m.thought(c.thought.id).buckets == want
        assert m.db.get_meta("thought_projections") == m.thought_store.hasher.digest()


def test_search_does_not_wait_for_a_write_waiting_on_the_llm(
        embedder: SentenceTransformerEmbedder) -> None:
    """A merge asks the LLM while holding the store's write lock; a search meanwhile
    must answer (ordering by events, not by timing)."""
    in_llm, searched = threading.Event(), threading.Event()

    class SlowMergeStandIn(ScriptedStandInLLM):
        def _generate(self, requests):  # type: ignore[no-untyped-def]
            in_llm.set()
            searched.wait(timeout=60)
            return super()._generate(requests)

    llm = SlowMergeStandIn(['{"text": "Alice bakes sourdough bread on Sundays."}'])
    with Memory(embedder=embedder, llm=llm) as m:
        m.add_thoughts([{"head": "Alice", "relation": "bakes", "tail": "sourdough"}],
                       user_id="a")
        writer = threading.Thread(target=m.add_thoughts, args=([{
            "head": "Alice", "relation": "bakes", "tail": "sourdough bread"}],),
            kwargs={"user_id": "a"})
        writer.start()
        assert in_llm.wait(timeout=60)
        hits = m.search("What does Alice bake?", user_id="a", kinds=["thought"])
        still_writing = writer.is_alive()
        searched.set()
        writer.join(timeout=60)
        assert still_writing and hits and hits[0].text == "Alice bakes sourdough."
        assert [t.text for t in m.thoughts("a")] == ["Alice bakes sourdough bread on Sundays."]

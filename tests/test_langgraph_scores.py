"""LangGraph's score-related ``BaseStore`` tests, ported to :class:`AgentMemStore` in its
default mode (issue 18: ``AgentMemStore(mem)``, no ``mode=``, i.e. hybrid search).

The originals live in langchain-ai/langgraph (``libs/checkpoint/tests/test_store.py``
for ``InMemoryStore``, ``libs/checkpoint-sqlite/tests/test_store.py`` and
``libs/checkpoint-postgres/tests/test_store.py``); each test names the one it ports.
They embed with a fake character embedding (``"xxx"``, ``"bbbbluuu"``); agentmem always
embeds with its real sentence embedder (all-MiniLM-L6-v2), so texts and queries are
meaningful sentences here, and each test keeps its original's claim (best match first,
ordered scores, a score that drops after an update, score None without a query or for
an unindexed item, filters with scores). The last tests pin agentmem's own score
contract: a float in [0, 1], never rising down the list, >= 0.9 when the query repeats
an indexed field, < 0.5 for an unrelated item, and equal for the same item and query
whoever's namespace holds it."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pytest
from langgraph.store.base import SearchItem

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.integrations.langgraph import AgentMemStore

NS = ("test",)


def scores(results: Sequence[SearchItem]) -> list[float]:
    """The results' scores, each checked to be a float (not None)."""
    out = []
    for r in results:
        assert isinstance(r.score, float), f"{r.key}: score {r.score!r}"
        out.append(r.score)
    return out


def score_of(results: Sequence[SearchItem], key: str) -> float:
    return scores([next(r for r in results if r.key == key)])[0]


def cosine(embedder: SentenceTransformerEmbedder, a: str, b: str) -> float:
    v = np.asarray(embedder.embed([a, b]), dtype=np.float64)
    return float(v[0] @ v[1] / (np.linalg.norm(v[0]) * np.linalg.norm(v[1])))


# -- ports of LangGraph's store tests ---------------------------------------------------

def test_vector_update_with_score_verification(mem: Memory) -> None:
    """Port of ``test_vector_update_with_embedding`` (libs/checkpoint/tests/test_store.py;
    also libs/checkpoint-sqlite and libs/checkpoint-postgres tests/test_store.py): an
    overwrite re-embeds the item, so its score for the old query drops and its score
    for the new text rises; an item put with ``index=False`` is not ranked."""
    store = AgentMemStore(mem)
    store.put(NS, "doc1", {"text": "A zany zebra named Xerxes escaped from the zoo"})
    store.put(NS, "doc2", {"text": "something about dogs"})
    store.put(NS, "doc3", {"text": "text about birds"})

    results_initial = store.search(NS, query="Where did Xerxes the zebra escape from?")
    assert results_initial[0].key == "doc1"
    initial_score = score_of(results_initial, "doc1")

    store.put(NS, "doc1", {"text": "new text about dogs"})
    results_after = store.search(NS, query="Where did Xerxes the zebra escape from?")
    after_score = score_of(results_after, "doc1")
    assert after_score < initial_score

    results_new = store.search(NS, query="new text about dogs")
    assert results_new[0].key == "doc1"
    assert score_of(results_new, "doc1") > after_score

    # Don't index this one: a query never ranks it, it comes last with score None
    store.put(NS, "doc4", {"text": "new text about dogs"}, index=False)
    results_new = store.search(NS, query="new text about dogs", limit=3)
    assert not any(r.key == "doc4" for r in results_new)
    everything = store.search(NS, query="new text about dogs", limit=10)
    assert [r.key for r in everything][-1] == "doc4" and everything[-1].score is None
    assert all(r.score is not None for r in everything[:-1])


def test_vector_search_with_filters(mem: Memory) -> None:
    """Port of ``test_vector_search_with_filters`` (libs/checkpoint/tests/test_store.py;
    also libs/checkpoint-sqlite and libs/checkpoint-postgres tests/test_store.py): a
    filter narrows the candidates and the best match among them comes first. The
    fake-embedding query ``"bbbbluuu"`` becomes ``"blue"``; the port also checks that
    every filtered result is scored, best first with a strictly higher score."""
    store = AgentMemStore(mem)
    docs = [
        ("doc1", {"text": "red apple", "color": "red", "score": 4.5}),
        ("doc2", {"text": "red car", "color": "red", "score": 3.0}),
        ("doc3", {"text": "green apple", "color": "green", "score": 4.0}),
        ("doc4", {"text": "blue car", "color": "blue", "score": 3.5}),
    ]
    for key, value in docs:
        store.put(NS, key, value)

    results = store.search(NS, query="apple", filter={"color": "red"})
    assert [r.key for r in results] == ["doc1", "doc2"]
    s = scores(results)
    assert s[0] > s[1]

    results = store.search(NS, query="car", filter={"color": "red"})
    assert [r.key for r in results] == ["doc2", "doc1"]
    s = scores(results)
    assert s[0] > s[1]

    results = store.search(NS, query="blue", filter={"score": {"$gt": 3.2}})
    assert len(results) == 3
    assert {r.key for r in results} == {"doc1", "doc3", "doc4"}
    assert results[0].key == "doc4"
    s = scores(results)
    assert s[0] > max(s[1:])

    # Multiple filters
    results = store.search(NS, query="apple",
                           filter={"score": {"$gte": 4.0}, "color": "green"})
    assert [r.key for r in results] == ["doc3"]
    assert 0.0 < scores(results)[0] <= 1.0

    # the filter does not change an item's score, only which items come back
    unfiltered = store.search(NS, query="apple")
    assert score_of(unfiltered, "doc3") == pytest.approx(results[0].score, abs=1e-6)


def test_vector_search_pagination(mem: Memory) -> None:
    """Port of ``test_vector_search_pagination`` (libs/checkpoint-sqlite/tests/
    test_store.py; the score checks are the SQLite version's, the paging ones are also
    in libs/checkpoint and libs/checkpoint-postgres): pages are disjoint, scores are in
    descending order within each page, and the first page scores at least the second."""
    store = AgentMemStore(mem)
    for i in range(5):
        store.put(NS, f"doc{i}", {"text": f"test document number {i}"})

    results_page1 = store.search(NS, query="test", limit=2)
    results_page2 = store.search(NS, query="test", limit=2, offset=2)
    assert len(results_page1) == 2 and len(results_page2) == 2
    assert not {r.key for r in results_page1} & {r.key for r in results_page2}
    p1, p2 = scores(results_page1), scores(results_page2)
    assert p1[0] >= p1[1]
    assert p2[0] >= p2[1]

    all_results = store.search(NS, query="test", limit=10)
    assert len(all_results) == 5
    every = scores(all_results)
    assert every[0] >= every[2]  # first page vs second page start
    assert min(p1) >= max(p2)
    # a page is the slice of the full ranking, scores included
    assert [(r.key, r.score) for r in all_results[2:4]] == [
        (r.key, r.score) for r in results_page2]


def test_vector_search_edge_cases(mem: Memory) -> None:
    """Port of ``test_vector_search_edge_cases`` (libs/checkpoint-sqlite and
    libs/checkpoint-postgres tests/test_store.py): an empty or missing query, a long
    one and one full of punctuation all find the item. The port adds the scores: None
    without a query (LangGraph's convention), a float in [0, 1] with one."""
    store = AgentMemStore(mem)
    store.put(NS, "doc1", {"text": "test document"})

    for query in ("", None):
        results = store.search(NS, query=query)
        assert len(results) == 1
        assert results[0].score is None

    for query in ("test " * 100, "test!@#$%^&*()"):
        results = store.search(NS, query=query)
        assert len(results) == 1
        assert 0.0 <= scores(results)[0] <= 1.0
        assert results[0].score is not None and results[0].score > 0.3


def test_embed_with_path(mem: Memory, embedder: SentenceTransformerEmbedder) -> None:
    """Port of ``test_embed_with_path`` (libs/checkpoint/tests/test_store.py, first
    half, and libs/checkpoint-sqlite/tests/test_store.py): with store-level ``fields``,
    an item scores by its best indexed field; two items holding the query's text in
    different fields score alike (> 0.9), an item holding it alone comes first with a
    higher score, and a text only in an unindexed field scores low for both."""
    store = AgentMemStore(mem, index={"dims": embedder.dim,
                                      "fields": ["key0", "key1", "key3"]})
    xxx = "The cat sleeps on the sofa all afternoon"
    doc1 = {  # two vectors; key0 omitted, key2 not indexed
        "key1": xxx,
        "key2": "The bakery sells sourdough bread on Saturdays",
        "key3": "Quarterly tax returns are due in April",
    }
    doc2 = {  # three vectors
        "key0": "Learning to play the cello takes years of practice",
        "key1": "The flight to Tokyo leaves on Monday morning",
        "key2": "Tomatoes should be planted after the last frost",
        "key3": xxx,
    }
    store.put(NS, "doc1", doc1)
    store.put(NS, "doc2", doc2)

    # doc2.key3 and doc1.key1 both have the highest score
    results = store.search(NS, query=xxx)
    assert len(results) == 2 and results[0].key != results[1].key
    ascore, bscore = scores(results)
    assert ascore > 0.9 and bscore > 0.9
    assert ascore == pytest.approx(bscore, abs=1e-5)

    # ~only doc2
    results = store.search(NS, query="Learning to play the cello takes years of practice")
    assert [r.key for r in results] == ["doc2", "doc1"]
    s = scores(results)
    assert s[0] > s[1]
    assert ascore == pytest.approx(s[0], abs=1e-5)

    # ~only doc1
    results = store.search(NS, query="Quarterly tax returns are due in April")
    assert [r.key for r in results] == ["doc1", "doc2"]
    s = scores(results)
    assert s[0] > s[1]

    # un-indexed (doc2.key2): low for both, less than the above
    results = store.search(NS, query="Tomatoes should be planted after the last frost")
    assert len(results) == 2 and results[0].key != results[1].key
    assert all(x < 0.9 and x < ascore for x in scores(results))


def test_embed_with_path_operation_config(mem: Memory) -> None:
    """Port of ``test_embed_with_path_operation_config`` (libs/checkpoint-sqlite and
    libs/checkpoint-postgres tests/test_store.py) and the second half of
    ``test_embed_with_path`` (libs/checkpoint/tests/test_store.py): ``put(...,
    index=[...])`` overrides the store's fields; the same text indexed in two items
    gives them the same score; an unindexed field scores low; ``index=False`` items
    are listed with score None (without a query, and after the ranked ones with one)."""
    store = AgentMemStore(mem, index={"fields": ["key17"]})
    bbb = "My sister lives in Lisbon near the river"
    doc3 = {
        "key0": "The espresso machine needs descaling every month",
        "key1": bbb,
        "key2": "The marathon starts at seven in the morning",
        "key3": "Our wifi password is written on the fridge",
    }
    doc4 = {
        "key0": "Jazz concerts in the park every Thursday",
        "key1": bbb,  # same as doc3.key1
        "key2": "The dentist appointment was moved to Friday",
        "key3": "Bicycle tyres should be pumped to six bar",
    }
    store.put(NS, "doc3", doc3, index=["key0", "key1"])
    store.put(NS, "doc4", doc4, index=["key1", "key3"])

    results = store.search(NS, query=doc3["key0"])
    assert [r.key for r in results] == ["doc3", "doc4"]
    s = scores(results)
    assert s[0] > s[1]

    results = store.search(NS, query=doc4["key3"])
    assert [r.key for r in results] == ["doc4", "doc3"]
    s = scores(results)
    assert s[0] > s[1]

    results = store.search(NS, query=bbb)
    assert len(results) == 2 and results[0].key != results[1].key
    s = scores(results)
    assert s[0] == pytest.approx(s[1], abs=1e-5)  # LangGraph: == (in-memory), < 0.1
    assert s[0] > 0.9

    results = store.search(NS, query=doc3["key2"])  # not indexed
    assert len(results) == 2
    assert all(x < 0.9 for x in scores(results))

    doc5 = {"key0": "Buy oat milk and eggs", "key1": "Call the plumber"}
    store.put(NS, "doc5", doc5, index=False)
    results = store.search(NS)
    assert len(results) == 3
    assert all(r.score is None for r in results)
    assert any(r.key == "doc5" for r in results)

    results = store.search(NS, query="Buy oat milk and eggs")
    assert len(results) == 3
    assert next(r for r in results if r.key == "doc5").score is None
    assert results[-1].key == "doc5"


def test_scores(mem: Memory, embedder: SentenceTransformerEmbedder) -> None:
    """Port of ``test_scores`` (libs/checkpoint-sqlite/tests/test_store.py and
    libs/checkpoint-postgres/tests/test_store.py, the cosine case): an item's score is
    the cosine similarity of the query with its indexed field (clipped at 0 by
    agentmem), searching from the empty namespace prefix. LangGraph's queries
    ``aaa``/``bbb``/``ccc``/``abcd``/``poisson`` become a paraphrase, a related and
    an unrelated sentence, and two single words."""
    store = AgentMemStore(mem, index={"fields": ["key0"]})
    doc = {"key0": "The cat sleeps on the sofa all afternoon"}
    store.put(NS, "doc", doc, index=["key0", "key1"])  # key1 absent: no error
    for query in ("Where does the cat nap during the day?", "My dog loves the park",
                  "Quarterly tax returns are due in April", "abcd", "poisson"):
        results = store.search((), query=query)
        assert len(results) == 1
        expected = max(0.0, cosine(embedder, query, doc["key0"]))
        assert results[0].score == pytest.approx(expected, abs=1e-3), query


# -- agentmem's score contract in the default mode ---------------------------------------

FACTS = {
    "cat": "Alice's cat is called Miso",
    "shift": "Alice works night shifts at the hospital",
    "cello": "Alice has taken cello lessons since she was nine",
    "allergy": "Alice is allergic to peanuts and shellfish",
    "tax": "The quarterly tax filing is due at the end of April",
    "trip": "Alice is flying to Lisbon for a conference in June",
    "garden": "She planted tomatoes and basil in the back garden",
}


def test_scores_are_unit_floats_non_increasing(mem: Memory) -> None:
    """In the default (hybrid) mode every ranked result's score is a float in [0, 1]
    and never rises down the list, whatever the query (a paraphrase, a keyword, a
    near-miss, nonsense), on every page."""
    store = AgentMemStore(mem)
    assert store.mode == "hybrid"
    ns = ("memories", "alice")
    for key, text in FACTS.items():
        store.put(ns, key, {"content": text})
    for query in ("What is the name of Alice's pet?", "cello", "hospital night work",
                  "food allergies", "Lisbon", "taxes", "qwxz zzkv", "Alice"):
        results = store.search(ns, query=query, limit=10)
        assert len(results) == len(FACTS)
        s = scores(results)
        assert all(0.0 <= x <= 1.0 for x in s), (query, s)
        assert all(a >= b for a, b in pairwise(s)), (query, s)
        page = store.search(ns, query=query, limit=3, offset=2)
        assert scores(page) == s[2:5]


def test_verbatim_field_scores_at_least_0_9(mem: Memory) -> None:
    """An item whose indexed field is the query scores >= 0.9 and comes first: as the
    field (``index=["content"]``), as LangMem's whole value (default fields ``$``),
    and repeated up to case and punctuation."""
    store = AgentMemStore(mem)
    ns = ("memories", "alice")
    for key, text in FACTS.items():
        store.put(ns, key, {"content": text})
    store.put(ns, "field", {"content": "Alice keeps her passport in the blue drawer",
                            "source": "chat"}, index=["content"])
    for query, key in ((FACTS["cat"], "cat"), (FACTS["cello"], "cello"),
                       ("Alice keeps her passport in the blue drawer", "field"),
                       ("alice's CAT is called miso!", "cat"),
                       ("alice keeps her passport in the blue drawer.", "field")):
        results = store.search(ns, query=query)
        assert results[0].key == key, query
        assert scores(results)[0] >= 0.9, query


def test_unrelated_item_scores_below_half(mem: Memory) -> None:
    """An item unrelated to the query scores < 0.5, even when it is the only item
    (hybrid fusion ranks it first) or the best of a bad lot."""
    store = AgentMemStore(mem)
    ns = ("memories", "alice")
    store.put(ns, "tax", {"content": FACTS["tax"]})
    results = store.search(ns, query="What is the name of Alice's cat?")
    assert [r.key for r in results] == ["tax"]
    assert scores(results)[0] < 0.5
    for key, text in FACTS.items():
        store.put(ns, key, {"content": text})
    results = store.search(ns, query="What is the name of Alice's cat?")
    assert results[0].key == "cat" and scores(results)[0] > 0.5
    assert score_of(results, "tax") < 0.5
    assert score_of(results, "garden") < 0.5
    results = store.search(ns, query="How do black holes evaporate?")
    assert all(x < 0.5 for x in scores(results))


def test_scores_comparable_across_users(mem: Memory) -> None:
    """The same item and query score the same under two users' namespaces, though the
    users hold different items (other lexical statistics, other fusion ranks), and in
    a search spanning both users."""
    store = AgentMemStore(mem)
    shared = {"content": "The team meeting moved to Thursday at 10am"}
    store.put(("memories", "alice"), "meeting", shared)
    for key, text in FACTS.items():
        store.put(("memories", "alice"), key, {"content": text})
    store.put(("memories", "bob"), "meeting", shared)
    for i, text in enumerate(["Bob's meeting notes mention the budget",
                              "Bob skipped the Monday meeting",
                              "Bob plays the trombone in a brass band"]):
        store.put(("memories", "bob"), f"b{i}", {"content": text})
    assert store.user_for(("memories", "bob")) == "bob"

    for query in ("When is the team meeting?", "meeting Thursday",
                  "The team meeting moved to Thursday at 10am"):
        alice = store.search(("memories", "alice"), query=query)
        bob = store.search(("memories", "bob"), query=query)
        assert alice[0].key == "meeting" and bob[0].key == "meeting", query
        a, b = score_of(alice, "meeting"), score_of(bob, "meeting")
        assert a == pytest.approx(b, abs=1e-6), query
        both = store.search(("memories",), query=query, limit=20)
        found = [r for r in both if r.key == "meeting"]
        assert {r.namespace for r in found} == {("memories", "alice"), ("memories", "bob")}
        assert all(r.score == pytest.approx(a, abs=1e-6) for r in found), query
        s = scores(both)
        assert all(x >= y for x, y in pairwise(s)), query


def test_a_field_hit_keeps_its_own_relevance_beside_its_item(
        embedder: SentenceTransformerEmbedder) -> None:
    """``Memory.search`` may return an item's unit and one of its field units: each
    scores its own vector (the field's cosine was credited to the item alone, and the
    field's relevance left at 0: review of issue 18)."""
    with Memory(embedder=embedder) as mem:
        store = AgentMemStore(mem, index={"fields": ["title", "body"]})
        store.put(("memories", "alice"), "k1", {"title": "grey cat Miso",
                                                "body": "jazz on vinyl records"})
        hits = mem.search("vinyl jazz records", user_id="alice", k=5, mode="dense")
        assert len(hits) == 2
        for h in hits:
            assert h.scores["relevance"] >= h.scores["dense"] - 1e-6, h.scores

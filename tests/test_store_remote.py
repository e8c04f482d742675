"""The LangGraph store over RemoteMemory: ``AgentMemStore(RemoteMemory(...))`` runs its
ops on a real server (``POST /v1/store``) over a real Memory and answers as
``AgentMemStore(memory)`` does locally on the same data, scoped tokens included."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import free_port
from langgraph.store.base import PutOp
from served_app import serving

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.errors import AccessDenied, InvalidInput
from agentmem.integrations.langgraph import AgentMemStore, InvalidNamespace
from agentmem.service.client import RemoteMemory

TOKENS = {"all": None, "alice-only": frozenset({"alice"})}

ITEMS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("memories", "alice"), "cat", {"text": "Alice's cat is called Miso", "rank": 3}),
    (("memories", "alice"), "food", {"text": "Alice is vegetarian and loves ramen",
                                     "rank": 1}),
    (("memories", "alice", "profile"), "job", {"text": "Alice works as a nurse",
                                                "rank": 2}),
    (("memories", "bob"), "car", {"text": "Bob drives an old red Volvo", "rank": 5}),
    (("bob", "prefs"), "music", {"text": "Bob listens to jazz records", "rank": 4}),
]


@pytest.fixture(scope="module")
def served(embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Memory, str]]:
    with Memory(path=tmp_path_factory.mktemp("store"), embedder=embedder) as memory, \
            serving(memory, free_port(), tokens=TOKENS) as url:
        with RemoteMemory(url, token="all") as remote:
            store = AgentMemStore(remote)
            for ns, key, value in ITEMS:
                store.put(ns, key, value)
        yield memory, url


@pytest.fixture
def remote(served: tuple[Memory, str]) -> Iterator[RemoteMemory]:
    with RemoteMemory(served[1], token="all") as r:
        yield r


def _rows(items: list[Any]) -> list[tuple[Any, ...]]:
    return [(i.namespace, i.key, i.value, i.created_at, i.updated_at,
             getattr(i, "score", None)) for i in items]


def test_reads_match_the_local_store(served: tuple[Memory, str],
                                     remote: RemoteMemory) -> None:
    memory, _ = served
    far, near = AgentMemStore(remote), AgentMemStore(memory)
    assert far.index_config == near.index_config
    got = far.get(("memories", "alice"), "cat")
    assert got is not None and got.value == ITEMS[0][2]
    assert _rows([got]) == _rows([near.get(("memories", "alice"), "cat")])
    assert far.get(("memories", "alice"), "nope") is None

    hits = far.search(("memories",), query="Alice's cat Miso", limit=5)
    assert _rows(hits) == _rows(near.search(("memories",), query="Alice's cat Miso",
                                            limit=5))
    scores = [h.score for h in hits]
    assert all(s is not None and 0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert hits[0].key == "cat"

    flt = {"rank": {"$gte": 2}}
    assert _rows(far.search((), filter=flt)) == _rows(near.search((), filter=flt))
    assert {h.key for h in far.search((), filter=flt)} == {"cat", "job", "car", "music"}
    assert _rows(far.search(("memories", "alice"), query="food", filter={"rank": 1})) == \
        _rows(near.search(("memories", "alice"), query="food", filter={"rank": 1}))

    assert far.list_namespaces() == near.list_namespaces()
    assert far.list_namespaces(prefix=("memories",), max_depth=2) == [
        ("memories", "alice"), ("memories", "bob")]
    assert far.list_namespaces(suffix=("profile",)) == [("memories", "alice", "profile")]


def test_langmem_namespaces_land_under_their_user(served: tuple[Memory, str],
                                                  remote: RemoteMemory) -> None:
    memory, _ = served
    texts = [h.text for h in memory.search("red Volvo car", user_id="bob")]
    assert any("Volvo" in t for t in texts)
    assert not any("Volvo" in h.text for h in memory.search("red Volvo car",
                                                            user_id="alice"))
    assert AgentMemStore(remote).user_for(("memories", "carol", "x")) == "carol"


def test_overwrite_and_delete(served: tuple[Memory, str], remote: RemoteMemory) -> None:
    memory, _ = served
    far, near = AgentMemStore(remote), AgentMemStore(memory)
    far.put(("memories", "dave"), "k", {"text": "Dave owns a kayak"})
    first = far.get(("memories", "dave"), "k")
    far.put(("memories", "dave"), "k", {"text": "Dave sold his kayak"}, index=["text"])
    again = far.get(("memories", "dave"), "k")
    assert first is not None and again is not None
    assert again.created_at == first.created_at and again.value["text"].endswith("kayak")
    assert _rows([again]) == _rows([near.get(("memories", "dave"), "k")])
    far.delete(("memories", "dave"), "k")
    assert far.get(("memories", "dave"), "k") is None
    assert near.get(("memories", "dave"), "k") is None
    assert memory.units("dave") == []


def test_abatch_under_asyncio(served: tuple[Memory, str], remote: RemoteMemory) -> None:
    memory, _ = served
    store = AgentMemStore(remote)

    async def run() -> list[Any]:
        await store.aput(("memories", "erin"), "tea", {"text": "Erin drinks green tea"})
        got, hits = await asyncio.gather(
            store.aget(("memories", "erin"), "tea"),
            store.asearch(("memories", "erin"), query="what does erin drink?"))
        await store.adelete(("memories", "erin"), "tea")
        return [got, hits, await store.aget(("memories", "erin"), "tea")]

    got, hits, gone = asyncio.run(run())
    assert got.value == {"text": "Erin drinks green tea"}
    assert [h.key for h in hits] == ["tea"] and 0.0 <= hits[0].score <= 1.0
    assert gone is None
    assert asyncio.run(store.alist_namespaces(prefix=("memories", "alice"))) == \
        AgentMemStore(memory).list_namespaces(prefix=("memories", "alice"))


def test_a_scoped_token_touches_only_its_users(served: tuple[Memory, str]) -> None:
    with RemoteMemory(served[1], token="alice-only") as r:
        store = AgentMemStore(r)
        assert store.get(("memories", "alice"), "cat") is not None
        assert [h.key for h in store.search(("memories", "alice"), query="cat")][:1] == \
            ["cat"]
        assert store.list_namespaces(prefix=("memories", "alice")) == [
            ("memories", "alice"), ("memories", "alice", "profile")]
        for refused in (
            lambda: store.get(("memories", "bob"), "car"),
            lambda: store.put(("memories", "bob"), "x", {"text": "mallory was here"}),
            lambda: store.delete(("bob", "prefs"), "music"),
            lambda: store.search(("memories",), query="car"),  # spans users
            lambda: store.search(()),
            lambda: store.list_namespaces(),
        ):
            with pytest.raises(AccessDenied):
                refused()
        with pytest.raises(AccessDenied):  # a batch is checked whole before any op runs
            store.batch([PutOp(("memories", "alice"), "y", {"text": "y"}),
                         PutOp(("memories", "bob"), "y", {"text": "y"})])
        assert store.get(("memories", "alice"), "y") is None
    assert AgentMemStore(served[0]).get(("memories", "bob"), "x") is None
    with RemoteMemory(served[1], token="wrong") as r, pytest.raises(AccessDenied):
        AgentMemStore(r)


def test_a_scoped_token_cannot_relabel_its_way_into_another_users_items(
        served: tuple[Memory, str]) -> None:
    """The namespace-to-user mapping is the client's (``user_label``): a token for
    alice that maps ``("bob", "chats", "alice")`` to alice must still not read, find or
    delete bob's item there (review of issue 19: it could)."""
    memory, url = served
    AgentMemStore(memory, user_label=0).put(("bob", "chats", "alice"), "k",
                                            {"text": "bob's secret plan"})
    with RemoteMemory(url, token="alice-only") as r:
        store = AgentMemStore(r, user_label=2)
        with pytest.raises(AccessDenied):
            store.get(("bob", "chats", "alice"), "k")
        with pytest.raises(AccessDenied):
            store.delete(("bob", "chats", "alice"), "k")
        assert store.search(("bob", "chats", "alice"), query="secret plan") == []
        assert store.list_namespaces(prefix=("bob", "chats", "alice")) == []
    assert AgentMemStore(memory, user_label=0).get(("bob", "chats", "alice"), "k") \
        is not None


def test_checks_match_the_local_store(served: tuple[Memory, str],
                                      remote: RemoteMemory) -> None:
    store = AgentMemStore(remote)
    with pytest.raises(InvalidNamespace):
        store.batch([PutOp(("langgraph", "x"), "k", {"a": 1})])
    with pytest.raises(InvalidNamespace):
        store.batch([PutOp(("memories", "a.b"), "k", {"a": 1})])
    with pytest.raises(NotImplementedError):
        store.put(("memories", "alice"), "k", {"a": 1}, ttl=5)
    with pytest.raises(InvalidInput, match="filter"):
        store.search(("memories",), filter={"a": {"$near": 1}})
    with pytest.raises(InvalidInput, match=r"index\.dims"):
        AgentMemStore(remote, index={"dims": 3})
    with pytest.raises(InvalidInput, match="user_label"):
        AgentMemStore(remote, user_label=lambda ns: ns[0])
    dims = AgentMemStore(served[0]).index_config["dims"]
    assert AgentMemStore(remote, index={"dims": dims, "fields": ["text"]}).index_config == \
        {"dims": dims, "fields": ["text"]}
    assert AgentMemStore(remote, user_label=0).user_for(("memories", "x")) == "memories"

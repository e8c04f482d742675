"""AgentMemStore and the LangGraph / LangMem conventions (issue 18): LangMem's standard
namespaces map to the right agentmem user, LangGraph's ``index=`` config with one unit
per field (the best field wins), and dotted filter keys addressing nested values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langmem import create_manage_memory_tool, create_search_memory_tool

from agentmem import InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.integrations.langgraph import AgentMemStore

LANGMEM_NS = ("memories", "{langgraph_user_id}")


def config(user: str) -> dict[str, Any]:
    return {"configurable": {"langgraph_user_id": user}}


# -- 1. LangMem's namespaces ----------------------------------------------------------

def test_langmem_tools_file_memories_under_the_user(mem: Memory) -> None:
    store = AgentMemStore(mem)  # the default mapping, no user_label
    manage = create_manage_memory_tool(namespace=LANGMEM_NS, store=store)
    search = create_search_memory_tool(namespace=LANGMEM_NS, store=store)
    manage.invoke({"content": "Alice's cat is called Miso"}, config("alice"))
    manage.invoke({"content": "Alice works night shifts at the hospital"}, config("alice"))
    manage.invoke({"content": "Bob plays the trombone in a brass band"}, config("bob"))
    assert store.user_for(("memories", "alice")) == "alice"
    alice = [h.text for h in mem.search("What is the name of the cat?", user_id="alice")]
    assert any("Miso" in t for t in alice)
    bob = [h.text for h in mem.search("What is the name of the cat?", user_id="bob")]
    assert bob and not any("Miso" in t for t in bob)
    assert mem.units("memories") == []  # nobody is filed under the collection label
    found = json.loads(search.invoke({"query": "cat"}, config("alice")))
    assert found and {tuple(f["namespace"]) for f in found} == {("memories", "alice")}
    mem.forget_user("alice")
    assert store.search(("memories", "alice")) == []
    assert json.loads(search.invoke({"query": "cat"}, config("alice"))) == []
    assert [r.value["content"] for r in store.search(("memories",))] == [
        "Bob plays the trombone in a brass band"]


def test_default_user_label_covers_both_layouts(mem: Memory) -> None:
    store = AgentMemStore(mem)
    assert store.user_label == "auto"
    assert store.user_for(("alice", "memories")) == "alice"  # LangGraph's auth layout
    assert store.user_for(("memories", "alice")) == "alice"  # LangMem's default
    assert store.user_for(("memories", "alice", "user_profile")) == "alice"
    assert store.user_for(("project_memories", "alice")) == "alice"
    assert store.user_for(("memories",)) == "memories"  # one label: that is the user
    assert store.user_for(("org", "alice")) == "org"  # other layouts: user_label=
    assert AgentMemStore(mem, user_label=0).user_for(("memories", "alice")) == "memories"
    with pytest.raises(InvalidInput, match="user_label"):
        AgentMemStore(mem, user_label="first")  # type: ignore[arg-type]


# -- 2. index= config, one unit per field ---------------------------------------------

def test_index_config_is_accepted_and_exposed(mem: Memory,
                                              embedder: SentenceTransformerEmbedder) -> None:
    dims = embedder.dim
    store = AgentMemStore(mem, index={"dims": dims, "embed": "openai:text-embedding-3-small",
                                      "fields": ["title", "body"]})
    assert store.index_config is not None
    assert store.index_config["dims"] == dims
    assert list(store.index_config["fields"]) == ["title", "body"]
    store.put(("alice", "docs"), "a", {"title": "Cello lessons", "body": "Tuesdays at 5",
                                       "extra": "zebra"})
    assert sorted(u.text for u in mem.units("alice")) == ["Cello lessons", "Tuesdays at 5"]
    assert AgentMemStore(mem).index_config is not None  # semantic search is always on
    with pytest.raises(InvalidInput, match="dims"):
        AgentMemStore(mem, index={"dims": 1536, "fields": ["text"]})
    with pytest.raises(InvalidInput, match="index"):
        AgentMemStore(mem, index={"fields": ["text"]}, fields=["title"])
    with pytest.raises(InvalidInput, match="index"):
        AgentMemStore(mem, index={"fields": "text"})  # type: ignore[typeddict-item]


def test_each_field_is_its_own_unit_and_the_best_field_wins(mem: Memory) -> None:
    store = AgentMemStore(mem, mode="dense", index={"fields": ["title", "body"]})
    ns = ("alice", "docs")
    long_body = ("The quarterly tax filing needs the receipts from the hardware store, "
                 "the invoices for the new roof, and the mileage log for the car.")
    store.put(ns, "cello", {"title": "Cello lessons with Marta", "body": long_body})
    store.put(ns, "other", {"title": "Garden plans", "body": "Plant tomatoes in May"})
    units = [u for u in mem.units("alice") if u.kind == "item"]
    assert sorted(u.text for u in units) == sorted(
        ["Cello lessons with Marta", long_body, "Garden plans", "Plant tomatoes in May"])
    hits = store.search(ns, query="Cello lessons with Marta")
    assert [h.key for h in hits] == ["cello", "other"]  # one result per item
    assert hits[0].score is not None and hits[0].score > 0.99  # the title's own vector
    by_body = store.search(ns, query="When do I plant tomatoes?")
    assert by_body[0].key == "other"
    # tags[*]: one unit per element; an overwrite or delete removes every field unit
    store.put(ns, "tags", {"tags": ["violin", "piano"]}, index=["tags[*]"])
    assert {u.text for u in mem.units("alice")} >= {"violin", "piano"}
    assert store.search(ns, query="piano")[0].key == "tags"
    store.put(ns, "cello", {"title": "Cello lessons moved", "body": "Wednesdays"})
    texts = {u.text for u in mem.units("alice")}
    assert long_body not in texts and "Cello lessons with Marta" not in texts
    store.delete(ns, "cello")
    assert not {"Cello lessons moved", "Wednesdays"} & {u.text for u in mem.units("alice")}
    mem.forget_user("alice")
    assert mem.units("alice") == [] and store.search(ns) == []


# -- 3. dotted filter keys ------------------------------------------------------------

def test_dotted_filter_keys_address_nested_values(mem: Memory) -> None:
    store = AgentMemStore(mem)
    ns = ("alice", "people")
    store.put(ns, "ann", {"name": "Ann", "user": {"access-level": "admin", "age": 40}})
    store.put(ns, "ben", {"name": "Ben", "user": {"access-level": "guest", "age": 20}})
    store.put(ns, "cat", {"name": "Cat", "user.access-level": "admin"})  # a literal key
    store.put(ns, "dan", {"name": "Dan", "user": {"profile": {"city": "Lisbon"}}})

    def keys(flt: dict[str, Any], query: str | None = None) -> set[str]:
        return {r.key for r in store.search(ns, filter=flt, query=query)}

    assert keys({"user.access-level": "admin"}) == {"ann", "cat"}
    assert keys({"user.access-level": "admin"}, query="who is Ann") == {"ann", "cat"}
    assert keys({"user.age": {"$gt": 30}}) == {"ann"}
    assert keys({"user.age": {"$gte": 20, "$lt": 40}}) == {"ben"}
    assert keys({"user.access-level": {"$eq": "guest"}}) == {"ben"}
    assert keys({"user.access-level": {"$ne": "admin"}}) == {"ben", "dan"}
    assert keys({"user.profile.city": "Lisbon"}) == {"dan"}
    assert keys({"user.profile": {"city": "Lisbon"}}) == {"dan"}
    assert keys({"user.missing.deeper": "x"}) == set()
    assert keys({"name.first": "Ann"}) == set()  # a string has no fields


def test_field_units_survive_export_and_import(mem: Memory, tmp_path: Any,
                                               embedder: SentenceTransformerEmbedder) -> None:
    store = AgentMemStore(mem, mode="dense", index={"fields": ["title", "body"]})
    ns = ("alice", "docs")
    store.put(ns, "cello", {"title": "Cello lessons with Marta", "body": "Tuesdays at 5"})
    mem.export(tmp_path / "out.jsonl")
    with Memory(embedder=embedder) as copy:
        copy.import_(tmp_path / "out.jsonl")
        again = AgentMemStore(copy, mode="dense", index={"fields": ["title", "body"]})
        hits = again.search(ns, query="Tuesdays at 5")
        assert [h.key for h in hits] == ["cello"] and (hits[0].score or 0) > 0.99
        again.delete(ns, "cello")
        assert copy.units("alice") == []

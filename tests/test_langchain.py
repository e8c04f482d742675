"""The LangChain / LangGraph adapters, with the real langchain-core, langchain and
langgraph and a real Memory (SQLite + Chroma + the packaged embedder). The only
stand-ins are the chat models: scripted replies, no model runs here."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest
from conftest import files_containing, fill
from langchain.tools import ToolRuntime
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)

from agentmem import Decay, InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.integrations.langchain import (
    AgentMemChatMessageHistory,
    AgentMemRetriever,
    AgentMemStore,
)
from agentmem.integrations.langgraph import InvalidNamespace

SECRET = "Zanzibarquux"


# -- chat history -------------------------------------------------------------------

class RecordingStandInModel:
    """A scripted stand-in for a chat model (no model runs): answers each call with
    the next scripted reply and records the messages it was given."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.seen: list[list[BaseMessage]] = []

    def __call__(self, prompt: Any) -> AIMessage:
        self.seen.append(list(prompt.to_messages()))
        return AIMessage(self.replies.pop(0))


def _chain(memory: Memory, model: RecordingStandInModel, user_id: str = "alice"
           ) -> RunnableWithMessageHistory:
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are a helpful assistant."),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ])
    return RunnableWithMessageHistory(
        prompt | RunnableLambda(model),
        lambda session_id: AgentMemChatMessageHistory(memory, user_id, session_id),
        input_messages_key="question", history_messages_key="history")


# LangChain 1.x deprecates RunnableWithMessageHistory (for LangGraph persistence) but
# still ships it; chains built on it are what this history serves
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_history_chain_writes_dated_turns_searchable_and_durable(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    model = RecordingStandInModel(["Congratulations on Lisbon!", "You said Lisbon."])
    config: Any = {"configurable": {"session_id": "s1"}}
    before = datetime.now(UTC).replace(tzinfo=None)
    with Memory(mem_path, embedder=embedder) as m:
        chain = _chain(m, model)
        assert chain.invoke({"question": "I moved to Lisbon for a bakery job."},
                            config=config).content == "Congratulations on Lisbon!"
        chain.invoke({"question": "Where did I move?"}, config=config)
        after = datetime.now(UTC).replace(tzinfo=None)
        # the second call saw the first exchange, read back from the memory
        assert [type(x).__name__ for x in model.seen[1]] == [
            "SystemMessage", "HumanMessage", "AIMessage", "HumanMessage"]
        assert model.seen[1][1].content == "I moved to Lisbon for a bakery job."
        turns = m.turns("alice", session_id="s1")
        assert [(t.role, t.position) for t in turns] == [
            ("user", 0), ("assistant", 1), ("user", 2), ("assistant", 3)]
        assert turns[1].content == "Congratulations on Lisbon!"
        assert all(before <= t.timestamp <= after for t in turns)
        hits = m.search("bakery job in Lisbon", user_id="alice", k=1)
        assert "bakery" in hits[0].text and hits[0].session_id == "s1"
    with Memory(mem_path, embedder=embedder) as m:  # reopened from disk
        history = AgentMemChatMessageHistory(m, "alice", "s1")
        msgs = history.messages
        assert [type(x) for x in msgs] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
        assert [x.content for x in msgs][2:] == ["Where did I move?", "You said Lisbon."]
        assert [x.id for x in msgs] == [t.id for t in m.turns("alice", session_id="s1")]
        stamp = datetime.fromisoformat(msgs[0].response_metadata["timestamp"])
        assert before <= stamp <= after
        assert "Lisbon" in m.search("Where does Alice live?", user_id="alice", k=1)[0].text


def test_history_message_times_roles_and_round_trip(mem: Memory) -> None:
    history = AgentMemChatMessageHistory(mem, "alice", "s1")
    history.add_messages([
        SystemMessage("Be brief."),
        HumanMessage("I adopted a cat.", id="h1",
                     additional_kwargs={"timestamp": "2023-06-02T18:30:00+02:00"}),
        AIMessage("Lovely!", response_metadata={"created_at": 1685730000}),
        ChatMessage(role="human", content="Her name is Miso."),
    ])
    turns = mem.turns("alice", session_id="s1")
    assert [t.role for t in turns] == ["system", "user", "assistant", "user"]
    assert turns[1].timestamp == datetime(2023, 6, 2, 16, 30)  # aware -> UTC
    assert turns[2].timestamp == datetime(2023, 6, 2, 18, 20)  # epoch seconds
    msgs = history.messages
    assert [type(x) for x in msgs] == [SystemMessage, HumanMessage, AIMessage, ChatMessage]
    assert msgs[1].id == "h1" and msgs[1].content == "I adopted a cat."
    assert msgs[1].response_metadata["timestamp"] == "2023-06-02T16:30:00"
    assert msgs[3].role == "human"  # type: ignore[attr-defined]
    # a turn written without the adapter reads back by its role
    mem.add([{"role": "assistant", "content": "Noted.", "name": "bot"}], user_id="alice",
            session_id="s1")
    last = history.messages[-1]
    assert isinstance(last, AIMessage) and last.content == "Noted." and last.name == "bot"
    # re-adding messages read back keeps their times
    copy = AgentMemChatMessageHistory(mem, "alice", "copy")
    copy.add_messages(history.messages)
    assert [t.timestamp for t in mem.turns("alice", session_id="copy")] == [
        t.timestamp for t in mem.turns("alice", session_id="s1")]
    assert asyncio.run(copy.aget_messages())[1].content == "I adopted a cat."


def test_history_tool_messages_kept_or_skipped(mem: Memory) -> None:
    call = AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Lisbon"},
                                      "id": "call-1"}])
    result = ToolMessage("Sunny, 24C", tool_call_id="call-1", name="weather")
    chat = [HumanMessage("Weather in Lisbon?"), call, result, AIMessage("It is sunny.")]
    kept = AgentMemChatMessageHistory(mem, "alice", "kept")
    kept.add_messages(chat)
    turns = mem.turns("alice", session_id="kept")
    assert [t.role for t in turns] == ["user", "assistant", "assistant", "assistant"]
    assert turns[1].content == '[tool calls] weather({"city": "Lisbon"})'
    assert turns[2].content == "Sunny, 24C" and turns[2].name == "weather"
    back = kept.messages
    assert isinstance(back[1], AIMessage) and back[1].content == ""
    assert back[1].tool_calls[0]["args"] == {"city": "Lisbon"}
    assert isinstance(back[2], ToolMessage) and back[2].tool_call_id == "call-1"
    assert "Sunny" in mem.search("sunny weather", user_id="alice", k=1)[0].text
    skipped = AgentMemChatMessageHistory(mem, "alice", "skipped", tool_messages="skip")
    skipped.add_messages(chat)
    assert [(t.role, t.content) for t in mem.turns("alice", session_id="skipped")] == [
        ("user", "Weather in Lisbon?"), ("assistant", "It is sunny.")]
    assert [type(x) for x in skipped.messages] == [HumanMessage, AIMessage]


def test_history_clear_deletes_the_session_only(mem: Memory) -> None:
    fill(mem)
    history = AgentMemChatMessageHistory(mem, "alice", "chat")
    history.add_messages([HumanMessage(f"My code word is {SECRET}."), AIMessage("Noted.")])
    assert SECRET in mem.search(SECRET, user_id="alice", k=1)[0].text
    asyncio.run(history.aclear())
    assert history.messages == []
    assert all(SECRET not in h.text for h in mem.search(SECRET, user_id="alice", k=5))
    assert mem.stats().sessions == 2 and mem.stats().turns == 6  # fill's sessions stay
    history.clear()  # clearing an empty session is fine
    history.add_messages([HumanMessage("Starting over.")])
    assert [x.content for x in history.messages] == ["Starting over."]


def test_history_bad_input_writes_nothing(mem: Memory) -> None:
    history = AgentMemChatMessageHistory(mem, "alice", "s1")
    with pytest.raises(InvalidInput, match=r"messages\[1\]\.role"):
        history.add_messages([HumanMessage("hi"), ChatMessage(role="critic", content="x")])
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.content"):
        history.add_messages([HumanMessage("  ")])
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.additional_kwargs\.timestamp"):
        history.add_messages([HumanMessage("hi", additional_kwargs={"timestamp": "soon"})])
    with pytest.raises(InvalidInput, match="messages"):
        history.add_messages(HumanMessage("not a list"))  # type: ignore[arg-type]
    assert mem.turns("alice") == []
    with pytest.raises(InvalidInput, match="user_id"):
        AgentMemChatMessageHistory(mem, "", "s1")
    with pytest.raises(InvalidInput, match="tool_messages"):
        AgentMemChatMessageHistory(mem, "a", "s1", tool_messages="drop")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="memory"):
        AgentMemChatMessageHistory("mem", "a", "s1")  # type: ignore[arg-type]


# -- retriever ----------------------------------------------------------------------

def _format_docs(docs: list[Document]) -> str:
    return "\n\n".join(f"[{d.metadata['timestamp']}] {d.page_content}" for d in docs)


def test_retriever_in_an_lcel_pipeline(mem: Memory) -> None:
    fill(mem)
    fill(mem, "bob")
    retriever = AgentMemRetriever(memory=mem, user_id="alice", k=2)
    text = (retriever | RunnableLambda(_format_docs)).invoke("Where did I move for my job?")
    assert text.startswith("[2023-05-20T10:00:00] user: I just moved to Lisbon")
    docs = retriever.invoke("What is my cat called?")
    assert len(docs) == 2
    top = docs[0]
    hit = mem.search("What is my cat called?", user_id="alice", k=1)[0]
    assert top.page_content == hit.text and "Miso" in top.page_content
    assert top.id == hit.id
    assert top.metadata["id"] == hit.id and top.metadata["kind"] == "round"
    assert top.metadata["session_id"] == "s2" and top.metadata["user_id"] == "alice"
    assert top.metadata["timestamp"] == "2023-06-02T18:30:00"
    assert top.metadata["score"] == pytest.approx(hit.score)
    assert top.metadata["turn_ids"] == list(hit.turn_ids) and len(hit.turn_ids) == 2
    assert set(top.metadata["scores"]) <= {"dense", "lexical", "fused", "relevance"}
    assert "retention" not in top.metadata  # no decay here
    # options pass through, per call too; async through the executor
    assert len(retriever.invoke("cat", k=1)) == 1
    assert all(d.metadata["kind"] == "round"
               for d in AgentMemRetriever(memory=mem, user_id="bob", kinds=["round"],
                                          mode="lexical").invoke("Lisbon"))
    adocs = asyncio.run(retriever.ainvoke("What is my cat called?", k=1))
    assert [d.id for d in adocs] == [top.id]
    with pytest.raises(InvalidInput, match="colour"):
        retriever.invoke("cat", colour="red")
    # issue 18's filters and min_score, as fields and per call
    only_s1 = AgentMemRetriever(memory=mem, user_id="alice", k=5, session_id="s1")
    assert {d.metadata["session_id"] for d in only_s1.invoke("cat")} == {"s1"}
    assert {d.metadata["session_id"] for d in retriever.invoke(
        "cat", since="2023-06-01")} == {"s2"}
    strict = retriever.invoke("What is my cat called?", min_score=0.99)
    assert all(d.metadata["score"] >= 0.99 for d in strict) and len(strict) < 2


def test_retriever_passes_the_question_date(mem: Memory) -> None:
    fill(mem)
    question = "What did we talk about yesterday?"
    early = AgentMemRetriever(memory=mem, user_id="alice", k=1, now="2023-05-21T09:00:00")
    assert early.invoke(question)[0].metadata["session_id"] == "s1"
    assert early.invoke(question, question_date="2023-06-03")[0].metadata["session_id"] == "s2"
    assert early.invoke(question, now="2023-06-03")[0].metadata["session_id"] == "s2"


def test_retriever_shows_retention_under_decay(embedder: SentenceTransformerEmbedder) -> None:
    with Memory(embedder=embedder, decay=Decay()) as m:
        fill(m)
        doc = AgentMemRetriever(memory=m, user_id="alice", k=1, now="2023-06-03").invoke(
            "grey cat")[0]
        assert 0 < doc.metadata["retention"] <= 1 and doc.metadata["strength"] == 1


def test_retriever_validates_its_settings(mem: Memory) -> None:
    cases: list[dict[str, Any]] = [{"k": 0}, {"mode": "fuzzy"}, {"user_id": ""},
                                   {"candidates": -1}, {"roles": ["bot"]},
                                   {"since": "whenever"}, {"min_score": 2.0},
                                   {"metadata": {"topic": {"$gt": 1}}}]
    for bad in cases:
        settings: dict[str, Any] = {"user_id": "a", **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            AgentMemRetriever(memory=mem, **settings)
    with pytest.raises(ValueError):
        AgentMemRetriever(memory="not a memory", user_id="a")  # type: ignore[arg-type]


# -- LangGraph store ------------------------------------------------------------------

def test_store_put_get_overwrite_delete(mem: Memory) -> None:
    store = AgentMemStore(mem)
    ns = ("alice", "memories")
    assert store.get(ns, "food") is None
    store.put(ns, "food", {"text": "Alice likes pizza", "stars": 3})
    item = store.get(ns, "food")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (ns, "food",
                                                      {"text": "Alice likes pizza", "stars": 3})
    assert item.created_at.tzinfo is not None and item.created_at == item.updated_at
    units = [u for u in mem.units("alice") if u.kind == "item"]
    assert [u.text for u in units] == ["text: Alice likes pizza\nstars: 3"]
    assert units[0].store == "langgraph" and units[0].session_id == "langgraph:alice.memories"
    time.sleep(0.01)
    store.put(ns, "food", {"text": "Alice now prefers sushi"})
    again = store.get(ns, "food")
    assert again is not None and again.value == {"text": "Alice now prefers sushi"}
    assert again.created_at == item.created_at and again.updated_at > item.updated_at
    assert [u.text for u in mem.units("alice")] == ["text: Alice now prefers sushi"]
    assert "pizza" not in " ".join(h.text for h in mem.search("pizza", user_id="alice"))
    store.delete(ns, "food")
    assert store.get(ns, "food") is None and mem.units("alice") == []
    assert mem.stats().units == {} and mem.stats().embeddings_cached == 0
    store.delete(ns, "food")  # deleting what is not there is fine


def test_store_search_query_filter_and_paging(mem: Memory) -> None:
    store = AgentMemStore(mem)
    ns = ("alice", "memories")
    store.put(ns, "pet", {"text": "Alice has a grey cat called Miso", "stars": 5,
                          "tags": {"kind": "animal"}})
    store.put(ns, "food", {"text": "Alice likes pizza and pasta", "stars": 3})
    store.put(ns, "job", {"text": "Alice works at a bakery in Lisbon", "stars": 4})
    store.put(("alice", "prefs"), "theme", {"theme": "dark"}, index=False)
    store.put(ns, "car", {"text": "irrelevant", "title": "Alice drives a blue van"},
              index=["title"])
    found = store.search(("alice",), query="What pet does she have?")
    assert found[0].key == "pet" and found[0].score is not None
    assert [r.key for r in found][-1] == "theme" and found[-1].score is None  # unindexed
    assert len(found) == 5
    assert store.search(("alice",), query="which vehicle does she drive")[0].key == "car"
    # filters: exact, nested, operators; with and without a query
    assert [r.key for r in store.search(ns, filter={"stars": 3})] == ["food"]
    assert [r.key for r in store.search(ns, filter={"tags": {"kind": "animal"}})] == ["pet"]
    assert sorted(r.key for r in store.search(ns, filter={"stars": {"$gte": 4}})) == [
        "job", "pet"]
    assert [r.key for r in store.search(ns, filter={"stars": {"$ne": 5, "$gt": 3}})] == [
        "job"]
    bread = store.search(ns, query="bread", filter={"stars": {"$lt": 5}})
    assert [r.key for r in bread] == ["job", "food"]  # "car" has no stars: no match
    # without a query: most recently updated first; limit and offset page
    assert [r.key for r in store.search(ns)] == ["car", "job", "food", "pet"]
    assert [r.key for r in store.search(ns, limit=2, offset=1)] == ["job", "food"]
    ranked = [r.key for r in store.search(("alice",), query="cat")]
    assert [r.key for r in store.search(("alice",), query="cat", limit=2, offset=1)] == \
        ranked[1:3]
    assert store.search(("nobody",), query="cat") == []
    # a store indexing one field by default, or nothing
    only = AgentMemStore(mem, fields=["summary"])
    only.put(("carol",), "k", {"summary": "Carol plays the cello", "text": "zebra"})
    assert [u.text for u in mem.units("carol")] == ["Carol plays the cello"]
    none = AgentMemStore(mem, fields=False)
    none.put(("dave",), "k", {"text": "Dave sails"})
    assert mem.units("dave") == [] and none.get(("dave",), "k") is not None
    assert [r.key for r in none.search(("dave",), query="sailing")] == ["k"]


def test_store_hits_join_memory_search(mem: Memory) -> None:
    fill(mem)
    store = AgentMemStore(mem)
    store.put(("alice", "memories"), "sister", {"text": "Alice's sister Ana is a pilot"})
    hits = mem.search("What does Ana do for a living?", user_id="alice", k=3)
    assert hits[0].kind == "item" and "pilot" in hits[0].text
    retrieved = AgentMemRetriever(memory=mem, user_id="alice", k=1, kinds=["item"]).invoke(
        "Ana's job")
    assert retrieved[0].metadata["store"] == "langgraph" and "turn_ids" not in (
        retrieved[0].metadata)


def test_store_list_namespaces(mem: Memory) -> None:
    store = AgentMemStore(mem)
    for ns in [("alice", "memories"), ("alice", "prefs", "ui"), ("bob", "memories"),
               ("bob", "prefs", "ui"), ("bob", "prefs", "mail")]:
        store.put(ns, "k", {"text": "x"}, index=False)
    assert store.list_namespaces() == [
        ("alice", "memories"), ("alice", "prefs", "ui"), ("bob", "memories"),
        ("bob", "prefs", "mail"), ("bob", "prefs", "ui")]
    assert store.list_namespaces(prefix=("bob",)) == [
        ("bob", "memories"), ("bob", "prefs", "mail"), ("bob", "prefs", "ui")]
    assert store.list_namespaces(prefix=("bob",), max_depth=2) == [
        ("bob", "memories"), ("bob", "prefs")]
    assert store.list_namespaces(max_depth=1) == [("alice",), ("bob",)]
    assert store.list_namespaces(suffix=("ui",)) == [("alice", "prefs", "ui"),
                                                     ("bob", "prefs", "ui")]
    assert store.list_namespaces(prefix=("*", "prefs"), suffix=("mail",)) == [
        ("bob", "prefs", "mail")]
    assert store.list_namespaces(limit=2, offset=1) == [("alice", "prefs", "ui"),
                                                        ("bob", "memories")]
    store.delete(("bob", "prefs", "mail"), "k")
    assert ("bob", "prefs", "mail") not in store.list_namespaces()


def test_store_namespaces_map_to_users(mem: Memory) -> None:
    store = AgentMemStore(mem)
    store.put(("alice", "memories"), "k", {"text": "Alice collects stamps"})
    store.put(("bob", "memories"), "k", {"text": "Bob collects coins"})
    assert store.user_for(("alice", "memories")) == "alice"
    assert [u.text for u in mem.units("bob")] == ["text: Bob collects coins"]
    assert all("Alice" not in h.text for h in mem.search("collects", user_id="bob"))
    assert [r.namespace for r in store.search(("alice",), query="collects")] == [
        ("alice", "memories")]
    assert len(store.search((), query="collects")) == 2  # spans users
    assert {r.namespace[0] for r in store.search(("bob",), query="stamps")} == {"bob"}
    by_second = AgentMemStore(mem, user_label=1)
    by_second.put(("memories", "erin"), "k", {"text": "Erin runs marathons"})
    assert [u.text for u in mem.units("erin")] == ["text: Erin runs marathons"]
    by_callable = AgentMemStore(mem, user_label=lambda ns: "team-" + ns[-1])
    by_callable.put(("orgs", "acme"), "k", {"text": "Acme sells anvils"})
    assert mem.units("team-acme")[0].text == "text: Acme sells anvils"
    with pytest.raises(InvalidNamespace, match="no label at position 1"):
        by_second.put(("solo",), "k", {"text": "x"})


def test_store_async_api_and_abatch(mem: Memory) -> None:
    store = AgentMemStore(mem)
    ns = ("alice", "notes")

    async def run() -> list[Any]:
        await store.aput(ns, "a", {"text": "Alice swims on Mondays"})
        await store.aput(ns, "b", {"text": "Alice plays chess on Fridays"})
        got = await store.aget(ns, "a")
        assert got is not None and got.value["text"] == "Alice swims on Mondays"
        found = await store.asearch(ns, query="board games")
        assert found[0].key == "b"
        assert await store.alist_namespaces(prefix=("alice",)) == [ns]
        results = await store.abatch([
            PutOp(ns, "c", {"text": "Alice bakes bread"}),
            GetOp(ns, "c"),
            SearchOp(ns, query="baking", limit=1),
            PutOp(ns, "a", None),
            GetOp(ns, "a"),
            ListNamespacesOp(max_depth=1),
        ])
        await store.adelete(ns, "b")
        return results

    put, got, found, deleted, gone, names = asyncio.run(run())
    assert put is None and deleted is None and gone is None
    assert got is not None and got.value == {"text": "Alice bakes bread"}  # type: ignore[union-attr]
    assert [r.key for r in found] == ["c"]  # type: ignore[union-attr]
    assert names == [("alice",)]
    assert [r.key for r in store.search(ns)] == ["c"]


def test_forget_user_and_delete_remove_store_items(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        store = AgentMemStore(m)
        fill(m, "alice")
        store.put(("alice", "memories"), "secret", {"text": f"Alice's word is {SECRET}"})
        store.put(("alice", "raw"), "secret", {"text": f"unindexed {SECRET}"}, index=False)
        store.put(("bob", "memories"), "k", {"text": "Bob likes jazz"})
        assert files_containing(mem_path, SECRET)
        m.forget_user("alice")
        assert store.search(("alice",)) == [] and store.get(("alice", "raw"), "secret") is None
        assert store.list_namespaces() == [("bob", "memories")]
        assert files_containing(mem_path, SECRET) == []
        assert m.stats().users == 1
        # deleting an item's unit deletes the item (its value repeats the text)
        [unit] = m.units("bob")
        m.delete(unit.id)
        assert store.get(("bob", "memories"), "k") is None
        assert m.stats().users == 1 and m.stats().units == {}


def test_store_overwrite_and_delete_leave_no_trace(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        store = AgentMemStore(m)
        store.put(("alice",), "a", {"text": f"The word is {SECRET}"})
        store.put(("alice",), "b", {"text": f"Also {SECRET}ish"}, index=False)
        assert files_containing(mem_path, SECRET)
        store.put(("alice",), "a", {"text": "The word is forgotten"})
        store.delete(("alice",), "b")
        assert files_containing(mem_path, SECRET) == []
        assert [r.key for r in store.search(("alice",), query="word")] == ["a"]


def test_store_survives_reopening(mem_path: Path, embedder: SentenceTransformerEmbedder
                                  ) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        store = AgentMemStore(m)
        store.put(("alice", "memories"), "pet", {"text": "Alice has a cat named Miso"})
        store.put(("alice", "memories"), "job", {"text": "Alice is a baker"})
        created = store.get(("alice", "memories"), "pet")
    with Memory(mem_path, embedder=embedder) as m:
        store = AgentMemStore(m)
        item = store.get(("alice", "memories"), "pet")
        assert item == created
        assert store.search(("alice",), query="kitten")[0].key == "pet"
        assert store.list_namespaces() == [("alice", "memories")]


def test_store_bad_input_gives_clear_errors(mem: Memory) -> None:
    store = AgentMemStore(mem)
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"text": "x"})
    with pytest.raises(InvalidNamespace, match="must not be empty"):
        store.batch([PutOp((), "k", {"text": "x"})])
    with pytest.raises(InvalidNamespace, match=r"contains '\.'"):
        store.batch([PutOp(("a.b",), "k", {"text": "x"})])
    with pytest.raises(InvalidNamespace, match="reserved"):
        store.batch([PutOp(("langgraph", "x"), "k", {"text": "x"})])
    with pytest.raises(InvalidNamespace, match="user id"):
        store.put((" ", "x"), "k", {"text": "x"})
    with pytest.raises(InvalidInput, match="value: must be a dict"):
        store.put(("a",), "k", "just text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="JSON"):
        store.put(("a",), "k", {"when": datetime(2024, 1, 1)})
    with pytest.raises(InvalidInput, match="keys must be strings"):
        store.put(("a",), "k", {1: "x"})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="key"):
        store.put(("a",), "", {"text": "x"})
    with pytest.raises(InvalidInput, match="key"):
        store.put(("a",), "k" * 300, {"text": "x"})
    with pytest.raises(InvalidInput, match="index"):
        store.put(("a",), "k", {"text": "x"}, index="text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="operator"):
        store.search(("a",), filter={"n": {"$near": 1}})
    with pytest.raises(InvalidInput, match="limit"):
        store.search(("a",), limit=-1)
    with pytest.raises(InvalidInput, match="max_depth"):
        store.list_namespaces(max_depth=0)
    with pytest.raises(NotImplementedError):
        store.put(("a",), "k", {"text": "x"}, ttl=5)
    with pytest.raises(InvalidInput, match="mode"):
        AgentMemStore(mem, mode="fuzzy")
    with pytest.raises(InvalidInput, match="memory"):
        AgentMemStore("mem")  # type: ignore[arg-type]
    # a bad op anywhere in a batch: nothing of the batch is written
    with pytest.raises(InvalidInput, match="value"):
        store.batch([PutOp(("a",), "ok", {"text": "fine"}), PutOp(("a",), "bad", 3)])  # type: ignore[arg-type]
    assert store.search(()) == [] and mem.stats().units == {}


# -- where LangGraph and LangChain use the store --------------------------------------

class _State(TypedDict):
    fact: str
    recalled: list[str]


def test_stategraph_nodes_use_the_store_sync_and_async(mem: Memory) -> None:
    from langgraph.config import get_store
    from langgraph.graph import END, START, StateGraph

    def remember(state: _State) -> dict[str, Any]:
        get_store().put(("alice", "facts"), f"f{len(state['fact'])}", {"text": state["fact"]})
        return {}

    def recall(state: _State) -> dict[str, Any]:
        found = get_store().search(("alice", "facts"), query="What pet does Alice have?")
        return {"recalled": [r.value["text"] for r in found]}

    async def arecall(state: _State) -> dict[str, Any]:
        found = await get_store().asearch(("alice", "facts"), query="Where does she work?")
        return {"recalled": [r.value["text"] for r in found]}

    store = AgentMemStore(mem)
    graph = StateGraph(_State)
    graph.add_node("remember", remember)
    graph.add_node("recall", recall)
    graph.add_edge(START, "remember")
    graph.add_edge("remember", "recall")
    graph.add_edge("recall", END)
    app = graph.compile(store=store)
    app.invoke({"fact": "Alice works at a bakery.", "recalled": []})
    out = app.invoke({"fact": "Alice has a grey cat called Miso.", "recalled": []})
    assert out["recalled"][0] == "Alice has a grey cat called Miso."

    agraph = StateGraph(_State)
    agraph.add_node("recall", arecall)
    agraph.add_edge(START, "recall")
    agraph.add_edge("recall", END)
    aout = asyncio.run(agraph.compile(store=store).ainvoke({"fact": "", "recalled": []}))
    assert aout["recalled"][0] == "Alice works at a bakery."
    assert {u.kind for u in mem.units("alice")} == {"item"}


class ToolCallingStandIn(GenericFakeChatModel):
    """A scripted stand-in for a tool-calling chat model: replays its messages and
    accepts any tools (no model runs)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def test_create_agent_tool_writes_the_store(mem: Memory) -> None:
    from langchain.agents import create_agent
    from langchain.tools import tool

    @tool
    def save_memory(fact: str, runtime: ToolRuntime) -> str:
        """Save a fact about the user for later conversations."""
        assert runtime.store is not None
        runtime.store.put(("alice", "memories"), "hobby", {"text": fact})
        return "saved"

    script: Iterator[AIMessage | str] = iter([
        AIMessage("", tool_calls=[{"name": "save_memory", "id": "call-1",
                                   "args": {"fact": "Alice loves hiking in the Alps"}}]),
        AIMessage("I will remember that."),
    ])
    store = AgentMemStore(mem)
    agent = create_agent(ToolCallingStandIn(messages=script), tools=[save_memory],
                         store=store)
    out = agent.invoke({"messages": [HumanMessage("Remember that I love hiking.")]})
    assert out["messages"][-1].content == "I will remember that."
    item = store.get(("alice", "memories"), "hobby")
    assert item is not None and item.value == {"text": "Alice loves hiking in the Alps"}
    assert "hiking" in mem.search("mountain walks", user_id="alice", k=1)[0].text


def test_langchain_module_imports_without_langgraph() -> None:
    code = (
        "import sys; sys.modules['langgraph'] = None\n"
        "import agentmem.integrations.langchain as lc\n"
        "assert lc.AgentMemRetriever and lc.AgentMemChatMessageHistory\n"
        "try:\n"
        "    lc.AgentMemStore\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert "pip install 'agentmem-local[langgraph]'" in out.stdout


def test_store_times_are_utc(mem: Memory) -> None:
    store = AgentMemStore(mem)
    before = datetime.now(UTC)
    store.put(("alice",), "k", {"text": "x"})
    item = store.get(("alice",), "k")
    assert item is not None
    assert before - timedelta(seconds=1) <= item.created_at <= datetime.now(UTC)

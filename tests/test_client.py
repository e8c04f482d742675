"""RemoteMemory and AsyncMemory against a real Memory (SQLite, Chroma, the packaged
embedder) served over HTTP on loopback by the real app (tests/served_app.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fill, free_port
from served_app import serving

from agentmem import Memory, SentenceTransformerEmbedder
from agentmem.errors import AccessDenied, BackendError, InvalidInput, NotFound
from agentmem.integrations.langchain import AgentMemChatMessageHistory, AgentMemRetriever
from agentmem.service.aio import AsyncMemory
from agentmem.service.client import RemoteMemory
from agentmem.types import AddResult, MemoryStats, MemoryUnit

TOKEN = "secret"


@pytest.fixture(scope="module")
def served(embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Memory, str]]:
    with Memory(path=tmp_path_factory.mktemp("served"), embedder=embedder) as memory:
        fill(memory, "alice")
        with serving(memory, free_port(), TOKEN) as url:
            yield memory, url


@pytest.fixture
def remote(served: tuple[Memory, str]) -> Iterator[RemoteMemory]:
    with RemoteMemory(served[1], token=TOKEN) as r:
        yield r


def test_reads_round_trip(served: tuple[Memory, str], remote: RemoteMemory) -> None:
    memory, _ = served
    options = dict(user_id="alice", k=3, session_id=["s1", "s2"], since="2023-01-01",
                   roles=["user"], min_score=0.0, now="2023-06-01T00:00:00", trace=True)
    assert remote.search("Where does Alice live?", **options) == \
        memory.search("Where does Alice live?", **options)  # type: ignore[arg-type]
    assert remote.context("sister", user_id="alice") == memory.context("sister",
                                                                      user_id="alice")
    units = remote.units("alice")
    assert units == memory.units("alice") and all(isinstance(u, MemoryUnit) for u in units)
    assert remote.get(units[0].id) == memory.get(units[0].id)
    assert remote.turns("alice", session_id="s1") == memory.turns("alice", session_id="s1")
    assert remote.turns("alice") == memory.turns("alice")
    stats = remote.stats()
    assert isinstance(stats, MemoryStats) and stats == memory.stats()
    assert remote.health()["status"] == "ok"


def test_writes_round_trip(served: tuple[Memory, str], remote: RemoteMemory,
                           tmp_path: Path) -> None:
    memory, _ = served
    added = remote.add([{"role": "user", "content": "I adopted a cat named Miso.",
                         "metadata": {"topic": "pets"}}],
                       user_id="bob", session_id="b1", timestamp="2023-07-01T09:00:00")
    assert isinstance(added, AddResult) and added.user_id == "bob" and added.turn_ids
    [turn] = memory.turns("bob")
    assert turn.content == "I adopted a cat named Miso." and turn.metadata == {"topic": "pets"}
    assert remote.search("cat", user_id="bob", metadata={"topic": "pets"})[0].turn_ids == \
        added.turn_ids

    calls: list[tuple[int, int]] = []
    out = tmp_path / "bob.jsonl"
    n = remote.export(out, user_id="bob")
    assert n == memory.export(tmp_path / "local.jsonl", user_id="bob")
    assert n == len(out.read_text().splitlines()) and out.stat().st_mode & 0o777 == 0o600
    assert remote.delete(added.unit_ids[0]) is None
    with pytest.raises(NotFound):
        memory.get(added.unit_ids[0])
    assert remote.forget_user("bob") == 0  # the delete took the turn with the unit
    assert remote.import_(out, progress=lambda d, t: calls.append((d, t))) == n
    assert memory.turns("bob") == [turn] and calls == [(n, n)]
    assert remote.delete_session("bob", "b1") == 1 and memory.turns("bob") == []


def test_errors_map_back(served: tuple[Memory, str], remote: RemoteMemory) -> None:
    with pytest.raises(InvalidInput) as bad:
        remote.search("x", user_id="alice", k=0)
    assert bad.value.field == "k"
    with pytest.raises(InvalidInput) as bad:
        remote.add([{"role": "robot", "content": "hi"}], user_id="a", session_id="s")
    assert bad.value.field.startswith("messages")
    with pytest.raises(InvalidInput) as bad:  # refused by the wire model, before sending
        remote.search("x", user_id="alice", k="three")  # type: ignore[arg-type]
    assert bad.value.field == "k"
    with pytest.raises(NotFound):
        remote.get("no-such-unit")
    with pytest.raises(NotFound):
        remote.delete("no-such-unit")
    for token in ("wrong", None):
        with RemoteMemory(served[1], token=token) as r, pytest.raises(AccessDenied):
            r.units("alice")


def test_token_from_the_environment(served: tuple[Memory, str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMEM_TOKEN", TOKEN)
    with RemoteMemory(served[1]) as r:
        assert r.units("alice")


def test_nothing_listening_is_a_backend_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with RemoteMemory(url, timeout=2) as r, pytest.raises(BackendError, match=url):
        r.stats()
    with pytest.raises(InvalidInput):
        RemoteMemory("localhost:8000")


def test_threads_share_one_client(served: tuple[Memory, str], remote: RemoteMemory) -> None:
    memory, _ = served
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(5):
                remote.add([{"role": "user", "content": f"worker {w} note {i}"}],
                           user_id="crowd", session_id=f"w{w}")
                remote.search(f"note {i}", user_id="crowd", k=2)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    texts = [t.content for t in memory.turns("crowd")]
    assert sorted(texts) == sorted(f"worker {w} note {i}" for w in range(6) for i in range(5))


@pytest.mark.parametrize("kind", ["local", "remote"])
def test_async_memory_under_gather(served: tuple[Memory, str], kind: str,
                                   tmp_path: Path) -> None:
    memory, url = served
    user = f"async-{kind}"

    async def main() -> None:
        amem = AsyncMemory.local(memory, max_workers=4) if kind == "local" else \
            AsyncMemory.remote(url, token=TOKEN)
        async with amem:
            added = await asyncio.gather(*(
                amem.add([{"role": "user", "content": f"async note {i}"}], user_id=user,
                         session_id=f"s{i % 5}") for i in range(50)))
            found = await asyncio.gather(*(amem.search(f"note {i}", user_id=user, k=1)
                                           for i in range(50)))
            assert all(isinstance(a, AddResult) for a in added)
            assert all(len(hits) == 1 for hits in found)
            assert (await amem.health())["status"] == "ok"
            assert len(await amem.turns(user)) == 50
            n = await amem.export(tmp_path / "a.jsonl", user_id=user)
            assert n == len((tmp_path / "a.jsonl").read_text().splitlines())
            assert await amem.forget_user(user) == 50

    asyncio.run(main())
    assert memory.turns(user) == []


def test_retriever_and_history_over_remote(served: tuple[Memory, str],
                                           remote: RemoteMemory) -> None:
    memory, url = served
    retriever = AgentMemRetriever(memory=remote, user_id="alice", k=2)
    docs = retriever.invoke("Where does Alice live?")
    hits = memory.search("Where does Alice live?", user_id="alice", k=2)
    assert [d.id for d in docs] == [h.id for h in hits]

    async def asynchronous() -> list[str | None]:
        async with AsyncMemory.remote(url, token=TOKEN) as amem:
            r = AgentMemRetriever(memory=remote, async_memory=amem, user_id="alice", k=2)
            return [d.id for d in await r.ainvoke("Where does Alice live?")]

    assert asyncio.run(asynchronous()) == [h.id for h in hits]

    from langchain_core.messages import AIMessage, HumanMessage

    history = AgentMemChatMessageHistory(remote, "carol", "chat")
    history.add_messages([HumanMessage("I play the cello."), AIMessage("Lovely!")])
    assert [m.content for m in history.messages] == ["I play the cello.", "Lovely!"]
    assert json.dumps([t.role for t in memory.turns("carol")]) == '["user", "assistant"]'
    history.clear()
    assert history.messages == []


def test_only_the_servers_methods(remote: RemoteMemory) -> None:
    """What the server does not offer is absent, not emulated; the LangGraph store
    runs on the server's ``/v1/store`` (tests/test_store_remote.py)."""
    for name in ("respond", "add_thoughts", "maintain", "rank", "strategy", "reindex"):
        assert not hasattr(remote, name)
    from agentmem.integrations.langgraph import AgentMemStore

    store = AgentMemStore(remote)
    store.put(("memories", "frank"), "k", {"text": "Frank collects stamps"})
    got = store.get(("memories", "frank"), "k")
    assert got is not None and got.value == {"text": "Frank collects stamps"}
    assert any("stamps" in h.text for h in remote.search("stamps", user_id="frank"))

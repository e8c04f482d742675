"""Defects found in review of the LangGraph store and the ``agentmem`` command, each
shown on a real Memory (SQLite + Chroma + the packaged embedder) or the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langgraph.store.base import PutOp, SearchOp
from test_cli import agentmem, failed, ok

from agentmem import AgentMemError, InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.integrations.langgraph import AgentMemStore


def test_store_search_prefix_is_case_sensitive(mem: Memory) -> None:
    """SQLite's LIKE ignores ASCII case: ("Alice",) must not find ("alice", ...), the
    items of another user."""
    store = AgentMemStore(mem)
    store.put(("alice", "notes"), "k", {"text": "alice's secret plan"})
    store.put(("Alice", "notes"), "k", {"text": "another Alice"})
    assert [i.namespace for i in store.search(("Alice",))] == [("Alice", "notes")]
    assert [i.namespace for i in store.search(("Alice",), query="secret plan")] == [
        ("Alice", "notes")]
    assert [i.namespace for i in store.search(("alice",))] == [("alice", "notes")]


def test_store_batch_with_a_bad_query_writes_nothing(mem: Memory) -> None:
    store = AgentMemStore(mem)
    with pytest.raises(InvalidInput, match="query"):
        store.batch([PutOp(("alice", "n"), "k", {"text": "x"}),
                     SearchOp(("alice",), query="bad\x00query")])
    assert store.get(("alice", "n"), "k") is None
    assert mem.stats().users == 0


def test_store_refuses_a_closed_memory(embedder: SentenceTransformerEmbedder,
                                       tmp_path: Path) -> None:
    m = Memory(tmp_path / "m", embedder=embedder)
    store = AgentMemStore(m)
    m.close()
    with pytest.raises(AgentMemError, match="closed"):
        store.put(("alice", "n"), "k", {"text": "written after close"})
    with Memory(tmp_path / "m", embedder=embedder) as again:
        assert AgentMemStore(again).get(("alice", "n"), "k") is None


def test_store_search_across_owners_ranks_by_relevance(mem: Memory) -> None:
    """Each owner's fused scores are normalised within that owner's candidates; merged
    across owners they must still put the relevant item first."""
    store = AgentMemStore(mem, user_label=1)
    store.put(("memories", "carol"), "a", {"text": "Carol plays the cello in an orchestra"})
    store.put(("memories", "dave"), "b", {"text": "Dave repairs bicycles"})
    store.put(("memories", "dave"), "c", {"text": "Dave likes soup"})
    for query, best in (("cello orchestra music", "a"), ("bicycle repair", "b"),
                        ("soup", "c")):
        found = store.search(("memories",), query=query)
        assert found[0].key == best, [(i.key, i.score) for i in found]
        scores = [i.score for i in found]
        assert all(s is not None for s in scores)
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_failed_export_leaves_no_partial_file(mem: Memory, tmp_path: Path) -> None:
    mem.add([{"role": "user", "content": "my PIN is 4711"}], user_id="alice",
            session_id="s1")
    target = tmp_path / "folder"
    target.mkdir()
    with pytest.raises(InvalidInput, match="folder"):  # issue 16: named, not an OSError
        mem.export(target)
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_cli_json_stays_valid_json_and_export_to_a_folder(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    path = tmp_path / "mem"

    def strict(text: str) -> object:
        def refuse(name: str) -> object:
            raise AssertionError(f"{name} in --json output")
        return json.loads(text, parse_constant=refuse)

    # NaN is not JSON: refused in the input, nothing created
    failed(agentmem("add", "-", "--user", "a", "--session", "s", path=path,
                    input='[{"role": "user", "content": "x", "metadata": {"v": NaN}}]'),
           2, "[0]", "NaN")
    assert not path.exists()
    # a memory whose turn metadata holds NaN (written through the Python API)
    with Memory(path, embedder=embedder) as m:
        unit = m.add([{"role": "user", "content": "the reading was off",
                       "metadata": {"reading": float("nan")}}],
                     user_id="a", session_id="s").unit_ids[0]
    shown = strict(ok(agentmem("--json", "get", unit, path=path)).stdout)
    assert isinstance(shown, dict) and shown["turns"][0]["metadata"] == {"reading": None}
    # export onto a folder: a usage error, and no <folder>.partial left with the text
    folder = tmp_path / "out"
    folder.mkdir()
    failed(agentmem("export", str(folder), path=path), 2, "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mem", "out"]


def test_import_refuses_an_item_on_another_users_unit(
        mem: Memory, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """An item record pointing at a unit of another user (or a conversation unit) would
    leave its text behind when the item's user is forgotten: refused, nothing written."""
    store = AgentMemStore(mem)
    store.put(("alice", "notes"), "k", {"text": "alice's note"})
    mem.add([{"role": "user", "content": "bob talks"}], user_id="bob", session_id="s")
    good = tmp_path / "good.jsonl"
    mem.export(good)
    records = [json.loads(x) for x in good.read_text(encoding="utf-8").splitlines()]
    bob_unit = next(r["id"] for r in records if r["type"] == "unit" and r["user_id"] == "bob")
    for change in ({"user_id": "bob"}, {"user_id": "bob", "unit_id": bob_unit}):
        bad = tmp_path / "bad.jsonl"
        bad.write_text("\n".join(json.dumps({**r, **change}) if r["type"] == "item"
                                 else json.dumps(r) for r in records), encoding="utf-8")
        with Memory(tmp_path / f"new{len(change)}", embedder=embedder) as other:
            with pytest.raises(InvalidInput, match="unit_id"):
                other.import_(bad)
            assert other.stats().users == 0

"""JSONL export / import: a lossless round trip, validated before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import fill

from agentmem import InvalidInput, Memory, SentenceTransformerEmbedder


def test_round_trip_is_lossless(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    with Memory(embedder=embedder) as a:
        fill(a, "alice")
        fill(a, "bob")
        a.add([{"role": "user", "content": "Ünïcode ✓ and \"quotes\"", "name": "Zoë",
                "metadata": {"dia_id": "D1:3", "nested": {"x": [1, 2]}},
                "timestamp": "2024-03-01T09:15:30.123456"}],
              user_id="alice", session_id="s3")
        count = a.export(first)
        hits_a = [(h.id, h.text) for h in a.search("grey cat", user_id="alice", k=3)]
    lines = first.read_text(encoding="utf-8").splitlines()
    assert count == len(lines)
    assert json.loads(lines[0])["type"] == "agentmem-export"
    with Memory(embedder=embedder) as b:
        assert b.import_(first) == count
        b.export(second)
        hits_b = [(h.id, h.text) for h in b.search("grey cat", user_id="alice", k=3)]
        unit = b.search("quotes", user_id="alice", k=1)[0]
        assert unit.turns[0].metadata == {"dia_id": "D1:3", "nested": {"x": [1, 2]}}
        assert unit.turns[0].name == "Zoë"
        assert unit.timestamp.microsecond == 123456
        stats = b.stats()
        assert (stats.users, stats.sessions, stats.turns) == (2, 5, 13)
        assert stats.pending_index_repairs == 0
    assert second.read_bytes() == first.read_bytes()
    assert hits_b == hits_a


def test_export_one_user(tmp_path: Path, mem: Memory) -> None:
    fill(mem, "alice")
    fill(mem, "bob")
    out = tmp_path / "bob.jsonl"
    mem.export(out, user_id="bob")
    records = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    assert {r.get("user_id", r.get("id")) for r in records} == {"bob"}


def _write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda recs, t: recs.__setitem__(0, {"type": "nope"}), "line 1: type"),
        (lambda recs, t: recs[-1].__setitem__("turn_ids", ["missing"]), "turn_ids"),
        (lambda recs, t: recs[t].__setitem__("role", "robot"), "role"),
        (lambda recs, t: recs[t].__setitem__("timestamp", "soon"), "timestamp"),
        (lambda recs, t: recs[t].__setitem__("position", "1"), "position"),
        (lambda recs, t: recs[t].pop("content"), "content"),
        (lambda recs, t: recs[t].__setitem__("user_id", ""), "user_id"),
        (lambda recs, t: recs.append({"type": "mystery"}), "type"),
    ],
)
def test_bad_import_names_line_and_field_and_writes_nothing(
        tmp_path: Path, embedder: SentenceTransformerEmbedder, mutate, field: str) -> None:
    src = tmp_path / "src.jsonl"
    with Memory(embedder=embedder) as a:
        fill(a)
        a.export(src)
    records = [json.loads(x) for x in src.read_text().splitlines()]
    first_turn = next(i for i, r in enumerate(records) if r["type"] == "turn")
    mutate(records, first_turn)
    bad = _write(tmp_path / "bad.jsonl", records)
    with Memory(embedder=embedder) as b:
        with pytest.raises(InvalidInput) as err:
            b.import_(bad)
        assert field in err.value.field
        assert "line" in str(err.value)
        s = b.stats()
        assert (s.users, s.turns, s.units) == (0, 0, {})


def test_import_conflict_writes_nothing(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    out = tmp_path / "x.jsonl"
    mem.export(out)
    before = mem.stats()
    with pytest.raises(InvalidInput, match="already exists"):
        mem.import_(out)
    assert mem.stats() == before


def test_import_not_json(tmp_path: Path, mem: Memory) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(InvalidInput, match="line 1"):
        mem.import_(bad)
    with pytest.raises(InvalidInput, match="path"):
        mem.import_(tmp_path / "absent.jsonl")


def test_import_reports_indexing_progress(tmp_path: Path, mem: Memory,
                                          embedder: SentenceTransformerEmbedder) -> None:
    fill(mem)
    out = tmp_path / "x.jsonl"
    mem.export(out)
    seen: list[tuple[int, int]] = []
    with Memory(embedder=embedder) as b:
        b.import_(out, progress=lambda done, total: seen.append((done, total)))
        units = sum(b.stats().units.values())
    assert seen[0] == (0, units) and seen[-1] == (units, units)


def test_langgraph_store_items_round_trip(tmp_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    from agentmem.integrations.langgraph import AgentMemStore

    out = tmp_path / "items.jsonl"
    bob_only = tmp_path / "bob.jsonl"
    with Memory(embedder=embedder) as a:
        fill(a, "alice")
        store = AgentMemStore(a)
        store.put(("alice", "memories"), "pet", {"text": "Alice has a cat named Miso",
                                                 "tags": ["pets"]})
        store.put(("alice", "prefs"), "theme", {"theme": "dark"}, index=False)
        store.put(("bob", "memories"), "job", {"text": "Bob repairs bicycles"})
        count = a.export(out)
        a.export(bob_only, user_id="bob")
        before = {(ns, k): store.get(ns, k) for ns, k in [
            (("alice", "memories"), "pet"), (("alice", "prefs"), "theme"),
            (("bob", "memories"), "job")]}
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["key"] for r in records if r["type"] == "item"] == ["pet", "theme", "job"]
    with Memory(embedder=embedder) as b:
        assert b.import_(out) == count
        store = AgentMemStore(b)
        assert {key: store.get(*key) for key in before} == before  # times kept too
        assert store.search(("alice",), query="kitten")[0].key == "pet"
        assert b.search("bicycle repair", user_id="bob", k=1)[0].kind == "item"
        assert store.list_namespaces() == [("alice", "memories"), ("alice", "prefs"),
                                           ("bob", "memories")]
        stats = b.stats()
        with pytest.raises(InvalidInput, match="already exists"):
            b.import_(bob_only)  # the same item: nothing written
        assert b.stats() == stats
        b.forget_user("bob")
        b.import_(bob_only)
        assert store.get(("bob", "memories"), "job") == before[(("bob", "memories"), "job")]
    bob_records = [json.loads(x) for x in bob_only.read_text().splitlines()[1:]]
    assert {r["user_id"] for r in bob_records if r["type"] == "item"} == {"bob"}


def test_bad_store_item_record_names_the_line(
        tmp_path: Path, mem: Memory, embedder: SentenceTransformerEmbedder) -> None:
    from agentmem.integrations.langgraph import AgentMemStore

    AgentMemStore(mem).put(("alice",), "k", {"text": "x"})
    src = tmp_path / "src.jsonl"
    mem.export(src)
    records = [json.loads(x) for x in src.read_text().splitlines()]
    line = next(i for i, r in enumerate(records) if r["type"] == "item")
    for field, bad in (("namespace", ["a.b"]), ("unit_id", "missing"), ("value", "text")):
        broken = [dict(r) for r in records]
        broken[line][field] = bad
        with Memory(embedder=embedder) as fresh:
            with pytest.raises(InvalidInput) as err:
                fresh.import_(_write(tmp_path / "bad.jsonl", broken))
            assert field in err.value.field and f"line {line + 1}" in err.value.field
            assert fresh.stats().units == {}

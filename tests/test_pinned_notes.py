"""The worked example of docs/strategies.md (examples/pinned_notes.py): a strategy in
one file, plugged in with one line, with real SQLite, Chroma and the embedder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import files_containing

from agentmem import InvalidInput, Memory, NotFound
from agentmem.ext import Strategy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from pinned_notes import PinnedNotes

TALK = [{"role": "user", "content": "I moved to Lisbon last spring for a new job."},
        {"role": "assistant", "content": "Lisbon is lovely in spring."}]


def _fill(mem: Memory) -> None:
    mem.add(TALK, user_id="alice", session_id="s1", timestamp="2024-04-02T10:00:00")
    mem.add([{"role": "user", "content": "My cat Miso likes tuna."}], user_id="alice",
            session_id="s2", timestamp="2024-05-01T09:00:00")
    mem.add([{"role": "user", "content": "I live in Oslo."}], user_id="bob",
            session_id="b1", timestamp="2024-05-01T09:00:00")


def test_a_pinned_note_ranks_first_in_every_mode(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", strategies=[PinnedNotes()]) as mem:
        _fill(mem)
        pins = mem.strategy(PinnedNotes)
        pins.pin("alice", "Alice is allergic to peanuts.")
        pins.pin("alice", "Alice prefers short answers.")
        for mode in ("hybrid", "dense", "lexical"):
            hits = mem.search("Where did Alice move?", user_id="alice", k=4, mode=mode)
            assert [h.kind for h in hits[:2]] == ["pinned", "pinned"], mode
            assert hits[0].text == "Alice prefers short answers.", mode  # newest first
            assert "Lisbon" in hits[2].text, mode  # the units keep their order after
            assert [h.score for h in hits] == sorted((h.score for h in hits),
                                                     reverse=True), mode
        # another user's search never sees them; kinds without "pinned" leaves them out
        assert all(h.kind != "pinned" for h in mem.search("allergic", user_id="bob"))
        assert all(h.kind != "pinned" for h in mem.search(
            "allergic", user_id="alice", kinds=["round"]))
        traced = mem.search("Where did Alice move?", user_id="alice", k=1, trace=True)[0]
        assert traced.trace[-1].stage == "pin_first" and traced.trace[-1].rank_after == 1
        assert mem.stats().strategies["pinned"] == {"notes": 2}
    with Memory(tmp_path / "m", strategies=[PinnedNotes()]) as mem:  # kept on disk
        assert mem.search("anything", user_id="alice", k=1)[0].kind == "pinned"


def test_delete_and_forget_user_erase_the_notes(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    with Memory(folder, strategies=[PinnedNotes()]) as mem:
        _fill(mem)
        pins = mem.strategy(PinnedNotes)
        first = pins.pin("alice", "Alice's locker code is zebracorn-4471.")
        pins.pin("alice", "Alice's badge is quokkafish-9902.")
        mem.delete(first)  # an id the strategy owns: delete_own
        assert files_containing(folder, "zebracorn") == []
        with pytest.raises(NotFound):
            mem.delete(first)
        assert mem.forget_user("alice") == 3
        assert mem.stats().strategies["pinned"] == {"notes": 0}
        assert mem.search("badge", user_id="alice") == []
        assert files_containing(folder, "quokkafish") == []


def test_export_and_import_carry_the_notes(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    with Memory(tmp_path / "a", strategies=[PinnedNotes()]) as mem:
        _fill(mem)
        mem.strategy(PinnedNotes).pin("alice", "Alice is allergic to peanuts.")
        mem.strategy(PinnedNotes).pin("bob", "Bob's note.")
        written = mem.export(dump, user_id="alice")
    with Memory(tmp_path / "b", strategies=[PinnedNotes()]) as mem:
        assert mem.import_(dump) == written
        hits = mem.search("Where did I move?", user_id="alice", k=2)
        assert hits[0].text == "Alice is allergic to peanuts." and "Lisbon" in hits[1].text
        assert mem.stats().strategies["pinned"] == {"notes": 1}  # alice's only
    with Memory(tmp_path / "c") as mem, pytest.raises(InvalidInput, match="'pinned'"):
        mem.import_(dump)  # the file needs the strategy: nothing is written
    with Memory(tmp_path / "c") as mem:
        assert mem.stats().turns == 0


def test_strategies_are_checked_before_anything_opens(tmp_path: Path) -> None:
    class Nameless(Strategy):
        pass

    with pytest.raises(InvalidInput, match="strategies"):
        Memory(tmp_path / "a", strategies=[Nameless()])
    with pytest.raises(InvalidInput, match="the name 'pinned' is taken"):
        Memory(tmp_path / "b", strategies=[PinnedNotes(), PinnedNotes()])
    with pytest.raises(InvalidInput, match="strategies"):
        Memory(tmp_path / "c", strategies=["pinned"])  # type: ignore[list-item]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with Memory() as mem, pytest.raises(NotFound, match="no PinnedNotes strategy"):
        mem.strategy(PinnedNotes)


def test_the_example_runs_as_a_script() -> None:
    import os
    import subprocess

    res = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1]
                                              / "examples" / "pinned_notes.py")],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("pinned") and lines[0].endswith("Alice is allergic to peanuts.")
    assert "Lisbon" in res.stdout and lines[-1] == "{'notes': 1}"

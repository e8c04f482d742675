"""Deletion really deletes: no byte of the text remains in any file under path."""

from __future__ import annotations

from pathlib import Path

from conftest import fill

from agentmem import Memory, SentenceTransformerEmbedder

SECRET = "Zanzibarquux"  # a word that appears nowhere else
SECRET_TEXT = f"My locker code word is {SECRET} and my bank is Quixotebankz."


def _files_containing(root: Path, needle: str) -> list[str]:
    hits = []
    variants = {needle.encode(), needle.lower().encode(), needle.encode("utf-16-le")}
    for f in root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            if any(v in data for v in variants):
                hits.append(str(f.relative_to(root)))
    return hits


def test_forget_user_leaves_no_trace(mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        fill(m, "bob")
        for i in range(30):  # enough rows to spread over several pages
            m.add([{"role": "user", "content": f"{SECRET_TEXT} Note {i}."},
                   {"role": "assistant", "content": f"Noted {SECRET} number {i}."}],
                  user_id="alice", session_id=f"s{i % 3}", timestamp="2024-02-01T08:00:00")
        assert _files_containing(mem_path, SECRET), "the probe should see the text first"
        assert m.search(SECRET, user_id="alice", k=1)
        removed = m.forget_user("alice")
        assert removed == 60
        assert m.search(SECRET, user_id="alice", k=5) == []
        assert m.stats().users == 1
        assert m.forget_user("alice") == 0
        leftovers = _files_containing(mem_path, SECRET)
        assert leftovers == [], f"{SECRET} still in {leftovers}"
        assert _files_containing(mem_path, "alice") == []
        # the other user is untouched
        assert "Lisbon" in m.search("Lisbon", user_id="bob", k=1)[0].text
    assert _files_containing(mem_path, SECRET) == []
    with Memory(mem_path, embedder=embedder) as m:
        s = m.stats()
        assert (s.users, s.turns, s.embeddings_cached) == (1, 6, 3)


def test_delete_unit_leaves_no_trace(mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        fill(m)
        res = m.add([{"role": "user", "content": SECRET_TEXT},
                     {"role": "assistant", "content": "I will not forget it."}],
                    user_id="alice", session_id="s3", timestamp="2024-02-01T08:00:00")
        cached_before = m.stats().embeddings_cached
        m.delete(res.unit_ids[0])
        assert _files_containing(mem_path, SECRET) == []
        stats = m.stats()
        assert stats.embeddings_cached == cached_before - 1
        assert stats.sessions == 2 and stats.turns == 6


def test_shared_text_keeps_cache_for_other_user(mem: Memory) -> None:
    msgs = [{"role": "user", "content": "The same sentence for two people."}]
    mem.add(msgs, user_id="a", session_id="s")
    mem.add(msgs, user_id="b", session_id="s")
    assert mem.stats().embeddings_cached == 1
    mem.forget_user("a")
    assert mem.stats().embeddings_cached == 1
    assert mem.search("same sentence", user_id="b", k=1)


def test_delete_session_leaves_no_trace(mem_path: Path,
                                        embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        fill(m)
        res = m.add([{"role": "user", "content": SECRET_TEXT},
                     {"role": "assistant", "content": f"I will keep {SECRET} safe."}],
                    user_id="alice", session_id="s3", timestamp="2024-02-01T08:00:00")
        m.add_thoughts([{"head": "Alice", "relation": "code word", "tail": SECRET,
                         "source_turn_ids": [res.turn_ids[0]]}], user_id="alice")
        cached_before = m.stats().embeddings_cached
        assert _files_containing(mem_path, SECRET)
        assert m.delete_session("alice", "s3") == 2
        assert _files_containing(mem_path, SECRET) == []
        stats = m.stats()
        assert (stats.sessions, stats.turns, stats.thoughts) == (2, 6, {})
        assert stats.embeddings_cached == cached_before - 2  # the round and the thought
    assert _files_containing(mem_path, SECRET) == []

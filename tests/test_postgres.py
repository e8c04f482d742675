"""The same contract on a real PostgreSQL server (``Memory(url="postgresql+psycopg://…")``),
with PostgreSQL full text as the lexical index."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fill

from agentmem import InvalidInput, Memory, NotFound, SentenceTransformerEmbedder


def test_contract_on_postgres(pg_url: str, embedder: SentenceTransformerEmbedder) -> None:
    with Memory(url=pg_url, embedder=embedder) as mem:
        assert mem.lexical is not None and type(mem.lexical).__name__ == "PgTextIndex"
        fill(mem, "alice")
        fill(mem, "bob")
        for mode in ("hybrid", "dense", "lexical"):
            hit = mem.search("the grey cat Miso", user_id="alice", k=1, mode=mode)[0]
            assert "Miso" in hit.text and hit.user_id == "alice", mode
        lex = mem.search("sister visiting", user_id="alice", k=5, mode="lexical")
        assert "Ana" in lex[0].text and lex[0].scores["lexical"] > 0
        before = mem.stats()
        assert (before.users, before.sessions, before.turns) == (2, 4, 12)
        with pytest.raises(InvalidInput, match="content"):
            mem.add([{"role": "user", "content": "ok"}, {"role": "user", "content": ""}],
                    user_id="alice", session_id="s9")
        assert mem.stats() == before
    # reopen: SQL persists on the server; vectors (in-memory Chroma) are rebuilt from SQL
    with Memory(url=pg_url, embedder=embedder) as mem:
        hit = mem.search("grey cat", user_id="alice", k=1, mode="dense")[0]
        assert "Miso" in hit.text
        mem.delete(hit.id)
        with pytest.raises(NotFound):
            mem.get(hit.id)
        assert all("Miso" not in h.text
                   for h in mem.search("Miso", user_id="alice", k=5, mode="lexical"))
        assert mem.forget_user("bob") == 6
        assert mem.search("grey cat", user_id="bob", k=5) == []
        s = mem.stats()
        assert (s.users, s.turns) == (1, 4)


def test_export_from_sqlite_import_into_postgres(tmp_path: Path, pg_url: str,
                                                 embedder: SentenceTransformerEmbedder) -> None:
    dump, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with Memory(tmp_path / "lite", embedder=embedder) as lite:
        fill(lite)
        lite.export(dump)
        want = [h.id for h in lite.search("grey cat", user_id="alice", k=3, mode="dense")]
    with Memory(url=pg_url, embedder=embedder) as pg:
        pg.import_(dump)
        pg.export(again)
        assert [h.id for h in pg.search("grey cat", user_id="alice", k=3, mode="dense")] == want
    assert again.read_bytes() == dump.read_bytes()

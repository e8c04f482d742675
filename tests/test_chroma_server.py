"""Memory(url=..., chroma_host=..., chroma_port=...) against a real Chroma server."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fill, free_port

from agentmem import BackendError, Memory, SentenceTransformerEmbedder


def test_server_database_url_and_chroma_server(tmp_path: Path, chroma_server: int,
                                               embedder: SentenceTransformerEmbedder) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    with Memory(url=url, chroma_host="127.0.0.1", chroma_port=chroma_server,
                embedder=embedder) as mem:
        fill(mem)
        assert "Miso" in mem.search("grey cat", user_id="alice", k=1, mode="dense")[0].text
        assert mem.dense.location.startswith("http://")
    with Memory(url=url, chroma_host="127.0.0.1", chroma_port=chroma_server,
                embedder=embedder) as mem:
        assert "Miso" in mem.search("grey cat", user_id="alice", k=1, mode="dense")[0].text
        collection = mem._collection("episodic", "alice")
        assert mem.dense.count(collection, user_id="alice") == 3  # three rounds
        mem.forget_user("alice")
        # the collection is shared by the users of its shard: alice's vectors are gone
        assert mem.dense.count(collection, user_id="alice") == 0
        assert mem.dense.count(collection) == 0


def test_url_without_chroma_rebuilds_vectors_on_open(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    url = f"sqlite:///{tmp_path / 'only.db'}"
    with Memory(url=url, embedder=embedder) as mem:
        fill(mem)
    with Memory(url=url, embedder=embedder) as mem:
        assert "Miso" in mem.search("grey cat", user_id="alice", k=1, mode="dense")[0].text


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path,
                                                    embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(BackendError, match="Chroma"):
        Memory(url=f"sqlite:///{tmp_path / 'x.db'}", chroma_host="127.0.0.1",
               chroma_port=free_port(), embedder=embedder)

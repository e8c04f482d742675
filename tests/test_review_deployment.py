"""Defects an independent review found in the issue-16 write path and index layer, each
reproduced here (on the code before its fix these failed). Real SQLite, Chroma (a
server where the claim is about one), processes and mounts; the scripted LLM and the
hashing embedder are named stand-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ScriptedStandInLLM, fill_disk

from agentmem import BackendError, Memory
from agentmem.embed.hashing import HashingEmbedder
from agentmem.stores import KeyExpansion
from agentmem.stores.bank import Decay

ROOT = Path(__file__).resolve().parents[1]


def _msgs(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": t} for t in texts]


def test_a_memory_does_not_claim_the_collections_of_a_longer_prefix(
        tmp_path: Path, chroma_server: int) -> None:
    tag = uuid.uuid4().hex[:6]
    kw: dict[str, Any] = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server,
                          "embedder": HashingEmbedder()}
    with Memory(url=f"sqlite:///{tmp_path / 'eu.db'}", chroma_prefix=f"p{tag}-eu",
                **kw) as eu:
        eu.add(_msgs("the eu tenant note about herons"), user_id="u", session_id="s")
        with Memory(url=f"sqlite:///{tmp_path / 'p.db'}", chroma_prefix=f"p{tag}",
                    **kw) as other:
            assert other.dense.collections() == []
            other.reindex()  # drops every collection of its own, and only those
        assert eu.search("herons", user_id="u", k=1, mode="dense")


def test_the_open_repair_keeps_a_vector_written_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    writer = Memory(path, embedder=HashingEmbedder(), context_turns=0)
    writer.add(_msgs("first note about owls"), user_id="u", session_id="s")
    opener = Memory(path, embedder=HashingEmbedder())
    real_ids = opener.dense.ids
    added: dict[str, Any] = {}

    def ids(col: str, **kw: Any) -> set[str]:
        if not added:  # another writer commits and indexes while the repair runs
            added["r"] = writer.add(_msgs("zebra crossing note"), user_id="u",
                                    session_id="s")
        return real_ids(col, **kw)

    opener.dense.ids = ids  # type: ignore[method-assign]
    opener.dense.count = lambda col, **kw: -1  # type: ignore[method-assign]
    from agentmem._core import indexing

    indexing.check_index(opener._engine)  # type: ignore[arg-type]
    indexing.sync_index(opener._engine)  # type: ignore[arg-type]
    unit = added["r"].unit_ids[0]
    assert unit in writer.dense.ids(writer._collection("episodic", "u"))
    assert "zebra" in writer.search("zebra crossing", user_id="u", k=1, mode="dense")[0].text
    opener.close()
    writer.close()


def test_a_stale_queue_does_not_overwrite_a_rebuilt_key(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    a = Memory(path, embedder=HashingEmbedder(), granularity="turn", context_turns=2)
    b = Memory(path, embedder=HashingEmbedder())
    real_upsert = a.dense.upsert

    def down(*_a: Any, **_k: Any) -> None:
        raise BackendError("chroma down (scripted)")

    a.dense.upsert = down  # type: ignore[method-assign]
    res = a.add([{"role": "user", "content": "my password is swordfish"},
                 {"role": "assistant", "content": "noted"},
                 {"role": "user", "content": "what is the weather"}],
                user_id="u", session_id="s")
    a.dense.upsert = real_upsert  # type: ignore[method-assign]
    secret, last = res.unit_ids[0], res.unit_ids[2]
    real_embed = a.embedder.embed_stored
    done: list[bool] = []

    def embed(texts: Any, **kw: Any) -> np.ndarray:
        if not done:  # while a works from its queue, b deletes the secret turn
            done.append(True)
            b.delete(secret)
        return real_embed(texts, **kw)

    a.embedder.embed_stored = embed  # type: ignore[method-assign]
    a._sync_index()
    key = a.get(last).key or a.get(last).text
    assert "swordfish" not in key
    stored = a.dense.client.get_collection(a._collection("episodic", "u")).get(
        ids=[last], include=["embeddings"])["embeddings"][0]
    # the vector of the rebuilt key (composed from its parts, as any key is)
    want = real_embed([key], composed=[0] if a.get(last).key else [])[0]
    assert float(np.dot(stored, want)) == pytest.approx(1.0, abs=1e-5)
    assert a.stats().pending_index_repairs == 0
    b.close()
    a.close()


def test_delete_rebuilds_merged_keys_too(tmp_path: Path) -> None:
    reply = json.dumps({"facts": ["A fact."], "keyphrases": ["kp"], "summary": "sum"})
    path = tmp_path / "mem"
    with Memory(path, embedder=HashingEmbedder(), llm=ScriptedStandInLLM([reply] * 20),
                keys=KeyExpansion(mode="merge"), granularity="turn") as mem:
        a = mem.add(_msgs("my password is swordfish"), user_id="u", session_id="s")
        b = mem.add([{"role": "assistant", "content": "noted"}], user_id="u", session_id="s")
        assert "swordfish" in (mem.get(b.unit_ids[0]).key or "")
        mem.delete(a.unit_ids[0])
        key = mem.get(b.unit_ids[0]).key or ""
        assert "swordfish" not in key and key.startswith("A fact.")
        assert mem.search("swordfish", user_id="u", k=3, mode="lexical") == []
    assert not [f for f in path.rglob("*") if f.is_file() and b"swordfish" in f.read_bytes()]


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder
    mem = Memory(sys.argv[1], embedder=HashingEmbedder())
    mem.add([{"role": "user", "content": "the last word is pelican"}], user_id="u",
            session_id="t")
    os._exit(0)   # dies without closing: the commit is in the write-ahead log only
    """
)


def test_a_read_only_mount_sees_what_the_write_ahead_log_holds(tmpfs: Path) -> None:
    path = tmpfs / "mem"
    with Memory(path, embedder=HashingEmbedder(), decay=Decay()) as mem:
        mem.add(_msgs("the red kite nests in the oak"), user_id="u", session_id="s")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1000:]
    assert (path / "agentmem.db-wal").stat().st_size > 0
    if subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)]).returncode != 0:
        pytest.skip("cannot remount read-only")
    try:
        with Memory(path, embedder=HashingEmbedder(), decay=Decay()) as mem:
            assert mem.stats().turns == 2
            hits = mem.search("pelican", user_id="u", k=1)  # decay: found, not reinforced
            assert hits and "pelican" in hits[0].text
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)])


def test_closing_on_a_full_disk_is_not_a_raw_error(tmpfs: Path) -> None:
    mem = Memory(tmpfs / "mem", embedder=HashingEmbedder())
    for i in range(3):
        mem.add(_msgs(f"note {i} " + "filler words " * 3000), user_id="u", session_id="s")
    fill_disk(tmpfs)
    mem.close()  # at most a warning: nothing was deleted, no erasure is owed


FORKED = textwrap.dedent(
    """
    import os, sys
    from agentmem import BackendError, Memory
    from agentmem.embed.hashing import HashingEmbedder
    mem = Memory(sys.argv[1], embedder=HashingEmbedder())
    pid = os.fork()
    if pid == 0:
        try:
            Memory(sys.argv[1], embedder=HashingEmbedder())
            print("child opened", flush=True)
        except BackendError as exc:
            print("child refused" if "another process" in str(exc) else exc, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    mem.close()
    """
)


def test_a_forked_child_is_another_process(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FORKED, str(tmp_path / "mem")],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.strip() == "child refused", (done.stdout, done.stderr[-1000:])


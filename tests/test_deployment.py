"""Deployment-grade write path and index layer (issue 16): one process per embedded
folder, race-free opens and appends across processes, an add that cannot half-fail,
a poisoned vector set aside, an index lost or corrupted and rebuilt on open, a bounded
index cost per user, and environment failures reported through the error tree.

Real SQLite files, real embedded Chroma, real processes. Where a test needs many
processes or a misbehaving embedder, it uses named stand-ins: the deterministic
:class:`~agentmem.embed.hashing.HashingEmbedder` and the scripted embedders below."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import fill_disk

from agentmem import BackendError, Memory
from agentmem.embed.hashing import HashingEmbedder

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}, {"role": "assistant", "content": "Noted."}]


class ScriptedFailingEmbedder(HashingEmbedder):
    """A scripted stand-in: the hashing embedder, but the next ``fail`` calls raise."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = 0
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise RuntimeError("scripted embedder failure")
        return super().embed(texts)


class ScriptedPoisonEmbedder(HashingEmbedder):
    """A scripted stand-in: NaN vectors for texts containing POISON."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = super().embed(texts)
        for i, t in enumerate(texts):
            if "POISON" in t:
                out[i] = np.nan
        return out


class ScriptedListEmbedder(HashingEmbedder):
    """A scripted stand-in returning plain Python lists (the protocol allows any
    array-like of the right shape)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed(texts).tolist()  # type: ignore[return-value]


class ScriptedShortEmbedder(HashingEmbedder):
    """A scripted stand-in whose vectors are one coordinate short of ``dim``."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed(texts)[:, :-1]


# -- one process per embedded folder ---------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder
    with Memory(sys.argv[1], embedder=HashingEmbedder()) as mem:
        mem.add([{"role": "user", "content": "held open"}], user_id="u", session_id="s")
        print("ready", flush=True)
        sys.stdin.read()
    """
)


def test_second_process_on_an_embedded_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], env=_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(BackendError, match="another process") as err:
            Memory(path, embedder=HashingEmbedder())
        assert str(path) in str(err.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel releases the lock of a killed process
    with Memory(path, embedder=HashingEmbedder()) as mem:
        assert mem.stats().turns == 1


OPEN = textwrap.dedent(
    """
    import sys, time
    from agentmem import BackendError, Memory
    from agentmem.embed.hashing import HashingEmbedder
    start = float(sys.argv[3])
    time.sleep(max(0.0, start - time.time()))
    kwargs = {"url": sys.argv[1]} if sys.argv[2] == "url" else {"path": sys.argv[1]}
    try:
        with Memory(embedder=HashingEmbedder(), **kwargs) as mem:
            mem.stats()
            time.sleep(1.0)
        print("opened")
    except BackendError as exc:
        print("refused" if "another process" in str(exc) else f"error {exc}")
    """
)


@pytest.mark.parametrize("how", ["url", "path"])
def test_a_new_memory_opened_by_many_processes_at_once(tmp_path: Path, how: str) -> None:
    target = f"sqlite:///{tmp_path / 'shared.db'}" if how == "url" else str(tmp_path / "m")
    start = time.time() + 4.0
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, target, how, str(start)],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=300) for p in procs]
    said = [o.strip().splitlines()[-1] if o.strip() else f"crashed: {e[-400:]}"
            for o, e in outs]
    if how == "url":  # a database URL: any number of processes
        assert said == ["opened"] * 6, said
    else:  # the embedded folder: one opens, the others are told why
        assert said.count("opened") >= 1 and set(said) <= {"opened", "refused"}, said


APPEND = textwrap.dedent(
    """
    import sys, time
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder
    start = float(sys.argv[2])
    with Memory(url=sys.argv[1], embedder=HashingEmbedder()) as mem:
        time.sleep(max(0.0, start - time.time()))
        for i in range(15):
            # the same texts in every process: the embedding cache is raced too
            mem.add([{"role": "user", "content": f"shared line {i}"},
                     {"role": "assistant", "content": f"shared reply {i}"}],
                    user_id="u", session_id="s", timestamp="2024-01-01T10:00:00")
    print("done")
    """
)


def test_processes_appending_to_one_session_get_distinct_positions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    Memory(url=url, embedder=HashingEmbedder()).close()
    start = time.time() + 4.0
    procs = [subprocess.Popen([sys.executable, "-c", APPEND, url, str(start)], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-600:] for _, e in outs]
    with Memory(url=url, embedder=HashingEmbedder()) as mem:
        turns = mem.turns("u", session_id="s")
        assert [t.position for t in turns] == list(range(90))
        stats = mem.stats()
        assert stats.pending_index_repairs == 0 and stats.units == {"round": 45}


# -- an add that cannot half-fail -------------------------------------------------------

def test_an_index_failure_after_commit_is_not_raised_and_a_retry_is_not_needed(
        tmp_path: Path) -> None:
    emb = ScriptedFailingEmbedder()
    with Memory(tmp_path / "mem", embedder=emb) as mem:
        emb.fail = 1
        res = mem.add(_msgs("The lighthouse keeper paints the door red."), user_id="u",
                      session_id="s")  # stored: must report success
        assert res.turn_ids and mem.stats().pending_index_repairs == len(res.unit_ids)
        assert "scripted embedder failure" in (mem.stats().last_index_error or "")
        mem.add(_msgs("The harbour master owns a blue boat."), user_id="u", session_id="t")
        stats = mem.stats()
        assert stats.pending_index_repairs == 0 and stats.turns == 4
        hits = mem.search("lighthouse keeper door", user_id="u", k=1, mode="dense")
        assert hits and "lighthouse" in hits[0].text


def test_a_nan_vector_is_set_aside_and_blocks_no_one(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=ScriptedPoisonEmbedder()) as mem:
        mem.add(_msgs("POISON in this sentence about the garden."), user_id="a",
                session_id="s")
        mem.add(_msgs("The garden has tall sunflowers."), user_id="b", session_id="s")
        mem.add(_msgs("My garden gate is green."), user_id="a", session_id="t")
        stats = mem.stats()
        assert stats.index_failed == 1 and stats.pending_index_repairs == 0
        assert "non-finite" in (stats.last_index_error or "")
        assert mem.search("sunflowers garden", user_id="b", k=1, mode="dense")
        assert "gate" in mem.search("garden gate", user_id="a", k=1, mode="dense")[0].text
        # the unit is stored and found by its words
        assert "POISON" in mem.search("POISON", user_id="a", k=1, mode="lexical")[0].text
        with mem.db.connect() as conn:  # no NaN was cached
            blobs = conn.exec_driver_sql("SELECT vector FROM embedding_cache").scalars().all()
        assert all(np.isfinite(np.frombuffer(b, dtype=np.float32)).all() for b in blobs)
    with Memory(path, embedder=ScriptedPoisonEmbedder()) as mem:  # still opens
        assert mem.stats().turns == 6


def test_an_embedder_returning_lists_works(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder=ScriptedListEmbedder()) as mem:
        mem.add(_msgs("Lists of floats are fine."), user_id="u", session_id="s")
        assert mem.stats().pending_index_repairs == 0
        assert mem.search("lists floats", user_id="u", k=1, mode="dense")


def test_vectors_of_the_wrong_length_are_refused_with_the_cause(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder=ScriptedShortEmbedder()) as mem:
        mem.add(_msgs("Short vectors here."), user_id="u", session_id="s")
        stats = mem.stats()
        assert stats.turns == 2 and "expected" in (stats.last_index_error or "")
        with pytest.raises(BackendError, match="shape"):
            mem.search("short vectors", user_id="u", k=1, mode="dense")
        # hybrid search degrades to the lexical side
        assert mem.search("short vectors", user_id="u", k=1)


def test_hybrid_search_degrades_to_lexical_when_chroma_fails(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Chroma answers dense search above ``exact_search`` units (here: always); a
    user searched exactly, from the SQL vector cache, does not need it at all."""
    with Memory(tmp_path / "mem", embedder=HashingEmbedder(), exact_search=0) as mem, \
            Memory(tmp_path / "mem", embedder=HashingEmbedder()) as exact:
        mem.add(_msgs("The parrot is called Kiwi."), user_id="u", session_id="s")

        def broken(*_a: object, **_k: object) -> list[tuple[str, float]]:
            raise BackendError("Chroma query failed: scripted")

        mem.dense.query = broken  # type: ignore[method-assign]
        exact.dense.query = broken  # type: ignore[method-assign]
        assert "Kiwi" in exact.search("parrot Kiwi", user_id="u", k=1, mode="dense")[0].text
        with caplog.at_level(logging.WARNING, logger="agentmem"):
            hits = mem.search("parrot Kiwi", user_id="u", k=1)
        assert hits and "Kiwi" in hits[0].text
        assert any("lexical" in r.message for r in caplog.records)
        with pytest.raises(BackendError):
            mem.search("parrot Kiwi", user_id="u", k=1, mode="dense")


# -- the index repaired on open ---------------------------------------------------------

REOPEN = textwrap.dedent(
    """
    import sys
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder

    class Counting(HashingEmbedder):
        calls = 0
        def embed(self, texts):
            Counting.calls += len(texts)
            return super().embed(texts)

    with Memory(sys.argv[1], embedder=Counting()) as mem:
        pending = mem.stats().pending_index_repairs
        hits = mem.search("owl tree 2", user_id="u", k=3, mode="dense")
        print(pending, len(hits), Counting.calls)
    """
)


def test_a_lost_chroma_folder_comes_back_on_open(tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "mem"
    with Memory(path, embedder=HashingEmbedder()) as mem:
        for i in range(3):
            mem.add(_msgs(f"Fact number {i}: the owl sleeps in tree {i}."), user_id="u",
                    session_id=f"s{i}")
    shutil.rmtree(path / "chroma")
    # a new process, as after a restart (Chroma keeps a folder's index per process)
    done = subprocess.run([sys.executable, "-c", REOPEN, str(path)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    pending, found, embedded = map(int, done.stdout.split())
    assert (pending, found) == (0, 3)
    assert embedded == 1  # the query only: the vectors came back from the SQL cache


def test_a_corrupt_chroma_is_moved_aside_and_rebuilt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "mem"
    with Memory(path, embedder=HashingEmbedder()) as mem:
        mem.add(_msgs("The kettle whistles at noon."), user_id="u", session_id="s")
    (path / "chroma" / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="agentmem"), \
            Memory(path, embedder=HashingEmbedder()) as mem:
        assert mem.search("kettle whistles", user_id="u", k=1, mode="dense")
    assert any("moved aside" in r.message for r in caplog.records)


# -- index cost bounded per user --------------------------------------------------------

def test_many_users_share_a_fixed_number_of_collections(tmp_path: Path) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with Memory(tmp_path / "mem", embedder=HashingEmbedder()) as mem:
        for i in range(150):  # enough users to open every shard
            mem.add(_msgs(f"user {i} likes colour {i}"), user_id=f"user-{i}", session_id="s")
        before = fds()
        for i in range(150, 300):
            mem.add(_msgs(f"user {i} likes colour {i}"), user_id=f"user-{i}", session_id="s")
        assert len(mem.dense.collections()) <= 16
        assert fds() - before < 8  # one collection per user cost ~4 each: 600 here
        for i in (0, 77, 149, 299):
            hits = mem.search(f"colour {i}", user_id=f"user-{i}", k=3, mode="dense")
            assert [h.user_id for h in hits] == [f"user-{i}"]


# -- environment failures through the error tree -----------------------------------------

def test_a_write_lock_held_past_the_timeout_is_a_backend_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Memory(url=url, embedder=HashingEmbedder(), lock_timeout=0.5) as mem:
        other = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(BackendError, match="locked"):
                mem.add(_msgs("blocked"), user_id="u", session_id="s")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert mem.stats().turns == 0
        mem.add(_msgs("free now"), user_id="u", session_id="s")
        assert mem.stats().turns == 2


def test_a_corrupt_database_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    path.mkdir()
    (path / "agentmem.db").write_bytes(b"garbage, not SQLite" * 200)
    with pytest.raises(BackendError, match=r"agentmem\.db"):
        Memory(path, embedder=HashingEmbedder())


# -- a full disk, a read-only mount (tmpfs mounts: root in a sandbox that allows them) ---

def test_a_full_disk_is_a_backend_error_and_nothing_is_half_written(tmpfs: Path) -> None:
    with Memory(tmpfs / "mem", embedder=HashingEmbedder()) as mem:
        mem.add(_msgs("The first note fits."), user_id="u", session_id="s")
        filler = fill_disk(tmpfs)
        turns = mem.stats().turns
        big = "A long note about the disk. " * 4000
        try:
            mem.add(_msgs(big), user_id="u", session_id="s")
        except BackendError as exc:
            assert "disk is full" in str(exc)
            assert mem.stats().turns == turns  # nothing of it was written
        else:  # SQLite had room after all: stored whole, indexed later
            assert mem.stats().turns == turns + 2
        assert mem.search("first note", user_id="u", k=1)  # reading still works
        filler.unlink()
        mem.add(_msgs("After the cleanup."), user_id="u", session_id="s")
        stats = mem.stats()
        assert stats.pending_index_repairs == 0
        assert [t.position for t in mem.turns("u")] == list(range(stats.turns))


def test_a_memory_on_a_read_only_mount_opens_for_search(tmpfs: Path) -> None:
    path = tmpfs / "mem"
    with Memory(path, embedder=HashingEmbedder()) as mem:
        mem.add(_msgs("The red kite nests in the old oak."), user_id="u", session_id="s")
        mem.add(_msgs("Swifts sleep on the wing."), user_id="v", session_id="s")
    remount = subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True,
                             text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    try:
        with Memory(path, embedder=HashingEmbedder()) as mem:
            assert mem.read_only
            for mode in ("hybrid", "dense", "lexical"):
                hits = mem.search("red kite oak", user_id="u", k=2, mode=mode)
                assert hits and "kite" in hits[0].text, mode
                assert all(h.user_id == "u" for h in hits)
            assert mem.stats().turns == 4
            with pytest.raises(BackendError, match="read-only"):
                mem.add(_msgs("cannot be stored"), user_id="u", session_id="s")
            with pytest.raises(BackendError, match="read-only"):
                mem.forget_user("u")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], capture_output=True)
    assert not list(path.parent.glob("*.corrupt-*")) and not list(path.glob("chroma.corrupt-*"))


def test_the_command_reports_environment_failures_in_one_line_with_exit_2(
        tmp_path: Path) -> None:
    def agentmem(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agentmem", *args], env=_env(),
                              capture_output=True, text=True, timeout=300)

    bad = tmp_path / "corrupt"
    bad.mkdir()
    (bad / "agentmem.db").write_bytes(b"garbage, not SQLite" * 200)
    path = tmp_path / "mem"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], env=_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for args, words in ((["--path", str(bad), "stats"], "corrupt"),
                            (["--path", str(path), "stats"], "another process")):
            done = agentmem(*args)
            assert done.returncode == 2, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("agentmem: error:"), lines
            assert words in lines[0]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_a_memory_of_the_per_user_layout_moves_to_the_shared_one_on_open(
        tmp_path: Path) -> None:
    import hashlib

    import chromadb
    from chromadb.config import Settings

    path = tmp_path / "mem"
    with Memory(path, embedder=HashingEmbedder()) as mem:
        mem.add(_msgs("alice keeps three grey cats"), user_id="alice", session_id="s")
        with mem.db.begin() as conn:  # as a memory made before the shared layout
            conn.exec_driver_sql("DELETE FROM agentmem_meta WHERE key = 'dense_layout'")
        for name in mem.dense.collections():
            mem.dense.drop(name)
        old = f"agentmem-episodic-{hashlib.sha256(b'alice').hexdigest()[:32]}"
        client = chromadb.PersistentClient(path=str(path / "chroma"),
                                           settings=Settings(anonymized_telemetry=False))
        client.create_collection(old, embedding_function=None).add(
            ids=[mem.units("alice")[0].id], embeddings=HashingEmbedder().embed(["x"]))
    with Memory(path, embedder=HashingEmbedder()) as mem:
        assert old not in mem.dense.collections()
        assert all("-s0" in name for name in mem.dense.collections())
        assert "cats" in mem.search("grey cats", user_id="alice", k=1, mode="dense")[0].text
        assert mem.stats().pending_index_repairs == 0

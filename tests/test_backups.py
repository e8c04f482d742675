"""Backups and erasure under real conditions: exports taken while another thread
writes, exports killed mid-write, stored text that cannot be encoded, bad paths, full
disks, and deletions while another connection holds a read snapshot.

Everything is real: SQLite files, the packaged embedder, subprocesses killed with
SIGKILL, a file-size limit set with ``setrlimit``."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import files_containing, fill

from agentmem import (
    BackendError,
    ErasureIncomplete,
    InvalidInput,
    Memory,
    SentenceTransformerEmbedder,
    transfer,
)
from agentmem.storage.schema import turns

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Zorblatt"
SECRET_TEXT = f"My bank PIN is 4471 and my codeword is {SECRET}."


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _check_import(out: Path, embedder: SentenceTransformerEmbedder) -> tuple[int, int]:
    """Import ``out`` into a fresh memory; every session of it holds whole adds.
    Returns (sessions, turns)."""
    records = _records(out)
    with Memory(embedder=embedder) as fresh:
        assert fresh.import_(out) == len(records)
        s = fresh.stats()
    kinds = [r["type"] for r in records]
    assert (s.sessions, s.turns) == (kinds.count("session"), kinds.count("turn"))
    assert sum(s.units.values()) == kinds.count("unit")
    # fill() wrote 6 turns in 2 sessions; the writer 2 turns per session, in one add each
    assert s.turns == 6 + 2 * (s.sessions - 2), (s.sessions, s.turns)
    return s.sessions, s.turns


# -- 1. one snapshot per export --------------------------------------------------------


def test_export_during_writes_imports_cleanly(tmp_path: Path,
                                              embedder: SentenceTransformerEmbedder) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    outs: list[Path] = []
    added = [0]
    with Memory(tmp_path / "mem", embedder=embedder) as m:
        fill(m)

        def writer() -> None:
            try:
                while not stop.is_set():
                    i = added[0]
                    m.add([{"role": "user", "content": f"Note {i}: the tram was late again."},
                           {"role": "assistant", "content": f"Noted, note {i}."}],
                          user_id=f"u{i % 3}", session_id=f"w{i}",
                          timestamp="2024-03-01T10:00:00")
                    added[0] += 1
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 120
        try:  # export again and again while the writer commits 12 sessions (8 exports
            # at least: a fast embedder commits 12 sessions within a few exports)
            while ((added[0] < 12 or len(outs) < 8) and len(outs) < 30
                   and time.monotonic() < deadline):
                out = tmp_path / f"export{len(outs)}.jsonl"
                m.export(out)
                outs.append(out)
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()
        assert not errors, errors
    seen = [_check_import(out, embedder) for out in outs]
    assert len({sessions for sessions, _ in seen}) > 5, "the writer should have been busy"


def _export_with_an_add_in_the_middle(m: Memory, out: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Export ``m`` to ``out`` while another thread commits a session ("during") just
    after the export has written its first turn record."""
    dump = transfer._dump
    added: list[str] = []

    def add_in_the_middle(record: dict[str, Any]) -> str:
        if record["type"] == "turn" and not added:
            added.append("w")
            t = threading.Thread(target=lambda: m.add(
                [{"role": "user", "content": "Written during the export."}],
                user_id="alice", session_id="during", timestamp="2024-03-01T10:00:00"))
            t.start()
            t.join()
        return dump(record)

    with monkeypatch.context() as patch:
        patch.setattr(transfer, "_dump", add_in_the_middle)
        m.export(out)
    assert added and m.stats().sessions == 3  # the add did commit, mid-export


def _check_snapshot(out: Path, embedder: SentenceTransformerEmbedder) -> None:
    assert "during" not in {r.get("session_id") for r in _records(out)}
    with Memory(embedder=embedder) as fresh:
        fresh.import_(out)
        assert (fresh.stats().sessions, fresh.stats().turns) == (2, 6)


def test_export_reads_one_snapshot(tmp_path: Path, embedder: SentenceTransformerEmbedder,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A session committed by another thread while the export is between its turn and
    unit records is in none of them (a deterministic version of the test above)."""
    with Memory(tmp_path / "mem", embedder=embedder) as m:
        fill(m)
        _export_with_an_add_in_the_middle(m, tmp_path / "e.jsonl", monkeypatch)
    _check_snapshot(tmp_path / "e.jsonl", embedder)


def test_export_reads_one_snapshot_on_postgres(tmp_path: Path, pg_url: str,
                                               embedder: SentenceTransformerEmbedder,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with Memory(url=pg_url, embedder=embedder) as m:
        fill(m)
        _export_with_an_add_in_the_middle(m, tmp_path / "e.jsonl", monkeypatch)
    _check_snapshot(tmp_path / "e.jsonl", embedder)


# -- 2. a killed export leaves no text ----------------------------------------------


KILLED_EXPORT = textwrap.dedent(
    """
    import errno, os, sys, time
    from agentmem import Memory, transfer
    if sys.argv[3] == "no-tmpfile":  # a file system without O_TMPFILE
        real_open = os.open
        def no_tmpfile(path, flags, *args, **kwargs):
            if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
                raise OSError(errno.EOPNOTSUPP, "O_TMPFILE not supported")
            return real_open(path, flags, *args, **kwargs)
        os.open = no_tmpfile
    dump = transfer._dump
    def stall(record):
        if record["type"] == "unit":  # every turn is written (past the 8 KiB buffer)
            print("started", flush=True)
            time.sleep(600)
        return dump(record)
    transfer._dump = stall
    with Memory(sys.argv[1]) as mem:
        mem.export(sys.argv[2])
    """
)


def _killed_export(tmp_path: Path, embedder: SentenceTransformerEmbedder,
                   mode: str) -> tuple[Path, Path]:
    """A memory whose turns hold the secret, and an export of it SIGKILLed mid-write."""
    data = tmp_path / "mem"
    with Memory(data, embedder=embedder) as m:
        m.add([{"role": "user" if i % 2 == 0 else "assistant",
                "content": f"{SECRET_TEXT} Line {i} of a long confession."}
               for i in range(300)],
              user_id="alice", session_id="s1", timestamp="2024-02-01T08:00:00")
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "alice.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(data), str(out), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "started", proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return data, out


def test_killed_export_leaves_no_text(tmp_path: Path,
                                      embedder: SentenceTransformerEmbedder) -> None:
    _, out = _killed_export(tmp_path, embedder, "tmpfile")
    assert files_containing(out.parent, SECRET) == []
    assert list(out.parent.iterdir()) == []


def test_killed_export_without_o_tmpfile_is_cleaned_by_the_next(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """Where the file system has no O_TMPFILE the records go to ``<file>.partial``; a
    kill leaves it (nothing can remove it), and the next export to that path does."""
    data, out = _killed_export(tmp_path, embedder, "no-tmpfile")
    partial = out.with_name(out.name + ".partial")
    assert files_containing(out.parent, SECRET) == [partial.name]
    with Memory(data, embedder=embedder) as m:
        m.export(out)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert [r["type"] for r in _records(out)].count("turn") == 300


def test_export_file_is_private_and_replaces_the_old_one(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    out = tmp_path / "e.jsonl"
    out.write_text("an older export\n")
    n = mem.export(out)
    assert len(_records(out)) == n
    assert out.stat().st_mode & 0o777 == 0o600  # it holds the memory's text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]
    mem.export(tmp_path / "new.jsonl")  # a new name: linked in place directly
    assert (tmp_path / "new.jsonl").read_bytes() == out.read_bytes()


# -- 3. stored text that cannot be encoded ------------------------------------------


def test_unencodable_stored_text_names_the_record(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    with mem.db.begin() as conn:  # bypasses input validation, as an old row would
        tid = conn.execute(sa.select(turns.c.id).order_by(turns.c.id).limit(1)).scalar_one()
        conn.execute(sa.update(turns).where(turns.c.id == tid)
                     .values(metadata={"note": "half a pair \ud800"}))
    out = tmp_path / "e.jsonl"
    out.write_text("an older export\n")
    with pytest.raises(BackendError) as info:
        mem.export(out)
    message = str(info.value)
    assert tid in message and "metadata" in message and "turn" in message
    assert out.read_text() == "an older export\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]


# -- 5. paths and write errors ------------------------------------------------------


def test_export_into_a_missing_folder(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    target = tmp_path / "does" / "not" / "exist" / "out.jsonl"
    with pytest.raises(InvalidInput) as info:
        mem.export(target)
    assert info.value.field == "path"
    assert str(target.parent) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_export_onto_a_folder(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    (tmp_path / "sub").mkdir()
    with pytest.raises(InvalidInput) as info:
        mem.export(tmp_path / "sub")
    assert info.value.field == "path" and str(tmp_path / "sub") in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]
    assert list((tmp_path / "sub").iterdir()) == []


def test_import_of_a_folder(tmp_path: Path, mem: Memory) -> None:
    with pytest.raises(InvalidInput) as info:
        mem.import_(tmp_path)
    assert info.value.field == "path" and str(tmp_path) in str(info.value)
    assert mem.stats().turns == 0


@contextmanager
def _file_size_limit(size: int) -> Iterator[None]:
    """Files this process writes may grow to ``size`` bytes: beyond, write() fails with
    EFBIG, as on a full disk."""
    saved = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, saved[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, saved)
        signal.signal(signal.SIGXFSZ, handler)


def test_write_error_is_a_backend_error_and_leaves_nothing(tmp_path: Path, mem: Memory) -> None:
    for i in range(20):  # an export of several KiB
        mem.add([{"role": "user", "content": f"{SECRET_TEXT} Entry {i}."}],
                user_id="alice", session_id=f"s{i}", timestamp="2024-02-01T08:00:00")
    out = tmp_path / "e.jsonl"
    out.write_text("an older export\n")
    with pytest.raises(BackendError) as info, _file_size_limit(2048):
        mem.export(out)
    assert isinstance(info.value.__cause__, OSError)
    assert str(out) in str(info.value)
    assert out.read_text() == "an older export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl"]


# -- 4. erasure while another connection reads --------------------------------------


def _alice_and_bob(m: Memory) -> None:
    fill(m, "bob")
    for i in range(10):
        m.add([{"role": "user", "content": f"{SECRET_TEXT} Note {i}."},
               {"role": "assistant", "content": f"Noted {SECRET} number {i}."}],
              user_id="alice", session_id=f"s{i % 3}", timestamp="2024-02-01T08:00:00")


def _reader(db: Path) -> sqlite3.Connection:
    """Another connection inside a read transaction: it holds a snapshot."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN")
    assert conn.execute("SELECT count(*) FROM turns").fetchone()[0] > 0
    return conn


def test_erasure_under_a_held_reader_raises_after_deleting(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    db = mem_path / "agentmem.db"
    with Memory(mem_path, embedder=embedder) as m:
        _alice_and_bob(m)
        reader = _reader(db)
        started = time.monotonic()
        with pytest.raises(ErasureIncomplete) as info:
            m.forget_user("alice")
        waited = time.monotonic() - started
        message = str(info.value)
        assert "deleted" in message and "reader" in message and "WAL" in message
        assert 4.5 < waited < 15, waited  # the bound (5 s), not the 60 s busy timeout
        # the deletion itself committed: no connection but the old snapshot sees alice
        with sqlite3.connect(db) as other:
            assert other.execute("SELECT count(*) FROM turns WHERE user_id = 'alice'"
                                 ).fetchone()[0] == 0
        assert m.stats().users == 1 and m.search(SECRET, user_id="alice", k=3) == []
        assert "agentmem.db-wal" in files_containing(mem_path, SECRET)
        started = time.monotonic()
        with pytest.raises(ErasureIncomplete):  # still held: the bound is an argument
            m.db.scrub(wait=0.3)
        assert time.monotonic() - started < 2
        reader.execute("COMMIT")
        reader.close()
        m.db.scrub()  # (the next erasure or close does the same)
        assert files_containing(mem_path, SECRET) == []
        assert "Lisbon" in m.search("Lisbon", user_id="bob", k=1)[0].text
    assert files_containing(mem_path, SECRET) == []


def test_erasure_waits_for_a_short_reader(mem_path: Path,
                                          embedder: SentenceTransformerEmbedder) -> None:
    with Memory(mem_path, embedder=embedder) as m:
        _alice_and_bob(m)
        reader = _reader(mem_path / "agentmem.db")
        ender = threading.Timer(0.5, lambda: reader.execute("COMMIT"))
        ender.start()
        started = time.monotonic()
        assert m.forget_user("alice") == 20
        waited = time.monotonic() - started
        ender.join()
        reader.close()
        assert files_containing(mem_path, SECRET) == []
        assert waited < 4, waited


def test_scrub_for_closing_raises_only_for_an_owed_erasure(
        mem_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """``strict=False`` (what closing needs: it may follow no deletion at all) waits the
    same bound but raises only while an earlier erasure is incomplete."""
    with Memory(mem_path, embedder=embedder) as m:
        _alice_and_bob(m)
        reader = _reader(mem_path / "agentmem.db")
        m.db.scrub(wait=0.2, strict=False)  # nothing deleted yet: no error
        with pytest.raises(ErasureIncomplete):
            m.db.scrub(wait=0.2)
        with pytest.raises(ErasureIncomplete):  # now one is owed
            m.db.scrub(wait=0.2, strict=False)
        reader.execute("COMMIT")
        reader.close()
        m.db.scrub(strict=False)
        m.db.scrub(wait=0.2, strict=False)


def test_import_of_a_file_that_is_not_utf8(tmp_path: Path, mem: Memory) -> None:
    fill(mem)
    out = tmp_path / "e.jsonl"
    mem.export(out)
    out.write_bytes(out.read_bytes() + b'{"type": "user", "id": "\xff"}\n')
    lines = len(out.read_bytes().splitlines())
    with pytest.raises(InvalidInput) as info:
        mem.import_(out)
    assert info.value.field == f"line {lines}"

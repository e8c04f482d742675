"""Crash safety: SIGKILL during ingestion, and a death between SQL commit and index."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agentmem import Memory, SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]

INGEST = textwrap.dedent(
    """
    import sys
    from agentmem import Memory
    path = sys.argv[1]
    with Memory(path) as mem:
        for i in range(10_000):
            mem.add([{"role": "user",
                      "content": f"Session {i} mentions the token zq{i}qz and a walk."},
                     {"role": "assistant", "content": f"Reply {i}: noted."}],
                    user_id="u", session_id=f"s{i}", timestamp="2024-01-01T10:00:00")
            print(f"committed s{i}", flush=True)
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def test_sigkill_mid_ingestion_keeps_every_committed_session(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    path = tmp_path / "mem"
    proc = subprocess.Popen([sys.executable, "-c", INGEST, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=_env())
    committed: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    while len(committed) < 25 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed.append(line.split()[1])
    time.sleep(0.3)  # let it get into the middle of the next add
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(committed) >= 25, "the ingestion process did not get going"
    with Memory(path, embedder=embedder) as mem:
        stats = mem.stats()
        assert stats.pending_index_repairs == 0
        assert stats.sessions >= len(committed)
        for sid in committed:
            i = sid[1:]
            for mode in ("dense", "lexical"):
                hits = mem.search(f"zq{i}qz", user_id="u", k=50, mode=mode)
                if mode == "lexical":
                    assert hits and hits[0].session_id == sid, (sid, mode)
                else:
                    assert any(h.session_id == sid for h in hits), (sid, mode)
        # every unit that reached SQL has its vector
        assert mem.dense.count(mem.dense.collection_name("episodic", "u")) == sum(
            stats.units.values())


DIE_AFTER_COMMIT = textwrap.dedent(
    """
    import os, sys
    from agentmem import Memory
    from agentmem.index.dense import ChromaIndex
    with Memory(sys.argv[1]) as mem:
        mem.add([{"role": "user", "content": "first fact: the harbour is blue"}],
                user_id="u", session_id="a", timestamp="2024-01-01")
        ChromaIndex.upsert = lambda *a, **k: os._exit(9)   # dies between commit and index
        mem.add([{"role": "user", "content": "second fact: the lighthouse is red"}],
                user_id="u", session_id="b", timestamp="2024-01-02")
    """
)


def test_death_between_commit_and_index_is_repaired_on_open(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    path = tmp_path / "mem"
    res = subprocess.run([sys.executable, "-c", DIE_AFTER_COMMIT, str(path)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 9, res.stderr
    with Memory(path, embedder=embedder) as mem:
        assert mem.stats().pending_index_repairs == 0
        hits = mem.search("What colour is the lighthouse?", user_id="u", k=1, mode="dense")
        assert hits and "lighthouse" in hits[0].text

"""Fault injection with real processes (issue 16): several writers and a reader on
PostgreSQL + a Chroma server, one writer killed, a user forgotten by another process;
and SIGKILL at random points of add / delete / forget_user / export on the embedded
default, checked after every kill.

Real PostgreSQL (Debian's package, started on loopback by the ``pg_server`` fixture),
a real ``chroma run`` server, real SQLite and embedded Chroma. The embedder is the
deterministic stand-in :class:`~agentmem.embed.hashing.HashingEmbedder`: the claims
here are about processes and storage, not about semantic ranking."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentmem import Memory
from agentmem.embed.hashing import HashingEmbedder

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


def _spawn(script: str, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], env=_env(), text=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


_OPEN = """
import json, sys, time
from agentmem import Memory
from agentmem.embed.hashing import HashingEmbedder
cfg = json.loads(sys.argv[1])
def open_memory():
    return Memory(url=cfg["url"], chroma_host="127.0.0.1", chroma_port=cfg["port"],
                  chroma_prefix=cfg["prefix"], embedder=HashingEmbedder())
"""

WRITER = _OPEN + textwrap.dedent(
    """
    w = int(sys.argv[2])
    with open_memory() as mem:
        time.sleep(max(0.0, cfg["start"] - time.time()))
        for i in range(cfg["adds"]):
            user, session = f"u{i % 3}", f"s{i % 4}"   # sessions shared by the writers
            token = f"q{w}x{i}z"
            mem.add([{"role": "user", "content": f"writer {w} note {i}: token {token}"},
                     {"role": "assistant", "content": f"stored {token}"}],
                    user_id=user, session_id=session)
            print(json.dumps([user, token]), flush=True)
    """
)

READER = _OPEN + textwrap.dedent(
    """
    with open_memory() as mem:
        assert mem.search("gone secret", user_id="gone", k=5)   # before it is forgotten
        print("open", flush=True)
        wanted = json.loads(sys.stdin.readline())
        missing = {"dense": [], "lexical": []}
        for user, token in wanted:
            dense = mem.search(token, user_id=user, k=1000, mode="dense")
            if not any(token in h.text for h in dense):
                missing["dense"].append(token)
            lexical = mem.search(token, user_id=user, k=1, mode="lexical")
            if not lexical or token not in lexical[0].text:
                missing["lexical"].append(token)
        stats = mem.stats()
        print(json.dumps({"missing": missing, "pending": stats.pending_index_repairs,
                          "failed": stats.index_failed,
                          "gone": len(mem.search("gone secret", user_id="gone", k=5)),
                          "gone_turns": len(mem.turns("gone"))}), flush=True)
    """
)

FORGET = _OPEN + textwrap.dedent(
    """
    with open_memory() as mem:
        print(mem.forget_user("gone"), flush=True)
    """
)


def test_writers_and_a_reader_on_postgres_and_a_chroma_server(
        pg_url: str, chroma_server: int) -> None:
    cfg: dict[str, Any] = {"url": pg_url, "port": chroma_server, "adds": 40,
                           "prefix": f"faults{uuid.uuid4().hex[:8]}"}
    with Memory(url=pg_url, chroma_host="127.0.0.1", chroma_port=chroma_server,
                chroma_prefix=cfg["prefix"], embedder=HashingEmbedder()) as mem:
        mem.add([{"role": "user", "content": "gone secret: my pin is 4321"}],
                user_id="gone", session_id="a")
    reader = _spawn(READER, json.dumps(cfg), stdin=True)
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().strip() == "open", reader.stderr.read() if \
        reader.stderr else ""
    cfg["start"] = time.time() + 5.0
    writers = [_spawn(WRITER, json.dumps(cfg), str(w)) for w in range(3)]
    acked: list[list[str]] = []
    # writer 2 dies by SIGKILL part-way; what it acknowledged must survive
    victim = writers[2]
    assert victim.stdout is not None
    for _ in range(12):
        line = victim.stdout.readline()
        if not line:
            break
        acked.append(json.loads(line))
    forget = _spawn(FORGET, json.dumps(cfg))  # meanwhile another process forgets a user
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert len(acked) == 12, victim.stderr.read() if victim.stderr else ""
    for proc in writers[:2]:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        acked += [json.loads(line) for line in out.splitlines()]
    out, err = forget.communicate(timeout=300)
    assert forget.returncode == 0 and out.strip() == "1", err[-2000:]
    assert len(acked) == 12 + 2 * cfg["adds"]
    # a later write after the kill lets any queued index work of the dead writer run
    out, err = reader.communicate(json.dumps(acked) + "\n", timeout=600)
    assert reader.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["missing"] == {"dense": [], "lexical": []}
    assert (result["gone"], result["gone_turns"]) == (0, 0)
    assert result["failed"] == 0
    with Memory(url=pg_url, chroma_host="127.0.0.1", chroma_port=chroma_server,
                chroma_prefix=cfg["prefix"], embedder=HashingEmbedder()) as mem:
        assert mem.stats().pending_index_repairs == 0
        for user in ("u0", "u1", "u2"):  # no turn lost, positions distinct
            for session in ("s0", "s1", "s2", "s3"):
                positions = [t.position for t in mem.turns(user, session_id=session)]
                assert positions == list(range(len(positions)))
        tokens = {tok for _, tok in acked}
        stored = {t.content.rsplit(" ", 1)[-1] for u in ("u0", "u1", "u2")
                  for t in mem.turns(u) if t.role == "user"}
        assert tokens <= stored


# -- SIGKILL at random points on the embedded default -------------------------------------

CHAOS = textwrap.dedent(
    """
    import json, random, sys
    from pathlib import Path
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder
    path, seed, exports = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    rng = random.Random(seed)
    def say(**rec):
        print(json.dumps(rec), flush=True)
    with Memory(path, embedder=HashingEmbedder()) as mem:
        for i in range(100000):
            op = rng.choices(["add", "delete", "forget", "export"], [8, 2, 1, 1])[0]
            user = f"c{rng.randrange(4)}"
            if op == "add":
                token = f"k{seed}y{i}w"
                say(begin="add", user=user)
                res = mem.add([{"role": "user", "content": f"chaos {token} " * 20},
                               {"role": "assistant", "content": f"ok {token}"}],
                              user_id=user, session_id=f"s{rng.randrange(3)}")
                say(op="add", user=user, token=token, turns=list(res.turn_ids))
            elif op == "delete":
                units = mem.units(user)
                if not units:
                    continue
                unit = rng.choice(units)
                say(begin="delete", unit=unit.id, turns=[t.id for t in unit.turns])
                mem.delete(unit.id)
                say(op="delete", unit=unit.id, turns=[t.id for t in unit.turns])
            elif op == "forget":
                say(begin="forget", user=user)
                mem.forget_user(user)
                say(op="forget", user=user)
            else:
                say(begin="export")
                mem.export(exports / "backup.jsonl")
                say(op="export")
    """
)


def _files_containing(root: Path, needles: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            hits = [n for n in needles if n.encode() in data]
            if hits:
                found[str(f.relative_to(root))] = hits
    return found


def test_sigkill_at_random_points_of_add_delete_forget_and_export(tmp_path: Path) -> None:
    path, exports = tmp_path / "mem", tmp_path / "exports"
    exports.mkdir()
    rng = random.Random(1601)
    present: dict[str, str] = {}   # turn id -> token, as acknowledged
    erased: set[str] = set()       # tokens of turns acknowledged deleted
    owner: dict[str, str] = {}     # turn id -> user
    for round_ in range(4):
        proc = _spawn(CHAOS, str(path), str(round_), str(exports))
        time.sleep(rng.uniform(3.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        records = [json.loads(line) for line in out.splitlines()]
        assert any(r.get("op") == "add" for r in records), err[-2000:]
        in_flight = records[-1] if records and "begin" in records[-1] else None
        for rec in records:
            if rec.get("op") == "add":
                for tid in rec["turns"]:
                    present[tid], owner[tid] = rec["token"], rec["user"]
            elif rec.get("op") == "delete":
                for tid in rec["turns"]:
                    if tid in present:
                        erased.add(present.pop(tid))
            elif rec.get("op") == "forget":
                for tid in [t for t, u in owner.items() if u == rec["user"] and t in present]:
                    erased.add(present.pop(tid))
        # what the killed operation may have done, whether or not it finished
        maybe: set[str] = set()
        if in_flight is not None and in_flight["begin"] == "delete":
            maybe = set(in_flight["turns"])
        elif in_flight is not None and in_flight["begin"] == "forget":
            maybe = {t for t, u in owner.items() if u == in_flight["user"]}
        with Memory(path, embedder=HashingEmbedder()) as mem:
            stats = mem.stats()
            assert stats.pending_index_repairs == 0 and stats.index_failed == 0
            stored = {t.id for u in {f"c{i}" for i in range(4)} for t in mem.turns(u)}
            lost = set(present) - stored - maybe
            assert not lost, f"round {round_}: acknowledged turns lost: {sorted(lost)[:5]}"
            for tid in maybe - stored:
                if tid in present:
                    erased.add(present.pop(tid))
            for user in {f"c{i}" for i in range(4)}:  # the dense index matches SQL
                units = {u.id for u in mem.units(user)}
                assert mem.dense.ids(mem._collection("episodic", user),
                                     user_id=user) == units, (round_, user)
        # deleted text is gone from every file of the memory, the WAL included
        assert _files_containing(path, erased) == {}, round_
        # a killed export leaves no text of its own behind
        leftovers = [f.name for f in exports.iterdir() if f.name != "backup.jsonl"]
        assert leftovers == [], leftovers


LONG_RUNNING = _OPEN + textwrap.dedent(
    """
    with open_memory() as mem:
        for user in ("alice", "bob"):
            mem.add([{"role": "user", "content": f"{user} keeps bees in the garden"}],
                    user_id=user, session_id="a")
            assert mem.search("bees", user_id=user, k=1, mode="dense")
        print("ready", flush=True)
        sys.stdin.readline()  # meanwhile another process forgets alice
        for user in ("alice", "bob"):
            mem.add([{"role": "user", "content": f"{user} now grows tomatoes"}],
                    user_id=user, session_id="b")
        print(json.dumps({u: [h.text for h in mem.search("bees tomatoes", user_id=u, k=5,
                                                          mode="dense")]
                          for u in ("alice", "bob")}), flush=True)
    """
)


def test_forget_user_in_another_process_leaves_a_long_running_one_working(
        tmp_path: Path, chroma_server: int) -> None:
    cfg = {"url": f"sqlite:///{tmp_path / 'shared.db'}", "port": chroma_server,
           "prefix": f"forget{uuid.uuid4().hex[:8]}"}
    worker = _spawn(LONG_RUNNING, json.dumps(cfg), stdin=True)
    assert worker.stdout is not None and worker.stdin is not None
    assert worker.stdout.readline().strip() == "ready", worker.stderr.read() if \
        worker.stderr else ""
    forget = _spawn(FORGET.replace('"gone"', '"alice"'), json.dumps(cfg))
    out, err = forget.communicate(timeout=300)
    assert forget.returncode == 0 and out.strip() == "1", err[-2000:]
    out, err = worker.communicate("go\n", timeout=300)
    assert worker.returncode == 0, err[-2000:]
    found = json.loads(out.strip().splitlines()[-1])
    assert found["alice"] == ["user: alice now grows tomatoes"]
    assert sorted(found["bob"]) == ["user: bob keeps bees in the garden",
                                    "user: bob now grows tomatoes"]

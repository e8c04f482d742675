"""Several client processes, each with threads, against one real ``agentmem serve``
process: every write lands once, is findable, and survives a SIGTERM of the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from service_helpers import Server

from agentmem import Memory
from agentmem.service.client import RemoteMemory

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "tok-procs"
PROCS, THREADS, EXCHANGES = 3, 2, 10
SHARED = "shared"

# One client process: THREADS threads share one RemoteMemory; each adds EXCHANGES
# exchanges for the process's own user and EXCHANGES for the shared user, searching
# for the new exchange's unique word after each add. Prints a JSON list of failures.
CLIENT = r"""
import json, sys, threading
from agentmem.service.client import RemoteMemory

url, token, p, threads, exchanges = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])

def word(user, t, i):
    return "zq" + "".join(chr(97 + int(c)) for c in f"{user}{p}{t}{i:02d}")

failures = []
remote = RemoteMemory(url, token=token, timeout=120)

def work(t):
    try:
        for i in range(exchanges):
            for user, tag in ((f"u{p}", 1), ("shared", 2)):
                w = word(tag, t, i)
                remote.add([{"role": "user", "content": f"I keep my {w} in the blue box."},
                            {"role": "assistant", "content": f"Noted: the {w} is in the box."}],
                           user_id=user, session_id=f"p{p}t{t}")
                hits = remote.search(w, user_id=user, k=3)
                if not any(w in h.text for h in hits):
                    failures.append(f"{user}: {w} not found right after add")
    except BaseException as exc:
        failures.append(repr(exc))

ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
remote.close()
print(json.dumps(failures))
"""


def word(tag: int, p: int, t: int, i: int) -> str:
    """The unique word of exchange ``i`` of thread ``t`` of process ``p`` (as CLIENT)."""
    return "zq" + "".join(chr(97 + int(c)) for c in f"{tag}{p}{t}{i:02d}")


def words(user: str) -> list[str]:
    """The unique words of ``user``'s exchanges."""
    if user == SHARED:
        return [word(2, p, t, i) for p in range(PROCS) for t in range(THREADS)
                for i in range(EXCHANGES)]
    p = int(user[1:])
    return [word(1, p, t, i) for t in range(THREADS) for i in range(EXCHANGES)]


def expected(user: str) -> list[str]:
    """Every turn's text ``user`` must hold, sorted."""
    return sorted(text for w in words(user) for text in (
        f"I keep my {w} in the blue box.", f"Noted: the {w} is in the box."))


@pytest.mark.slow
def test_client_processes_with_threads(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    server = Server(path, "--token", TOKEN)
    try:
        clients = [subprocess.Popen(
            [sys.executable, "-c", CLIENT, server.url, TOKEN, str(p), str(THREADS),
             str(EXCHANGES)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True) for p in range(PROCS)]
        for c in clients:
            out, err = c.communicate(timeout=600)
            assert c.returncode == 0, err
            assert json.loads(out.strip().splitlines()[-1]) == [], out
        users = [f"u{p}" for p in range(PROCS)] + [SHARED]
        with RemoteMemory(server.url, token=TOKEN, timeout=120) as remote:
            for user in users:
                texts = sorted(t.content for t in remote.turns(user))
                assert texts == expected(user), user  # all there, none twice
            for user in users:
                for w in words(user):
                    hits = remote.search(w, user_id=user, k=3)
                    assert any(w in h.text for h in hits), (user, w)
            assert remote.stats()  # the server still answers after the crowd
    finally:
        err = server.stop()  # SIGTERM
    assert server.proc.returncode in (0, -15), err
    with Memory(path) as memory:
        for user in users:
            assert sorted(t.content for t in memory.turns(user)) == expected(user), user

"""Memory as a service: ``add`` and ``search`` through ``agentmem serve`` against the
same calls in process, side by side, at 1, 4 and 16 concurrent clients.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_service.py [--clients 1 4 16]
        [--requests 96] [--turns 400] [--out eval/results/issue19/bench_service.json]

One on-disk memory (the default settings and the real packaged embedder) is filled
with the first ``--turns`` LoCoMo turns (one user, one ``add`` per session), closed,
and copied: the copy is served by an ``agentmem serve`` subprocess with a token, the
original is opened in this process. Clients are threads: in process they share the one
``Memory``; served, each thread has its own ``RemoteMemory`` (its own connection
pool). For every number of clients and each operation, ``--requests`` requests per
side run in four phases alternating in process, served, served, in process (ABBA),
each phase's requests spread evenly over the clients. Searches are LoCoMo questions,
new to both sides in each setting (no query-cache hits), ``k=5``, hybrid; each add is
one exchange (two turns) with text new to the memory (the embedding cache misses).

Printed and recorded: requests/s (requests over the phases' wall time), p50 / p95
latency per request as the client saw it, and the overhead per request: served p50
minus in-process p50. The server and the clients share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
from locomo_text import load_questions, load_sessions  # noqa: E402

from agentmem import Memory  # noqa: E402
from agentmem.service.client import RemoteMemory  # noqa: E402

TOKEN = "bench-token"
USER = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fill(path: Path, turns: int) -> int:
    n = 0
    with Memory(path) as mem:
        for s in load_sessions():
            if n >= turns:
                break
            msgs = [{"role": "user" if i % 2 == 0 else "assistant",
                     "content": f"{t['speaker']}: {t['text']}"}
                    for i, t in enumerate(s.turns[:turns - n])]
            mem.add(msgs, user_id=USER, session_id=f"{s.conversation}-{s.index}")
            n += len(msgs)
    return n


def start_server(path: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "agentmem", "--path", str(path), "serve",
                             "--port", str(port), "--token", TOKEN], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("server did not start")


Call = Callable[[Any, int, Any], None]  # (backend, client, payload)


def phase(backends: list[Any], call: Call, payloads: list[Any]) -> tuple[list[float], float]:
    """Run ``payloads`` over len(backends) client threads; latencies and wall time."""
    clients = len(backends)
    shares = [payloads[c::clients] for c in range(clients)]
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def work(c: int) -> None:
        mine: list[float] = []
        start.wait()
        try:
            for p in shares[c]:
                t = time.perf_counter()
                call(backends[c], c, p)
                mine.append(time.perf_counter() - t)
        except BaseException as exc:  # reported below
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return latencies, wall


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    return {"requests": len(ms), "rps": round(len(ms) / wall, 2),
            "p50_ms": round(statistics.median(ms), 2),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2),
            "wall_s": round(wall, 2)}


def search(backend: Any, _c: int, query: str) -> None:
    backend.search(query, user_id=USER, k=5)


def add(backend: Any, c: int, text: str) -> None:
    backend.add([{"role": "user", "content": text},
                 {"role": "assistant", "content": f"Noted, {text.lower()}"}],
                user_id=f"writer{c}", session_id=f"w{c}")


def run(clients_list: list[int], requests: int, turns: int) -> dict[str, Any]:
    questions = iter(load_questions())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        local_path, served_path = Path(d) / "local", Path(d) / "served"
        t = time.perf_counter()
        filled = fill(local_path, turns)
        print(f"filled {filled} turns in {time.perf_counter() - t:.1f} s", flush=True)
        shutil.copytree(local_path, served_path)
        proc, url = start_server(served_path)
        memory = Memory(local_path)
        try:
            remote = RemoteMemory(url, token=TOKEN, timeout=300)  # warm both sides
            for q in (next(questions), next(questions)):
                memory.search(q, user_id=USER)
                remote.search(q, user_id=USER)
            remote.close()
            counter = 0
            for clients in clients_list:
                remotes = [RemoteMemory(url, token=TOKEN, timeout=300)
                           for _ in range(clients)]
                sides = {"in_process": [memory] * clients, "served": remotes}
                for op in ("search", "add"):
                    half = requests // 2
                    lat: dict[str, list[float]] = {"in_process": [], "served": []}
                    wall = {"in_process": 0.0, "served": 0.0}
                    for step, side in enumerate(("in_process", "served", "served",
                                                 "in_process")):
                        if op == "search":
                            if step in (0, 2):  # both sides get the same new questions
                                batch = [next(questions) for _ in range(half)]
                            payloads: list[Any] = batch
                            call: Call = search
                        else:
                            payloads = []
                            for _ in range(half):
                                counter += 1
                                payloads.append(f"Entry {counter} from the {side} side: "
                                                f"I moved the plant number {counter} to "
                                                f"the window.")
                            call = add
                        ls, w = phase(sides[side], call, payloads)
                        lat[side] += ls
                        wall[side] += w
                    s_in, s_srv = (summary(lat[s], wall[s]) for s in ("in_process", "served"))
                    row = {"clients": clients, "op": op, "in_process": s_in, "served": s_srv,
                           "overhead_p50_ms": round(s_srv["p50_ms"] - s_in["p50_ms"], 2)}
                    rows.append(row)
                    print(f"{clients:>3} {op:<6} in-process {s_in['rps']:7.1f}/s "
                          f"p50 {s_in['p50_ms']:7.1f} p95 {s_in['p95_ms']:7.1f} | served "
                          f"{s_srv['rps']:7.1f}/s p50 {s_srv['p50_ms']:7.1f} p95 "
                          f"{s_srv['p95_ms']:7.1f} | overhead p50 "
                          f"{row['overhead_p50_ms']:+.1f} ms", flush=True)
                for r in remotes:
                    r.close()
        finally:
            memory.close()
            proc.terminate()
            proc.wait(timeout=60)
    one = next((r for r in rows if r["clients"] == 1 and r["op"] == "search"), None)
    return {
        "benchmark": "bench_service",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "settings": {"clients": clients_list, "requests_per_side": requests,
                     "turns": filled, "clients_are": "threads", "k": 5, "mode": "hybrid",
                     "embedder": "default (packaged)"},
        "rows": rows,
        "target": {"search_p50_overhead_ms_at_1_client": 5.0,
                   "measured": one["overhead_p50_ms"] if one else None,
                   "met": bool(one and one["overhead_p50_ms"] <= 5.0)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=96, help="per side, per setting")
    ap.add_argument("--turns", type=int, default=400)
    ap.add_argument("--out", default=str(ROOT / "eval/results/issue19/bench_service.json"))
    args = ap.parse_args()
    result = run(args.clients, args.requests, args.turns)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"search p50 overhead at 1 client: {result['target']['measured']} ms "
          f"(target <= 5 ms: {'met' if result['target']['met'] else 'MISSED'}); "
          f"wrote {out}")


if __name__ == "__main__":
    main()

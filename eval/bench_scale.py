"""Scale: many users in one embedded memory, several writer processes on a server
memory (issue 16).

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_scale.py [--users 1000,3000,10000]
        [--writers 1,2,4] [--turns-per-writer 300] [--old-users 300] [--quick]

What is measured, each part in fresh subprocesses (so RSS and descriptors are those of
one configuration):

1. Embedded default, ``Memory(path=tmpdir, embedder=HashingEmbedder())``, for each
   number of users: every user gets 3 turns in two ``add`` calls (a user/assistant
   exchange, then one more user turn, same session). Measured: RSS growth (VmRSS before
   the first add vs after the last), open descriptors at the end, files under the
   memory folder, ``add`` p50/p95 per call, hybrid ``search(k=5)`` p50/p95 for
   ``--searches`` random users with a query of three words of that user's text (after
   5 unmeasured warm-up searches), whether every hit belongs to the searched user, and
   the reopen time (``close``, then ``Memory(path, ...)`` + the first search).
   Targets: RSS growth <= 50 MB per 1,000 users; open descriptors < 256 at every size;
   search p95 at the largest size no worse than at the smallest.
2. Server path: a throwaway PostgreSQL (``initdb``/``pg_ctl``, trust auth, loopback,
   as the ``postgres`` user when run as root) and a ``chroma run`` server. For 1, 2 and
   4 writer processes (a fresh database and Chroma prefix each), every writer opens
   ``Memory(url=..., chroma_host=..., chroma_port=..., embedder=HashingEmbedder())``,
   waits for a common start, and adds ``--turns-per-writer`` turns as user/assistant
   exchanges (2 turns per ``add``) over 12 users, in its own sessions and in 3 sessions
   per user shared by all writers (the per-session lock). Measured: turns/s overall
   (all turns / first start to last end), errors (exceptions in writers), lost (turns
   a writer got back from ``add`` but absent from SQL afterwards) and, from a fresh
   process, unfindable: turns in SQL whose unit is not returned, for that user, by a
   lexical search for the turn's unique token (k=10) and by a dense search with the
   turn's text as the query. The dense check is first k=10; a unit missing there is
   looked for in the user's whole dense ranking (k = the user's unit count), and only
   a unit absent from it counts as unfindable (the stand-in embedder ranks some units
   below 10th: those are reported with their rank, as ``dense_miss_top10``). Before
   that process opens the memory (open repairs the index), SQL's pending/failed units
   and Chroma's vector count are read directly. Targets: 0 lost, 0 unfindable with 4
   writers.
3. A reconstruction of the OLD dense layout (one Chroma collection per user, 3 vectors
   each, ``chromadb.PersistentClient``), side by side with the new one (16 shared
   collections, owner tag in metadata), Chroma alone, for ``--old-users`` users: RSS
   growth per user, open descriptors, files.

``HashingEmbedder`` is a fast deterministic stand-in (feature hashing of words), not a
semantic model: it keeps embedding cost out of the figures, which are about storage,
indexes and processes. Results: eval/results/bench_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results" / "bench_scale.json"

RSS_MB_PER_1K_USERS = 50.0
FD_LIMIT = 256
N_WORDS = 2000
SERVER_USERS = 12
SHARED_SESSIONS = 3
OWN_SESSIONS = 4
TOKEN = re.compile(r"\btok\d+x\d+\b")


# -- small helpers ---------------------------------------------------------------------

def rss_mb() -> float:
    """Resident set size of this process (VmRSS), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path))


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def ms(values: list[float], q: float) -> float:
    return round(pct(values, q) * 1000, 2)


def vocabulary(seed: int) -> list[str]:
    """N_WORDS pronounceable pseudo-words shared by every user (so other users' texts
    match a query too, and isolation is tested, not trivially true)."""
    rng = random.Random(seed)
    cons, vows = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < N_WORDS:
        words.add("".join(rng.choice(cons) + rng.choice(vows)
                          for _ in range(rng.randint(2, 4))))
    return sorted(words)


def setup_path() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))


def child(args: list[str], *, stdin: str | None = None, timeout: float | None = None
          ) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process; its last stdout line is JSON."""
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         input=stdin, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"child {args} failed (rc {res.returncode}):\n{res.stderr[-4000:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


# -- 1. embedded default ---------------------------------------------------------------

def embedded_one(users: int, searches: int, seed: int) -> dict[str, Any]:
    setup_path()
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder

    rng = random.Random(seed)
    vocab = vocabulary(seed)
    emb = HashingEmbedder()
    tmp = Path(tempfile.mkdtemp(prefix="agentmem-scale-"))
    path = tmp / "mem"
    t_start = time.perf_counter()
    try:
        mem = Memory(path=path, embedder=emb)
        rss0, fds0 = rss_mb(), open_fds()
        add_s: list[float] = []
        words: dict[str, list[str]] = {}
        units: dict[str, set[str]] = {}
        for u in range(users):
            uid = f"user{u:05d}"
            w = rng.sample(vocab, 12)
            words[uid] = w
            exchange = [
                {"role": "user", "content": f"I want to talk about {w[0]} {w[1]} and {w[2]}, "
                                            f"also {w[3]} near {w[4]}."},
                {"role": "assistant", "content": f"Noted: {w[5]} with {w[6]} and {w[7]}."},
            ]
            follow = [{"role": "user", "content": f"One more thing: {w[8]} {w[9]} then "
                                                  f"{w[10]} {w[11]}."}]
            ids: set[str] = set()
            for n, msgs in enumerate((exchange, follow)):
                t0 = time.perf_counter()
                res = mem.add(msgs, user_id=uid, session_id="s1",
                              timestamp=f"2024-03-01T10:{n:02d}:00")
                add_s.append(time.perf_counter() - t0)
                ids.update(res.unit_ids)
            units[uid] = ids
        rss1, fds1 = rss_mb(), open_fds()
        t_added = time.perf_counter()
        files = count_files(path)
        uids = sorted(words)
        # warm-up, not measured: one search into each dense shard, which loads it
        # from disk once per process (the cold first search is timed apart)
        first_of_shard: dict[str, str] = {}
        for uid in uids:
            first_of_shard.setdefault(mem._collection("episodic", uid), uid)
        cold_s: list[float] = []
        for uid in first_of_shard.values():
            t0 = time.perf_counter()
            mem.search(" ".join(words[uid][:3]), user_id=uid, k=5)
            cold_s.append(time.perf_counter() - t0)
        search_s: list[float] = []
        foreign = empty = 0
        searched = rng.sample(uids, min(searches, len(uids)))
        for uid in searched:
            q = " ".join(rng.sample(words[uid], 3))
            t0 = time.perf_counter()
            hits = mem.search(q, user_id=uid, k=5)
            search_s.append(time.perf_counter() - t0)
            empty += not hits
            foreign += sum(1 for h in hits if h.user_id != uid or h.id not in units[uid])
        fds_end = open_fds()
        mem.close()
        probe = searched[0]
        t0 = time.perf_counter()
        mem2 = Memory(path=path, embedder=emb)
        t1 = time.perf_counter()
        hits = mem2.search(" ".join(words[probe][:3]), user_id=probe, k=5)
        t2 = time.perf_counter()
        reopen_ok = bool(hits) and all(h.user_id == probe for h in hits)
        stats = mem2.stats()
        mem2.close()
        return {
            "users": users, "turns": 3 * users, "adds": len(add_s),
            "first_search_per_shard_p50_ms": ms(cold_s, 0.5),
            "units": sum(stats.units.values()),
            "rss_before_mb": round(rss0, 1), "rss_after_mb": round(rss1, 1),
            "rss_growth_mb": round(rss1 - rss0, 1),
            "rss_growth_mb_per_1k_users": round((rss1 - rss0) / users * 1000, 1),
            "fds_before": fds0, "fds_after_adds": fds1, "fds_end": fds_end,
            "files": files,
            "add_p50_ms": ms(add_s, 0.5), "add_p95_ms": ms(add_s, 0.95),
            "ingest_s": round(t_added - t_start, 1),
            "searches": len(search_s),
            "search_p50_ms": ms(search_s, 0.5), "search_p95_ms": ms(search_s, 0.95),
            "foreign_hits": foreign, "empty_results": empty,
            "reopen_open_s": round(t1 - t0, 3), "reopen_first_search_s": round(t2 - t1, 3),
            "reopen_s": round(t2 - t0, 3), "reopen_ok": reopen_ok,
            "wall_s": round(time.perf_counter() - t_start, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- 3. old layout (reconstruction) vs new layout, Chroma alone ------------------------

def layout_one(layout: str, users: int, seed: int) -> dict[str, Any]:
    setup_path()
    import chromadb
    import numpy as np
    from chromadb.config import Settings

    from agentmem.index.dense import DEFAULT_SHARDS, user_key

    rng = np.random.default_rng(seed)
    tmp = Path(tempfile.mkdtemp(prefix="agentmem-layout-"))
    try:
        client = chromadb.PersistentClient(path=str(tmp / "chroma"),
                                           settings=Settings(anonymized_telemetry=False))
        client.list_collections()
        cfg: Any = {"hnsw": {"space": "cosine"}}
        rss0, fds0 = rss_mb(), open_fds()
        t0 = time.perf_counter()
        shared: dict[int, Any] = {}
        for u in range(users):
            uid = f"user{u:05d}"
            vecs = rng.standard_normal((3, 64)).astype("float32")
            ids = [f"{uid}-{i}" for i in range(3)]
            if layout == "old":  # one collection per user, as before commit 337b814
                col = client.get_or_create_collection(f"agentmem-episodic-{uid}",
                                                      embedding_function=None,
                                                      configuration=cfg)
                col.add(ids=ids, embeddings=vecs)
            else:  # 16 shared collections, owner hash in metadata (agentmem today)
                key = user_key(uid)
                shard = int(key[:8], 16) % DEFAULT_SHARDS
                if shard not in shared:
                    shared[shard] = client.get_or_create_collection(
                        f"agentmem-episodic-s{shard:03d}", embedding_function=None,
                        configuration=cfg)
                shared[shard].add(ids=ids, embeddings=vecs, metadatas=[{"u": key}] * 3)
        elapsed = time.perf_counter() - t0
        rss1, fds1 = rss_mb(), open_fds()
        return {"layout": layout, "users": users, "vectors": 3 * users,
                "rss_growth_mb": round(rss1 - rss0, 1),
                "rss_growth_kb_per_user": round((rss1 - rss0) * 1024 / users, 1),
                "fds_before": fds0, "fds_after": fds1,
                "fds_added_per_user": round((fds1 - fds0) / users, 2),
                "files": count_files(tmp / "chroma"),
                "collections": len(client.list_collections()),
                "build_s": round(elapsed, 1)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- 2. server path --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for cand in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (cand / "initdb").exists():
            return cand
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port, trust auth; yields the
    base URL. Stopped and removed on exit, error or not."""
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="agentmem-scale-pg-"))
    port = free_port()
    data = root / "data"

    def run(cmd: list[str]) -> None:
        line = " ".join(shlex.quote(c) for c in cmd)
        full = (["su", "postgres", "-s", "/bin/sh", "-c", line] if os.geteuid() == 0
                else cmd)  # the server refuses to run as root
        res = subprocess.run(full, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{line} failed: {res.stdout}{res.stderr}")

    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    started = False
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "agentmem"])
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
             f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200",
             "start"])
        started = True
        yield f"postgresql+psycopg://agentmem@127.0.0.1:{port}"
    finally:
        if started:
            try:
                run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
            except RuntimeError as exc:
                print(f"warning: {exc}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def chroma_server() -> Iterator[int]:
    """``chroma run`` on a free loopback port with a temporary folder; yields the port.
    Terminated (then killed) and removed on exit."""
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="agentmem-scale-chroma-"))
    proc = subprocess.Popen([exe, "run", "--path", str(data), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma server did not start") from None
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def create_database(base: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return f"{base}/{name}"


def writer_one(cfg: dict[str, Any]) -> dict[str, Any]:
    """One writer process: open, say ready, wait for 'go' on stdin, add, report."""
    setup_path()
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder

    w, turns, seed = int(cfg["writer"]), int(cfg["turns"]), int(cfg["seed"])
    rng = random.Random(seed * 1000 + w)
    vocab = vocabulary(seed)
    mem = Memory(url=cfg["url"], chroma_host="127.0.0.1", chroma_port=int(cfg["port"]),
                 chroma_prefix=cfg["prefix"], embedder=HashingEmbedder())
    print("ready", flush=True)
    sys.stdin.readline()
    ok: list[str] = []
    errors: list[str] = []
    add_s: list[float] = []
    t_start = time.time()
    for i in range(0, turns, 2):
        uid = f"su{rng.randrange(SERVER_USERS):02d}"
        sid = (f"shared{rng.randrange(SHARED_SESSIONS)}" if rng.random() < 0.4
               else f"w{w}-s{rng.randrange(OWN_SESSIONS)}")
        a, b = rng.sample(vocab, 4), rng.sample(vocab, 4)
        msgs = [{"role": "user", "content": f"tok{w}x{i} {' '.join(a)}."},
                {"role": "assistant", "content": f"tok{w}x{i + 1} {' '.join(b)}."}]
        t0 = time.perf_counter()
        try:
            res = mem.add(msgs, user_id=uid, session_id=sid)
        except Exception as exc:  # counted, never hidden
            errors.append(f"{type(exc).__name__}: {exc}"[:500])
            continue
        finally:
            add_s.append(time.perf_counter() - t0)
        ok.extend(res.turn_ids)
    t_end = time.time()
    last_error = mem.stats().last_index_error
    mem.close()
    return {"writer": w, "ok_turn_ids": ok, "errors": errors, "t_start": t_start,
            "t_end": t_end, "add_p50_ms": ms(add_s, 0.5), "add_p95_ms": ms(add_s, 0.95),
            "last_index_error": last_error}


def verify_one(cfg: dict[str, Any]) -> dict[str, Any]:
    """A fresh process: read SQL and Chroma directly, then open the memory and search
    for every turn."""
    setup_path()
    import chromadb
    import sqlalchemy as sa
    from chromadb.config import Settings

    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder

    engine = sa.create_engine(cfg["url"])
    with engine.connect() as conn:
        n_units = conn.exec_driver_sql("SELECT count(*) FROM units").scalar_one()
        pending = conn.exec_driver_sql(
            "SELECT count(*) FROM units WHERE dense_pending").scalar_one()
        failed = conn.exec_driver_sql(
            "SELECT count(*) FROM units WHERE index_error IS NOT NULL").scalar_one()
    engine.dispose()
    client = chromadb.HttpClient(host="127.0.0.1", port=int(cfg["port"]),
                                 settings=Settings(anonymized_telemetry=False))
    vectors = sum(client.get_collection(c.name).count() for c in client.list_collections()
                  if c.name.startswith(cfg["prefix"] + "-"))

    ok: set[str] = set(cfg["ok_turn_ids"])
    mem = Memory(url=cfg["url"], chroma_host="127.0.0.1", chroma_port=int(cfg["port"]),
                 chroma_prefix=cfg["prefix"], embedder=HashingEmbedder())
    in_sql: set[str] = set()
    dense_miss: list[str] = []  # not in the top 10 of the dense search
    dense_absent: list[str] = []  # nowhere in the user's dense ranking
    dense_ranks: list[dict[str, Any]] = []
    lexical_miss: list[str] = []
    no_unit: list[str] = []
    bad_positions = 0
    for u in range(SERVER_USERS):
        uid = f"su{u:02d}"
        turns = mem.turns(uid)
        user_units = mem.units(uid)
        by_turn: dict[str, set[str]] = {}
        for unit in user_units:
            for t in unit.turns:
                by_turn.setdefault(t.id, set()).add(unit.id)
        sessions: dict[str, list[int]] = {}
        for t in turns:
            in_sql.add(t.id)
            sessions.setdefault(t.session_id, []).append(t.position)
            want = by_turn.get(t.id)
            if not want:
                no_unit.append(t.id)
                continue
            token = TOKEN.search(t.content)
            assert token is not None, t.content
            dense = mem.search(t.content, user_id=uid, k=10, mode="dense")
            lexical = mem.search(token.group(0), user_id=uid, k=10, mode="lexical")
            if not want & {h.id for h in dense if h.user_id == uid}:
                dense_miss.append(t.id)
                # in the index at all? the user's whole dense ranking
                every = mem.search(t.content, user_id=uid, k=len(user_units), mode="dense")
                rank = next((r for r, h in enumerate(every, 1)
                             if h.id in want and h.user_id == uid), None)
                dense_ranks.append({"turn": t.id, "rank": rank, "of": len(every),
                                    "score": next((round(h.scores.get("dense", h.score), 3)
                                                   for h in every if h.id in want), None),
                                    "top10_last_score": round(
                                        dense[-1].scores.get("dense", dense[-1].score), 3)
                                    if dense else None})
                if rank is None:
                    dense_absent.append(t.id)
            if not want & {h.id for h in lexical if h.user_id == uid}:
                lexical_miss.append(t.id)
        bad_positions += sum(1 for pos in sessions.values()
                             if sorted(pos) != list(range(len(pos))))
    mem.close()
    unfindable = set(dense_absent) | set(lexical_miss) | set(no_unit)
    return {"turns_in_sql": len(in_sql), "turns_ok_by_writers": len(ok),
            "lost": len(ok - in_sql), "lost_ids": sorted(ok - in_sql)[:20],
            "in_sql_not_reported": len(in_sql - ok),
            "units_in_sql": n_units, "units_dense_pending_before_open": pending,
            "units_index_failed_before_open": failed,
            "chroma_vectors_before_open": vectors,
            "unfindable": len(unfindable), "dense_absent": len(dense_absent),
            "dense_miss_top10": len(dense_miss), "dense_miss_top10_ranks": dense_ranks[:20],
            "lexical_miss": len(lexical_miss), "turns_without_unit": len(no_unit),
            "unfindable_ids": sorted(unfindable)[:20],
            "sessions_with_position_gaps": bad_positions}


def server_run(base: str, port: int, writers: int, turns: int, seed: int) -> dict[str, Any]:
    name = f"scale_w{writers}"
    url = create_database(base, name)
    prefix = f"scale-w{writers}"
    procs = []
    try:
        for w in range(writers):
            cfg = {"writer": w, "turns": turns, "seed": seed, "url": url, "port": port,
                   "prefix": prefix}
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--child", "writer", json.dumps(cfg)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True))
        for p in procs:  # every writer has opened its memory
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"writer did not start: {line}{p.communicate()[1][-3000:]}")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=1800)
            if p.returncode != 0:
                raise RuntimeError(f"writer failed (rc {p.returncode}):\n{err[-4000:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    ok_ids = [t for r in reports for t in r["ok_turn_ids"]]
    span = max(r["t_end"] for r in reports) - min(r["t_start"] for r in reports)
    t0 = time.perf_counter()
    check = child(["--child", "verify", "-"], stdin=json.dumps(
        {"url": url, "port": port, "prefix": prefix, "ok_turn_ids": ok_ids}))
    errors = [e for r in reports for e in r["errors"]]
    return {"writers": writers, "turns_attempted": writers * turns,
            "turns_ok": len(ok_ids), "seconds": round(span, 2),
            "turns_per_s": round(len(ok_ids) / span, 1) if span > 0 else None,
            "add_p50_ms_per_writer": [r["add_p50_ms"] for r in reports],
            "add_p95_ms_per_writer": [r["add_p95_ms"] for r in reports],
            "errors": len(errors), "error_samples": errors[:5],
            "last_index_errors": [r["last_index_error"] for r in reports
                                  if r["last_index_error"]],
            **check, "verify_s": round(time.perf_counter() - t0, 1)}


# -- driver ----------------------------------------------------------------------------

def verdict(ok: bool, detail: str) -> str:
    return f"{'PASS' if ok else 'MISS'} ({detail})"


def targets(emb: list[dict[str, Any]], server: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in emb:
        per_k = r["rss_growth_mb_per_1k_users"]
        over = "" if per_k <= RSS_MB_PER_1K_USERS else \
            f", over by {per_k - RSS_MB_PER_1K_USERS:.1f} MB/1k"
        out[f"rss_growth_{r['users']}_users"] = verdict(
            per_k <= RSS_MB_PER_1K_USERS,
            f"{per_k} MB per 1k users, target <= {RSS_MB_PER_1K_USERS:g}{over}")
        out[f"fds_{r['users']}_users"] = verdict(
            r["fds_end"] < FD_LIMIT, f"{r['fds_end']} open, target < {FD_LIMIT}")
        out[f"isolation_{r['users']}_users"] = verdict(
            r["foreign_hits"] == 0 and r["empty_results"] == 0,
            f"{r['foreign_hits']} foreign hits, {r['empty_results']} empty results "
            f"in {r['searches']} searches")
    if len(emb) >= 2:
        lo, hi = emb[0], emb[-1]
        # informational: the growth per extra 1,000 users between the smallest and the
        # largest size, i.e. without the fixed cost both sizes pay (shards loaded)
        slope = (hi["rss_growth_mb"] - lo["rss_growth_mb"]) / (hi["users"] - lo["users"]) * 1000
        out["info_rss_marginal_mb_per_1k_users"] = (
            f"{slope:.1f} MB per extra 1k users between {lo['users']} and {hi['users']} "
            "users (not a target; shows the fixed part of the growth)")
        ratio = hi["search_p95_ms"] / lo["search_p95_ms"]
        out[f"search_p95_{hi['users']}_vs_{lo['users']}"] = verdict(
            hi["search_p95_ms"] <= lo["search_p95_ms"],
            f"{hi['search_p95_ms']} ms vs {lo['search_p95_ms']} ms, x{ratio:.2f}")
    if server:
        top = max(server, key=lambda r: r["writers"])
        w = top["writers"]
        out[f"lost_{w}_writers"] = verdict(top["lost"] == 0, f"{top['lost']} lost")
        out[f"unfindable_{w}_writers"] = verdict(
            top["unfindable"] == 0,
            f"{top['unfindable']} unfindable of {top['turns_in_sql']} (dense: absent "
            f"{top['dense_absent']}, not in top 10 {top['dense_miss_top10']}; lexical "
            f"miss {top['lexical_miss']})")
        out[f"errors_{w}_writers"] = verdict(top["errors"] == 0, f"{top['errors']} errors")
    return out


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=ints, default=[1000, 3000, 10000])
    ap.add_argument("--writers", type=ints, default=[1, 2, 4])
    ap.add_argument("--turns-per-writer", type=int, default=300)
    ap.add_argument("--searches", type=int, default=300)
    ap.add_argument("--old-users", type=int, default=300)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 200,500 users, 60 turns per writer, 100 old-layout users")
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--skip-layout", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, arg = args.child
        cfg = json.loads(sys.stdin.read() if arg == "-" else arg)
        runners: dict[str, Callable[[], dict[str, Any]]] = {
            "embedded": lambda: embedded_one(cfg["users"], cfg["searches"], cfg["seed"]),
            "layout": lambda: layout_one(cfg["layout"], cfg["users"], cfg["seed"]),
            "writer": lambda: writer_one(cfg),
            "verify": lambda: verify_one(cfg),
        }
        print(json.dumps(runners[kind]()))
        return
    if args.quick:
        args.users, args.turns_per_writer, args.old_users = [200, 500], 60, 100
    t_all = time.perf_counter()
    result: dict[str, Any] = {
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python " + " ".join(
            [str(Path(sys.argv[0])), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg()),
        "embedder": "HashingEmbedder (dim 64, stand-in, not semantic)",
        "embedded_turns_per_user": "3: add(user+assistant), then add(user), same session",
    }

    layout: list[dict[str, Any]] = []
    if not args.skip_layout:
        for kind in ("old", "new"):
            r = child(["--child", "layout", json.dumps(
                {"layout": kind, "users": args.old_users, "seed": args.seed})])
            print(f"layout {kind}: {r}", flush=True)
            layout.append(r)
        old, new = layout
        result["layout"] = {
            "note": "Chroma alone; 'old' reconstructs the layout before 337b814 "
                    "(one collection per user), 'new' is 16 shared collections",
            "runs": layout,
            "rss_per_user_old_over_new": round(
                old["rss_growth_kb_per_user"] / new["rss_growth_kb_per_user"], 1)
            if new["rss_growth_kb_per_user"] > 0 else None,
        }

    emb: list[dict[str, Any]] = []
    if not args.skip_embedded:
        for n in args.users:
            r = child(["--child", "embedded", json.dumps(
                {"users": n, "searches": args.searches, "seed": args.seed})])
            print(f"embedded {n} users: {r}", flush=True)
            emb.append(r)
        result["embedded"] = emb

    server: list[dict[str, Any]] = []
    if not args.skip_server:
        t0 = time.perf_counter()
        with postgres() as base, chroma_server() as port:
            for w in args.writers:
                r = server_run(base, port, w, args.turns_per_writer, args.seed)
                brief = {k: v for k, v in r.items() if not k.endswith("_ids")}
                print(f"server {w} writers: {brief}", flush=True)
                server.append(r)
        result["server"] = server
        result["server_s"] = round(time.perf_counter() - t0, 1)

    result["targets"] = targets(emb, server)
    result["load_avg_end"] = list(os.getloadavg())
    result["wall_s"] = round(time.perf_counter() - t_all, 1)
    print("\ntargets:")
    for name, v in result["targets"].items():
        print(f"  {name}: {v}")
    print(f"wall: {result['wall_s']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

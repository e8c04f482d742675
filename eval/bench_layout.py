"""How to lay out users' vectors in Chroma: the measurement behind the shared layout.

Three layouts, each with N users x 3 vectors (384-d, random, float32) in an embedded
Chroma (``PersistentClient``), each size in a fresh process:

- ``per-user``: one collection per user (agentmem before issue 16);
- ``shared``: one collection, every vector tagged with its user's hash, queries
  filtered on it;
- ``shards``: 16 collections, a user's shard chosen by the hash, filtered likewise
  (agentmem's layout now).

Printed and recorded (``eval/results/bench_layout.json``): resident memory growth,
open file descriptors, files under the folder, add time per user, and the p50/p95 of
200 filtered queries (n=50) against random users, each checked to return only that
user's vectors: first cold (a collection is loaded from disk on its first query in a
process), then the same queries warm. Chroma is called directly: this isolates the
index layout from the rest of agentmem (``eval/bench_scale.py`` measures the library).

    .venv/bin/python eval/bench_layout.py --users 1000,3000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LAYOUTS = ("per-user", "shared", "shards")
SHARDS = 16
RESULTS = Path(__file__).resolve().parent / "results" / "bench_layout.json"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _digest(user: int) -> str:
    return hashlib.sha256(str(user).encode()).hexdigest()[:32]


def run_one(layout: str, users: int) -> dict[str, Any]:
    """One layout and size, in this process."""
    import chromadb
    from chromadb.config import Settings

    folder = Path(tempfile.mkdtemp(prefix=f"layout-{layout}-"))
    try:
        client = chromadb.PersistentClient(path=str(folder),
                                           settings=Settings(anonymized_telemetry=False))
        conf = {"hnsw": {"space": "cosine"}}
        rng = np.random.default_rng(0)
        rss0 = _rss_mb()
        fixed: list[Any] = []
        if layout == "shared":
            fixed = [client.get_or_create_collection("shared-000", embedding_function=None,
                                                     configuration=conf)]
        elif layout == "shards":
            fixed = [client.get_or_create_collection(f"shard-{i:03d}", embedding_function=None,
                                                     configuration=conf)
                     for i in range(SHARDS)]

        def target(digest: str) -> Any:
            if layout == "per-user":
                return client.get_or_create_collection(f"user-{digest}", embedding_function=None,
                                                       configuration=conf)
            return fixed[int(digest[:8], 16) % len(fixed)]

        adds = []
        for u in range(users):
            d = _digest(u)
            vectors = rng.standard_normal((3, 384)).astype(np.float32)
            t = time.perf_counter()
            col = target(d)
            ids = [f"{u}-{i}" for i in range(3)]
            if layout == "per-user":
                col.upsert(ids=ids, embeddings=vectors)
            else:
                col.upsert(ids=ids, embeddings=vectors, metadatas=[{"u": d}] * 3)
            adds.append(time.perf_counter() - t)
        probes = [(int(u), rng.standard_normal((1, 384)).astype(np.float32))
                  for u in rng.integers(users, size=200)]

        def timed() -> np.ndarray:
            lat = []
            for u, query in probes:
                d = _digest(u)
                t = time.perf_counter()
                col = target(d)
                if layout == "per-user":
                    res = col.query(query_embeddings=query, n_results=50,
                                    include=["distances"])
                else:
                    res = col.query(query_embeddings=query, n_results=50, where={"u": d},
                                    include=["distances"])
                lat.append(time.perf_counter() - t)
                got = res["ids"][0]
                assert len(got) == 3 and all(i.startswith(f"{u}-") for i in got), got
            return np.array(lat) * 1000

        # the first pass loads each collection it touches from disk (cold); the same
        # queries again show the steady state of a long-running process (warm)
        cold, ms = timed(), timed()
        return {
            "layout": layout, "users": users,
            "rss_growth_mb": round(_rss_mb() - rss0, 1),
            "open_fds": len(os.listdir("/proc/self/fd")),
            "files": sum(len(f) for _, _, f in os.walk(folder)),
            "add_ms_per_user_p50": round(float(np.median(adds)) * 1000, 2),
            "query_ms_p50": round(float(np.percentile(ms, 50)), 2),
            "query_ms_p95": round(float(np.percentile(ms, 95)), 2),
            "cold_query_ms_p50": round(float(np.percentile(cold, 50)), 2),
            "cold_query_ms_p95": round(float(np.percentile(cold, 95)), 2),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1000,3000", help="comma-separated sizes")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--one", nargs=2, metavar=("LAYOUT", "USERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return
    rows = []
    for users in (int(x) for x in args.users.split(",")):
        for layout in args.layouts.split(","):
            done = subprocess.run([sys.executable, __file__, "--one", layout, str(users)],
                                  capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{layout:>8} {users:>6} users: RSS +{row['rss_growth_mb']:>7} MB, "
                  f"{row['open_fds']:>5} fds, {row['files']:>5} files, add p50 "
                  f"{row['add_ms_per_user_p50']:>6} ms, query p50/p95 warm "
                  f"{row['query_ms_p50']}/{row['query_ms_p95']} ms, cold "
                  f"{row['cold_query_ms_p50']}/{row['cold_query_ms_p95']} ms", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"command": " ".join(["eval/bench_layout.py", *sys.argv[1:]]),
                                   "cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()

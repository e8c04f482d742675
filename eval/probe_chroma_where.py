"""Probe behind issue 20's search latency at 100k units: Chroma's query with a
metadata ``where`` filter (agentmem's per-user filter in shared collections) against the
same query unfiltered, on one collection of 100,000 random 384-d vectors, 90% tagged
``u=a`` and 10% ``u=b``; then the unfiltered query widened to 50, 200 and 1,000
results with their metadata (what agentmem asks for a user who fills much of a
collection, keeping their own results afterwards). Printed, nothing recorded.

    .venv/bin/python eval/probe_chroma_where.py [--n 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import chromadb
import numpy as np
from chromadb.config import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as d:
        client = chromadb.PersistentClient(path=d, settings=Settings(anonymized_telemetry=False))
        col = client.get_or_create_collection("probe", embedding_function=None,
                                              metadata={"hnsw:space": "cosine"})
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 384)).astype(np.float32)
        t = time.perf_counter()
        for i in range(0, n, 5000):
            part = range(i, min(i + 5000, n))
            col.upsert(ids=[str(j) for j in part], embeddings=x[part.start:part.stop],
                       metadatas=[{"u": "a" if j % 10 else "b"} for j in part])
        print(f"built {n} vectors in {time.perf_counter() - t:.1f} s")
        q = rng.standard_normal((1, 384)).astype(np.float32)
        for where in (None, {"u": "a"}, {"u": "b"}):
            times = []
            for _ in range(11):
                t = time.perf_counter()
                col.query(query_embeddings=q, n_results=50, where=where, include=["distances"])
                times.append(time.perf_counter() - t)
            print(f"where={where}: p50 {1000 * sorted(times)[5]:.1f} ms")
        # agentmem's path for an owner who fills most of the collection: unfiltered,
        # widened, the owner's ids kept (from the returned metadata)
        for k in (50, 200, 1000):
            times = []
            for _ in range(11):
                t = time.perf_counter()
                col.query(query_embeddings=q, n_results=k,
                          include=["distances", "metadatas"])
                times.append(time.perf_counter() - t)
            print(f"unfiltered n_results={k} with metadatas: "
                  f"p50 {1000 * sorted(times)[5]:.1f} ms")


if __name__ == "__main__":
    main()

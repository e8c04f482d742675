"""What an erasure's ``VACUUM`` costs: a SQLite file in WAL mode with ``secure_delete``
on (agentmem's settings), 100,000 rows of 300 bytes (~31 MB), then ``VACUUM`` and a
truncating checkpoint, as ``Database.scrub(vacuum=True)`` runs them after a deletion.

    .venv/bin/python eval/bench_vacuum.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_vacuum.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vacuum.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?, ?)",
                         ((i, "x" * 300) for i in range(args.rows)))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size_mb = path.stat().st_size / 1e6
        start = time.perf_counter()
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - start
        conn.close()
    row = {"rows": args.rows, "file_mb": round(size_mb, 1), "vacuum_s": round(seconds, 3),
           "s_per_100_mb": round(seconds / size_mb * 100, 2)}
    print(f"{row['file_mb']} MB: VACUUM + checkpoint {row['vacuum_s']} s "
          f"({row['s_per_100_mb']} s per 100 MB)")
    RESULTS.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()

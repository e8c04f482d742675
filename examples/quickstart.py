"""Quickstart: store a short multi-session conversation, then recall from it.

    make demo            # or: python examples/quickstart.py [--path ./memdata]

Runs fully locally on the embedded default (SQLite + Chroma under --path, or in
memory with --path ''), with the packaged all-MiniLM-L6-v2 embedder. No LLM needed:
it prints the memories retrieved for each question, with their dates and scores.

For a question about the present ("Where do I live now?"), the newest of conflicting
statements ranks first when it says something changed (the ``supersede`` ranking
stage, on by default): the demo says so under the hits and lists them newest first.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from agentmem import Memory

DATA = Path(__file__).resolve().parent / "data" / "quickstart_conversation.json"

# Printed under the hits of the questions listed in the data's "newest_first".
NEWEST_FIRST = """\
  Newer statements first: for a question about the present, among statements about the
  same thing from different sessions, about equally relevant, the newest ranks first
  when it says something changed ("moved", "now", "no longer"): the supersede stage,
  Memory(supersede=True) by default. Think-in-Memory keeps facts current with an LLM
  (python examples/thoughts.py). The same hits, newest first (by timestamp):"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default=None,
                    help="memory folder (default: a temporary folder, removed afterwards)")
    ap.add_argument("--k", type=int, default=3, help="memories to show per question")
    args = ap.parse_args()

    data = json.loads(DATA.read_text(encoding="utf-8"))
    tmp = None
    path = args.path
    if path is None:
        tmp = tempfile.mkdtemp(prefix="agentmem-demo-")
        path = str(Path(tmp) / "memdata")
    try:
        with Memory(path=path or None) as mem:
            user = data["user_id"]
            mem.forget_user(user)  # make the demo repeatable on an existing folder
            for session in data["sessions"]:
                mem.add(session["messages"], user_id=user, session_id=session["session_id"],
                        timestamp=session["timestamp"])
            stats = mem.stats()
            print(f"Stored {stats.turns} turns in {stats.sessions} sessions as "
                  f"{sum(stats.units.values())} {stats.granularity} units "
                  f"({path or 'in memory'}).\n")
            for question in data["questions"]:
                print(f"Q: {question}")
                hits = mem.search(question, user_id=user, k=args.k)
                for rank, hit in enumerate(hits, 1):
                    when = hit.timestamp.strftime("%Y-%m-%d %H:%M")
                    parts = ", ".join(f"{k} {v:.3f}" for k, v in sorted(hit.scores.items()))
                    print(f"  {rank}. [{when}] score {hit.score:.4f} ({parts})")
                    for line in hit.text.splitlines():
                        print(f"       {line}")
                if question in data.get("newest_first", ()):
                    print(NEWEST_FIRST)
                    # by time, then by place in the session (a session's turns share
                    # its timestamp)
                    newest = sorted(hits, key=lambda h: (h.timestamp, max(
                        (t.position for t in h.turns), default=0)), reverse=True)
                    for rank, hit in enumerate(newest, 1):
                        when = hit.timestamp.strftime("%Y-%m-%d %H:%M")
                        print(f"    {rank}. [{when}] {hit.text.splitlines()[0]}")
                print()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

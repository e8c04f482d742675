"""The main job, `make demo`, runs and answers from memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_prints_dated_scored_memories(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--path",
         str(tmp_path / "demo"), "--k", "3"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Stored 16 turns in 4 sessions as 8 round units" in out
    blocks = {b.splitlines()[0]: b for b in out.split("\n\n") if b.startswith("Q: ")}
    assert len(blocks) == 5
    allergy = blocks["Q: What am I allergic to?"].split("  2. ")[0]
    assert "peanuts" in allergy and "[2024-03-19 20:40]" in allergy
    assert "Japan" in blocks["Q: When is my trip to Japan, and who is coming?"].split("  2. ")[0]
    # The move to Lisbon answers "now" first (issue 20): the newest of conflicting
    # statements, and it says it changed ("moved")
    home = blocks["Q: Where do I live now?"]
    assert "I moved to Lisbon" in home.split("  2. ")[0]
    # The demo says why under the hits, and lists the same hits newest first.
    assert "Newer statements first: for a question about the present" in home
    assert "python examples/thoughts.py" in home and "Memory(supersede=True)" in home
    newest = home.split("The same hits, newest first (by timestamp):\n")[1].splitlines()
    assert all(line.startswith(f"    {n}. [2024-06-23 18:30]")
               for n, line in enumerate(newest[:2], 1))  # the last session, in its order
    assert any("I moved to Lisbon" in line for line in newest[:2])
    assert sum("Newer statements first" in b for b in blocks.values()) == 1
    assert all("score" in b for b in blocks.values())


def test_thoughts_example_shows_update_merge_and_history() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "thoughts.py")],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "merge     Alice bakes sourdough bread each Sunday." in out
    assert "Alice moved to Lisbon in May 2023. (supersedes 1)" in out
    assert "forgotten Alice lives in Porto.  -> forget (same head and relation)" in out
    answers = out.split("Q: Where does Alice live now?")[1]
    assert "[thought] Alice moved to Lisbon" in answers
    assert "{'active': 2, 'forgotten': 1, 'merged': 1}" in out

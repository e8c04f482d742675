"""Experiment (issue 20): breadth for list questions. The head of the ranking is
re-ordered greedily so that a unit whose session already has units above it pays a
penalty (MMR over sessions), for every question or only for those that ask for a list
or a count.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_session_mmr.py [--penalties 0.5]

A stage after session context (position 56) takes the top ``top`` candidates,
z-normalises their fused scores, and picks one at a time the candidate with the highest
``z - penalty x (units of its session picked so far)``; the tail keeps its order. The
list cue is a generic English pattern ("how many", "what are", "which", "list", "all",
"some", a plural after "what" / "which": "what activities", "which books"). Session
recall by first appearance should not move (a session's first unit pays nothing; the
later stages that move units by place shifted it by 0.001 in the measured run); turn
recall can, since more sessions reach the top turns. An experiment switch in this
process (as eval/exp_session_doc.py does). The LoCoMo dev conversations go through the
harness's default configuration, split into tune (26, 30, 41) and check (42, 43).
Writes eval/results/ablation/session_mmr.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402

from agentmem.ranking import Candidates  # noqa: E402
from agentmem.ranking.base import Order  # noqa: E402

_LIST = re.compile(r"\b(how many|what are|list|all|some|(what|which) \w+s)\b",
                   re.IGNORECASE)


def asks_for_a_list(query: str) -> bool:
    """Whether a question asks for several things or a count."""
    return _LIST.search(query) is not None


@dataclass(frozen=True)
class SessionMMR:
    """Greedy re-ordering of the top ``top``: ``z - penalty x`` (units of the same
    session already picked); with ``gated`` only for list questions."""

    penalty: float
    gated: bool
    top: int = 30
    name: str = "session_mmr"
    position: float = 56

    def run(self, c: Candidates) -> Order:
        if len(c.order) < 2 or (self.gated and not asks_for_a_list(c.query.text)):
            return c.order
        n = min(self.top, len(c.order))
        head = c.order[:n]
        scores = np.array([s for _, s in head])
        z = (scores - scores.mean()) / (scores.std() or 1.0)
        session = [c.info[i].session_id if i in c.info else i for i, _ in head]
        left = list(range(n))
        seen: Counter[str] = Counter()
        picked: list[tuple[str, float]] = []
        while left:
            best = max(left, key=lambda k: z[k] - self.penalty * seen[session[k]])
            left.remove(best)
            seen[session[best]] += 1
            picked.append(head[best])
        return [*picked, *c.order[n:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--penalties", nargs="+", type=float, default=[0.5])
    args = parser.parse_args()
    stages = [SessionMMR(p, g) for p in args.penalties for g in (False, True)]
    ablation.stage_experiment(
        [("default", []), *((f"session MMR, penalty {s.penalty}, "
                             f"{'list questions only' if s.gated else 'every question'}",
                             [s]) for s in stages)],
        prefix="agentmem-sessionmmr",
        title="# Breadth for list questions: MMR over sessions (issue 20)",
        command="HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_session_mmr.py --penalties "
                + " ".join(str(p) for p in args.penalties),
        out="session_mmr.md")


if __name__ == "__main__":
    main()

"""Experiment (issue 20): who said it. A question about a named person (or about "I /
my") favours units where that person's own words match the question.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_who_said.py [--weights 0.25 0.5]

A stage after session context (position 55) looks at the top ``top`` candidates. The
speakers are the names before ``": "`` on the candidates' lines (a unit's text is one
``speaker: content`` line per turn, whatever the chat: two people, a group, a user and
an assistant). The question names some of them (a whole word, as written), or says
"I / my / me" (then the ``user`` role). Nothing named: the order is left alone. Else
each candidate's score is the cosine of the question with the closest line spoken by a
named person, embedded alone (cached by text); a candidate where they say nothing gets
the lowest score seen. The candidates' fused scores get ``weight`` x that score
z-normalised over the head, and the head is sorted again; the tail keeps its order.
Nothing is specific to LoCoMo or to two-person chats. An experiment switch in this
process (as eval/exp_session_doc.py does). The LoCoMo dev conversations go through the
harness's default configuration, split into tune (26, 30, 41) and check (42, 43).
Writes eval/results/ablation/who_said.md.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402

from agentmem import SentenceTransformerEmbedder  # noqa: E402
from agentmem.ranking import Candidates  # noqa: E402
from agentmem.ranking.base import Order  # noqa: E402

_FIRST_PERSON = re.compile(r"\b(I|my|me|mine|myself)\b")


class LineVectors:
    """Each line's vector, embedded once per process (a dict keyed by the text)."""

    def __init__(self) -> None:
        self.embedder = SentenceTransformerEmbedder()
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, lines: list[str]) -> dict[str, np.ndarray]:
        new = sorted({t for t in lines if t not in self.cache})
        if new:
            self.cache.update(zip(new, self.embedder.embed(new), strict=True))
        return {t: self.cache[t] for t in lines}


LINES = LineVectors()


def named(query: str, speakers: set[str]) -> set[str]:
    """The speakers the question names (whole words), or ``user`` for "I / my"."""
    found = {s for s in speakers if s and re.search(rf"\b{re.escape(s)}\b", query)}
    if not found and _FIRST_PERSON.search(query) and "user" in speakers:
        found = {"user"}
    return found


@dataclass(frozen=True)
class WhoSaid:
    """Adds ``weight`` x the z-scored similarity of the question with the named
    person's own lines to each of the top ``top`` candidates."""

    weight: float
    top: int = 30
    name: str = "who_said"
    position: float = 55

    def run(self, c: Candidates) -> Order:
        if c.vector is None or len(c.order) < 2:
            return c.order
        head = [i for i, _ in c.order[: self.top] if i in c.info]
        texts = {i: u.text for i, u in c.reader.units(head).items()}
        lines = {i: [ln.split(": ", 1) for ln in t.splitlines() if ": " in ln]
                 for i, t in texts.items()}
        people = named(c.query.text, {p[0] for ls in lines.values() for p in ls})
        if not people:
            return c.order
        theirs = {i: [f"{p}: {said}" for p, said in ls if p in people]
                  for i, ls in lines.items()}
        vectors = LINES([t for ts in theirs.values() for t in ts])
        q = c.vector / max(float(np.linalg.norm(c.vector)), 1e-12)
        sim = {i: max(float(vectors[t] @ q) for t in ts) for i, ts in theirs.items() if ts}
        if len(sim) < 2:
            return c.order
        floor = min(sim.values())
        n = min(self.top, len(c.order))
        raw = np.array([sim.get(i, floor) for i, _ in c.order[:n]])
        z = (raw - raw.mean()) / (raw.std() or 1.0)
        head_order = sorted(((i, s + self.weight * float(b))
                             for (i, s), b in zip(c.order[:n], z, strict=True)),
                            key=lambda f: -f[1])
        return [*head_order, *c.order[n:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.25, 0.5])
    args = parser.parse_args()
    ablation.stage_experiment(
        [("default", []), *((f"who said it, weight {w}", [WhoSaid(w)])
                            for w in args.weights)],
        prefix="agentmem-whosaid",
        title="# Who said it: the named person's own lines (issue 20)",
        command="HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_who_said.py --weights "
                + " ".join(str(w) for w in args.weights),
        out="who_said.md")


if __name__ == "__main__":
    main()

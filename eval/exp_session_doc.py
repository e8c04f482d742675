"""Experiment (issue 20): multi-granularity ranking, a session-level document score fused
with the unit ranking, for questions whose evidence spans sessions.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_session_doc.py [--weights 0.5 1.0]

A stage after session context (position 55) scores every session among the candidates
as one document: the cosine of the query with the mean of all its units' stored vectors
(every unit of the session, not only the candidates). Each candidate's fused score gets
``weight`` x its session's score, z-normalised over those sessions, and the candidates
are sorted again. An experiment switch in this process (as eval/exp_supersede.py does):
the default pipeline gets the stage, or not. The LoCoMo dev conversations go through
the harness's default configuration, split into tune (26, 30, 41) and check (42, 43).
Writes eval/results/ablation/session_doc.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402

from agentmem.ranking import Candidates  # noqa: E402
from agentmem.ranking.base import Order  # noqa: E402
from agentmem.storage.schema import units  # noqa: E402


@dataclass(frozen=True)
class SessionDoc:
    """Each candidate gets ``weight`` x its session's similarity to the query (the
    cosine with the mean of the session's unit vectors), z-normalised over the
    candidates' sessions."""

    weight: float
    name: str = "session_doc"
    position: float = 55

    def run(self, c: Candidates) -> Order:
        if c.vector is None or not c.order:
            return c.order
        sessions = {x.session_id for x in c.info.values()}
        if len(sessions) < 2:
            return c.order
        members: dict[str, list[str]] = defaultdict(list)
        for r in c.reader.conn.execute(sa.select(units.c.id, units.c.session_id).where(
                units.c.user_id == c.query.user_id, units.c.session_id.in_(sessions),
                units.c.parent_id.is_(None))):
            members[r.session_id].append(r.id)
        vectors = c.reader.unit_vectors([i for ids in members.values() for i in ids])
        q = c.vector / np.linalg.norm(c.vector)
        sim: dict[str, float] = {}
        for s, ids in members.items():
            m = np.stack([vectors[i] / np.linalg.norm(vectors[i]) for i in ids
                          if i in vectors]) if any(i in vectors for i in ids) else None
            if m is not None:
                centre = m.mean(axis=0)
                sim[s] = float(centre @ q / max(np.linalg.norm(centre), 1e-12))
        if len(sim) < 2:
            return c.order
        vals = np.array(list(sim.values()))
        mu, sd = float(vals.mean()), float(vals.std()) or 1.0
        bonus = {s: (v - mu) / sd for s, v in sim.items()}
        scored = [(i, x + self.weight * bonus.get(c.info[i].session_id, 0.0)
                   if i in c.info else x) for i, x in c.order]
        return sorted(scored, key=lambda f: -f[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.5, 1.0])
    args = parser.parse_args()
    ablation.stage_experiment(
        [("default", []), *((f"session document score, weight {w}", [SessionDoc(w)])
                            for w in args.weights)],
        prefix="agentmem-sessiondoc",
        title="# Session-level document score fused with units (issue 20)",
        command="HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_session_doc.py --weights "
                + " ".join(str(w) for w in args.weights),
        out="session_doc.md")


if __name__ == "__main__":
    main()

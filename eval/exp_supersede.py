"""Experiment (issue 20): the ``Supersede`` ranking stage (newer first among conflicting
statements, for questions about the present), off and on, side by side.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_supersede.py [--settings 0.45:0.15 0.6:0.1]

1. eval/bank_updates.py's simulated user (10 facts that change, 6 that do not, five
   seeded schedules), default settings (no decay): how often the latest statement
   ranks above the outdated ones, and how often a stable fact ranks first.
2. The LoCoMo dev conversations through the harness (default configuration), split
   into tune (26, 30, 41) and check (42, 43) as eval/ablation.py does, per category.

The default pipeline is wrapped in this process so that each run has the stage with
the thresholds tried, or none (an experiment switch; ``Memory(supersede=...)`` turns
the default stage on or off). Writes
eval/results/ablation/supersede.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402
import bank_updates  # noqa: E402

from agentmem import SentenceTransformerEmbedder  # noqa: E402
from agentmem.ranking.supersede import Supersede  # noqa: E402


def updates(embedder: SentenceTransformerEmbedder) -> dict[str, float]:
    latest = rr = stable = 0.0
    for seed in bank_updates.SEEDS:
        a, b, c = bank_updates.run(bank_updates.script(seed), None, embedder)
        latest, rr, stable = latest + a, rr + b, stable + c
    n = len(bank_updates.SEEDS)
    return {"updated_latest_first": round(latest / (n * len(bank_updates.CHANGING)), 3),
            "updated_latest_mrr": round(rr / (n * len(bank_updates.CHANGING)), 3),
            "stable_first": round(stable / (n * len(bank_updates.STABLE)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=["0.45:0.15"],
                        metavar="SIMILAR:NEAR[:nocue]",
                        help="the stage's thresholds to try (nocue: newest first "
                             "whatever its text says)")
    args = parser.parse_args()
    stages: list[Supersede | None] = [None, *(
        Supersede(similar=float(x.split(":")[0]), near=float(x.split(":")[1]),
                  cue=not x.endswith(":nocue"))
        for x in args.settings)]
    embedder = SentenceTransformerEmbedder()
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    sim: list[str] = []
    for n, stage in enumerate(stages):
        ablation.with_stages([stage] if stage is not None else [], supersede=False)
        label = "default (supersede off)" if stage is None else \
            f"supersede similar>={stage.similar}, near<={stage.near}" + (
                ", the newest's text says it changed" if stage.cue else ", newest first")
        u = updates(embedder)
        sim.append(f"| {label} | {u['updated_latest_first']:.2f} | "
                   f"{u['updated_latest_mrr']:.3f} | {u['stable_first']:.2f} |")
        print(label, u, flush=True)
        rows.append(ablation.dev_row(label, f"agentmem-supersede-{n}")[0])
    ablation.with_stages([])
    text = ablation.render(rows, "# Supersede stage: newer first among conflicting "
                           "statements (issue 20)",
                           "HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_supersede.py "
                           "--settings " + " ".join(args.settings),
                           ablation.SPLITS)
    text += ("\n## Simulated user with changing facts (eval/bank_updates.py, no decay)\n\n"
             "| ranking | latest above outdated | MRR of latest | stable first |\n"
             "|---|---|---|---|\n" + "\n".join(sim) + "\n")
    out = ROOT / "eval" / "results" / "ablation" / "supersede.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

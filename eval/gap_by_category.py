"""Where a run's session recall falls short, per question category.

    python eval/gap_by_category.py /tmp/agentmem-whosaid-0/predictions.jsonl

Reads a harness run's ``predictions.jsonl`` (abstention questions and those without
gold sessions left out) and prints, per category: session R_all@5 and R_any@5, the mean
share of a question's evidence sessions in the top five, the mean number of evidence
sessions, the share with three or more, how many have more than five (out of reach at
k=5), and for the misses the rank of the last evidence session.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def main() -> None:
    rows = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines()]
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in rows:
        if not p["abstention"] and p["gold_session_ids"]:
            by[p["question_type"]].append(p)
    for cat, ps in sorted(by.items()):
        hit = any5 = over5 = 0
        share = 0.0
        golds: list[int] = []
        misses: Counter[str] = Counter()
        for p in ps:
            gold, ranked = set(p["gold_session_ids"]), p["ranked_session_ids"]
            ranks = [ranked.index(s) + 1 if s in ranked else 10**6 for s in gold]
            golds.append(len(gold))
            over5 += len(gold) > 5
            any5 += min(ranks) <= 5
            share += sum(r <= 5 for r in ranks) / len(gold)
            worst = max(ranks)
            if worst <= 5:
                hit += 1
            else:
                misses["6-10" if worst <= 10 else "11-20" if worst <= 20 else ">20"] += 1
        n = len(ps)
        print(f"{cat}: n={n} R_all@5={hit / n:.3f} R_any@5={any5 / n:.3f} "
              f"evidence sessions in top 5={share / n:.3f} mean evidence sessions="
              f"{sum(golds) / n:.2f} with >=3: {sum(g >= 3 for g in golds) / n:.2f} "
              f"with >5: {over5}; misses by the last one's rank: {dict(misses)}")


if __name__ == "__main__":
    main()

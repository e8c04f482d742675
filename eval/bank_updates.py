"""Does MemoryBank's decay help questions whose answer changed over time, and what does
it cost on facts that did not change? A synthetic user over 60 days.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bank_updates.py

The simulated user states 16 facts:
- 10 **change** once or twice ("My gym is Iron Temple." ... weeks later "I switched
  gyms, my gym is now Pulse Fitness.");
- 6 are stated once and **never change**.

Between the statements there is small talk every day (seeded, reproducible). On day 60
each fact is asked about ("What is my gym?"). For each ranking we report:
- updated facts: how often the latest statement ranks first, above the outdated ones
  (and the mean reciprocal rank of the latest);
- stable facts: how often the one statement ranks first.

Nothing is recalled in between: t runs from each statement to day 60. Five seeded
schedules (days of the statements and of the small talk) are averaged. Writes
eval/results/bank/updates.json.
"""

from __future__ import annotations

import json
import os
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Decay, Memory, SentenceTransformerEmbedder  # noqa: E402

START = datetime(2024, 1, 1, 9, 0)
ASK_DAY = 60
CHANGING = [  # (attribute, question, values in order)
    ("gym", "What is my gym?", ["Iron Temple", "Pulse Fitness"]),
    ("car", "What car do I drive?", ["a red Fiat Panda", "a blue Skoda Octavia"]),
    ("manager", "Who is my manager?", ["Helen Ortiz", "Marcus Lee", "Priya Nair"]),
    ("coffee shop", "Which coffee shop do I go to?", ["Bean There", "Kaffeeklatsch"]),
    ("phone", "What phone do I use?", ["a Pixel 6", "an iPhone 13"]),
    ("book", "What book am I reading?", ["Dune", "Middlemarch", "The Overstory"]),
    ("team", "Which team do I work on?", ["the payments team", "the search team"]),
    ("city", "Which city do I live in?", ["Leeds", "Bristol"]),
    ("dentist", "Who is my dentist?", ["Dr. Alvarez", "Dr. Kowalski"]),
    ("bike", "What bike do I ride?", ["a Brompton", "a Trek road bike"]),
]
STABLE = [
    ("sister", "What is my sister's name?", "My sister's name is Ingrid."),
    ("allergy", "What am I allergic to?", "I am allergic to shellfish."),
    ("birthday", "When is my birthday?", "My birthday is on the 14th of March."),
    ("pet", "What is my dog called?", "My dog is called Biscuit."),
    ("school", "Where did I study?", "I studied chemistry at Durham."),
    ("language", "Which language am I learning?", "I am learning Portuguese."),
]
SMALL_TALK = ["The weather was grey again today.", "I made pasta for dinner.",
              "Work was busy but fine.", "I watched a documentary about octopuses.",
              "I went for a long walk after lunch.", "The train was late this morning.",
              "I tidied the flat this evening.", "I called my parents tonight."]
VARIANTS: list[tuple[str, Decay | None]] = [
    ("no decay (relevance only)", None),
    ("decay weight 0.1, t in days", Decay(weight=0.1)),
    ("decay weight 0.3, t in days", Decay(weight=0.3)),
    ("decay weight 0.3, t in 30-day units", Decay(weight=0.3, unit=timedelta(days=30))),
    ("decay weight 0.5, t in 30-day units", Decay(weight=0.5, unit=timedelta(days=30))),
]


def script(seed: int = 0) -> list[tuple[int, str, tuple[str, int] | None]]:
    """(day, text, (fact, version) or None) statements, in time order."""
    rng = random.Random(seed)
    out: list[tuple[int, str, tuple[str, int] | None]] = []
    for attr, _, values in CHANGING:
        days = sorted(rng.sample(range(0, ASK_DAY - 3), len(values)))
        for v, (day, value) in enumerate(zip(days, values, strict=True)):
            text = (f"My {attr} is {value}." if v == 0 else
                    f"Update: my {attr} changed, it is now {value}.")
            out.append((day, text, (attr, v)))
    for attr, _, text in STABLE:
        out.append((rng.randrange(0, ASK_DAY - 3), text, (attr, 0)))
    for day in range(ASK_DAY):
        out.append((day, rng.choice(SMALL_TALK), None))
    return sorted(out, key=lambda x: (x[0], x[1]))


SEEDS = range(5)


def main() -> None:
    embedder = SentenceTransformerEmbedder()
    rows: list[dict[str, Any]] = []
    for label, decay in VARIANTS:
        latest_first = rr = stable_first = 0.0
        for seed in SEEDS:
            a, b, c = run(script(seed), decay, embedder)
            latest_first, rr, stable_first = latest_first + a, rr + b, stable_first + c
        n = len(SEEDS)
        row = {"ranking": label,
               "updated_latest_first": round(latest_first / (n * len(CHANGING)), 3),
               "updated_latest_mrr": round(rr / (n * len(CHANGING)), 3),
               "stable_first": round(stable_first / (n * len(STABLE)), 3)}
        rows.append(row)
        print(f"{label:<38} updated: latest ranks above outdated {row['updated_latest_first']:.2f}"
              f", MRR {row['updated_latest_mrr']:.3f}; stable first {row['stable_first']:.2f}",
              flush=True)
    out = ROOT / "eval" / "results" / "bank"
    out.mkdir(parents=True, exist_ok=True)
    (out / "updates.json").write_text(json.dumps({
        "command": "python eval/bank_updates.py", "ask_day": ASK_DAY, "seeds": len(SEEDS),
        "changing_facts": len(CHANGING), "stable_facts": len(STABLE), "rows": rows},
        indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out / 'updates.json'}")


def run(events: list[tuple[int, str, tuple[str, int] | None]], decay: Decay | None,
        embedder: SentenceTransformerEmbedder) -> tuple[float, float, float]:
    """(latest first, reciprocal rank of the latest, stable first), summed over facts."""
    with Memory(embedder=embedder, decay=decay) as mem:
        which: dict[str, tuple[str, int]] = {}
        for i, (day, text, fact) in enumerate(events):
            res = mem.add([{"role": "user", "content": text}], user_id="sim",
                          session_id=f"d{day}-{i}",
                          timestamp=START + timedelta(days=day, minutes=i))
            if fact is not None:
                which[res.unit_ids[0]] = fact
        ask = START + timedelta(days=ASK_DAY)
        latest_first = rr = stable_first = 0.0
        for attr, question, values in CHANGING:
            ranked = [which.get(i) for i, _ in mem.rank(question, user_id="sim", now=ask)]
            versions = [f for f in ranked if f is not None and f[0] == attr]
            latest = (attr, len(values) - 1)
            latest_first += versions[:1] == [latest]
            rr += 1 / (ranked.index(latest) + 1) if latest in ranked else 0.0
        for attr, question, _ in STABLE:
            ranked = [which.get(i) for i, _ in mem.rank(question, user_id="sim", now=ask)]
            stable_first += ranked[:1] == [(attr, 0)]
    return latest_first, rr, stable_first


if __name__ == "__main__":
    main()

"""MemoryBank's forgetting curve, simulated: one user over 30 days.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bank_simulation.py

Five memories are stored on days 0-4. On chosen days a question recalls some of them
through Memory.search (k=1), which reinforces the recalled memory: S + 1, and its clock
restarts. Memory.maintain runs every day at noon with the default threshold (0.05).
Every memory's retention exp(-t/S) is sampled every 3 hours. Writes
docs/img/retention.png (the curves, with recalls and archiving marked) and
retention.json (the recalls, the archive day of each memory, and the samples).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "img" / "retention.png"  # shown in docs/memorybank.md
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Decay, Memory  # noqa: E402
from agentmem.stores import bank  # noqa: E402

START = datetime(2024, 1, 1, 9, 0)
MEMORIES = [  # (day stored, text)
    (0, "My sister Ana lives in Porto."),
    (1, "I adopted a grey cat called Miso."),
    (2, "I am allergic to peanuts."),
    (3, "My favourite band is Radiohead."),
    (4, "I parked the car on level 3."),
]
RECALLS = [  # (day, question): each recalls the memory it is about
    (2, "Where does my sister live?"), (5, "Where does my sister live?"),
    (11, "Where does my sister live?"), (20, "Where does my sister live?"),
    (3, "What is my cat called?"), (9, "What is my cat called?"),
    (4, "What am I allergic to?"), (6, "What am I allergic to?"),
    (8, "What am I allergic to?"), (14, "What am I allergic to?"),
    (22, "What am I allergic to?"),
]
DAYS = 30


def main() -> None:
    out = ROOT / "eval" / "results" / "bank"
    out.mkdir(parents=True, exist_ok=True)
    decay = Decay()
    samples: dict[str, list[tuple[float, float]]] = {t: [] for _, t in MEMORIES}
    recalled: list[dict[str, object]] = []
    archived: dict[str, float] = {}
    with Memory(decay=decay) as mem:
        ids: dict[str, str] = {}
        events = sorted([(d, 0, "store", t) for d, t in MEMORIES]
                        + [(d, 1, "recall", q) for d, q in RECALLS])
        step = timedelta(hours=3)
        clock, cursor = START, 0
        while clock <= START + timedelta(days=DAYS):
            day = (clock - START) / timedelta(days=1)
            while cursor < len(events) and events[cursor][0] <= day:
                d, _, what, text = events[cursor]
                when = START + timedelta(days=d)
                if what == "store":
                    res = mem.add([{"role": "user", "content": text}], user_id="sim",
                                  session_id=f"day{d}", timestamp=when, now=when)
                    ids[text] = res.unit_ids[0]
                else:
                    [hit] = mem.search(text, user_id="sim", k=1, now=when,
                                       include_forgotten=True)
                    memory = next(t for t, i in ids.items() if i == hit.id)
                    recalled.append({"day": d, "question": text, "memory": memory,
                                     "strength_before": hit.strength,
                                     "retention_before": round(hit.retention or 0, 4)})
                    if memory in archived:  # an archived memory asked for comes back
                        mem.restore(hit.id, now=when)
                        del archived[memory]
                cursor += 1
            if clock.hour == 12 + 0 and clock.minute == 0:
                for uid in mem.maintain(now=clock, user_id="sim").archived:
                    archived[next(t for t, i in ids.items() if i == uid)] = day
            with mem.db.connect() as conn:
                found = bank.states(conn, list(ids.values()))
            for text, uid in ids.items():
                st = found[uid]
                samples[text].append((round(day, 3), round(bank.retention(
                    st.strength, st.last_recall, clock, decay.unit), 5)))
            clock += step
        final = {t: mem.history(i) for t, i in ids.items()}
    (out / "retention.json").write_text(json.dumps({
        "command": "python eval/bank_simulation.py", "decay": {
            "unit_days": decay.unit / timedelta(days=1), "threshold": decay.threshold},
        "recalls": recalled,
        "archived_on_day": {t: [e.at.isoformat() for e in ev if e.op == "archive"]
                            for t, ev in final.items()},
        "samples": samples}, indent=1) + "\n", encoding="utf-8")
    plot(samples, recalled, final, decay.threshold, FIGURE)
    for text in samples:
        arch = [e.at for e in final[text] if e.op == "archive"]
        when = f"archived on day {(arch[0] - START) / timedelta(days=1):.1f}" if arch \
            else "never archived"
        n = sum(1 for r in recalled if r["memory"] == text)
        print(f"{text:<40} recalled {n}x, {when}")
    print(f"wrote {FIGURE} and {out / 'retention.json'}")


def plot(samples: dict[str, list[tuple[float, float]]], recalled: list[dict[str, object]],
         history: dict[str, list[object]], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for text, pts in samples.items():
        (line,) = ax.plot([d for d, _ in pts], [r for _, r in pts], label=text)
        for r in recalled:
            if r["memory"] == text:
                ax.plot([r["day"]], [1.0], "v", color=line.get_color())
        for e in history[text]:
            if getattr(e, "op", None) == "archive":
                day = (e.at - START) / timedelta(days=1)  # type: ignore[attr-defined]
                ax.plot([day], [threshold], "x", color=line.get_color(), markersize=10)
    ax.axhline(threshold, color="grey", linestyle="--", linewidth=1,
               label=f"archive threshold {threshold}")
    ax.set_xlabel("day")
    ax.set_ylabel("retention exp(-t/S)")
    ax.set_title("MemoryBank forgetting curve: ▼ recall (S+1, clock reset), x archived")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()

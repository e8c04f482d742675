"""The ranking-parity fixture: a deterministic synthetic memory (three users, dated
sessions, thoughts, fact key rows from a scripted stand-in LLM, a forgetting curve)
and a set of queries over every mode and option. ``tests/test_ranking_parity.py``
compares today's rankings with ``ranking_golden.json``, recorded from the facade before
the strategy/pipeline refactor (commit a8d760b):

    PYTHONPATH=<tree at a8d760b> HF_HUB_OFFLINE=1 .venv/bin/python \\
        tests/data/ranking_parity.py --write tests/data/ranking_golden.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agentmem import Decay, Memory
from agentmem.llm.base import BaseLLM, Completion, LLMRequest
from agentmem.stores import KeyExpansion

#: the retrievers' raw scores a hit records (issue 18 added "fused" and "relevance")
RAW = ("dense", "lexical")

PLACES = ["Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Hanoi"]
PETS = ["a grey cat called Miso", "a beagle named Pico", "two goldfish", "a parrot, Kiwi"]
HOBBIES = ["pottery", "bouldering", "the cello", "sourdough baking", "chess", "kayaking"]
PEOPLE = ["Ana", "Bruno", "Chen", "Dara", "Emeka", "Farah"]


class FactStandIn(BaseLLM):
    """A scripted stand-in, not a model: answers every key-expansion prompt with one
    fact line built from the prompt's first words (deterministic)."""

    name = "fact-stand-in"

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        out = []
        for r in requests:
            words = [w for w in r.messages[-1]["content"].split() if w.isalpha()][-12:]
            out.append(Completion(text=json.dumps({
                "facts": [" ".join(words[:8]) or "nothing"], "keyphrases": words[:3],
                "summary": " ".join(words[:6])})))
        return out


def build(mem: Memory) -> None:
    """Three users' conversations (same seed, same memory)."""
    rng = random.Random(7)
    start = datetime(2023, 1, 2, 9, 0)
    for u, user in enumerate(["alice", "bob", "carol"]):
        for s in range(6):
            when = start + timedelta(days=17 * s + 3 * u, hours=s)
            place, pet = PLACES[(s + u) % 6], PETS[(s * 3 + u) % 4]
            hobby, person = HOBBIES[(s * 5 + u) % 6], PEOPLE[(s + 2 * u) % 6]
            lines = [
                f"I spent last weekend in {place} with {person}.",
                f"That sounds great! What did you do in {place}?",
                f"Mostly {hobby}; {person} talked about adopting {pet}.",
                "Did you decide anything about pets yourself?",
                f"Not yet. I also started {HOBBIES[(s + 1) % 6]} on "
                f"{(when - timedelta(days=2)).strftime('%A')}.",
                "Keep me posted about it.",
            ]
            rng.shuffle(lines[4:])
            msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                    for i, t in enumerate(lines)]
            mem.add(msgs, user_id=user, session_id=f"{user}-s{s}",
                    timestamp=when.isoformat(), now=when.isoformat())
        mem.add_thoughts([{"head": user, "relation": "lives in", "tail": PLACES[u],
                           "timestamp": (start + timedelta(days=40)).isoformat()},
                          {"head": user, "relation": "enjoys", "tail": HOBBIES[u]}],
                         user_id=user, timestamp=(start + timedelta(days=60)).isoformat())


QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    ("alice", "Where did I travel with Ana?", {}),
    ("alice", "What pet did someone want to adopt?", {"mode": "dense"}),
    ("alice", "pottery cello chess", {"mode": "lexical"}),
    ("bob", "What did I do in March?", {"now": "2023-06-01T00:00:00"}),
    ("bob", "What did I do in March?", {"now": "2023-06-01T00:00:00", "time_aware": False}),
    ("carol", "Which hobby did I start?", {"kinds": ["round"]}),
    ("carol", "Where do I live?", {"kinds": ["thought"]}),
    ("alice", "bouldering with Farah", {"candidates": 5}),
    ("bob", "weekend trip two weeks ago", {"now": "2023-02-01T00:00:00"}),
    ("carol", "kayaking", {"kinds": ["fact"]}),
]

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "rrf_no_session": {"fusion": "rrf", "session_weight": 0.0, "thought_weight": 0.5},
    "turns_keys_decay": {"granularity": "turn", "context_turns": 1,
                         "keys": "separate", "decay": True},
}


def rankings(root: Path, embedder: Any = None) -> dict[str, Any]:
    """Every config's memory built under ``root``, every query's ranking and hits."""
    out: dict[str, Any] = {}
    for name, cfg in CONFIGS.items():
        kwargs = dict(cfg)
        if kwargs.pop("keys", None):
            kwargs.update(llm=FactStandIn(), keys=KeyExpansion(mode="separate"))
        if kwargs.pop("decay", None):
            kwargs["decay"] = Decay()
        if "context_vectors" in inspect.signature(Memory).parameters:
            # keys embedded as one text, as the recorded rankings were (issue 20 made
            # composed key vectors the default: a deliberate ranking change)
            kwargs["context_vectors"] = "concatenated"
        with Memory(root / name, embedder=embedder, **kwargs) as mem:
            build(mem)
            for i, (user, query, opts) in enumerate(QUERIES):
                opts = {"now": "2023-07-01T00:00:00", **opts}  # the curve's clock
                rank = mem.rank(query, user_id=user, **opts)
                hits = mem.search(query, user_id=user, k=5, **opts)
                # ids are random per build: a candidate is named by its kind and text
                out[f"{name}/{i}"] = {
                    "rank": [[*_named(mem, uid), score] for uid, score in rank],
                    # the fused score (Hit.score until issue 18 made it a relevance)
                    # and the retrievers' raw scores
                    "hits": [[h.kind, h.text, h.scores.get("fused", h.score),
                              {k: v for k, v in h.scores.items() if k in RAW},
                              h.retention, h.strength] for h in hits]}
    return out


def _named(mem: Memory, uid: str) -> tuple[str, str]:
    try:
        unit = mem.get(uid)
        return unit.kind, unit.text
    except Exception:
        return "thought", mem.thought(uid).text


if __name__ == "__main__":
    import tempfile
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.write.write_text(json.dumps(rankings(Path(tmp)), indent=1, sort_keys=True))

"""Think-in-Memory thoughts: a knowledge update, a merge, the audit history, and search.

    python examples/thoughts.py                       # no LLM: thoughts given directly
    python examples/thoughts.py --llm vllm:/path/to/model   # the model post-thinks

Without ``--llm`` the thoughts are added with ``Memory.add_thoughts`` (as an app that
extracts them elsewhere would). With ``--llm`` the same exchanges are stored with
``Memory.add`` and the model writes the thoughts (post-thinking); what a small model
writes varies.
"""

from __future__ import annotations

import argparse

from agentmem import Memory, ThoughtConfig
from agentmem.llm import load_llm

EXCHANGES = [
    ("2023-05-01T09:00:00", "I live in Porto and bake sourdough every Sunday.",
     "Sunday baking sounds lovely!"),
    ("2023-05-08T09:00:00", "Baked my sourdough again this Sunday.", "Nice routine."),
    ("2023-06-02T18:30:00", "Big news: I moved to Lisbon last week!", "Congratulations!"),
]
THOUGHTS = [  # what post-thinking would write for each exchange
    [{"head": "Alice", "relation": "lives in", "tail": "Porto",
      "text": "Alice lives in Porto."},
     {"head": "Alice", "relation": "bakes", "tail": "sourdough",
      "text": "Alice bakes sourdough every Sunday."}],
    [{"head": "Alice", "relation": "bakes", "tail": "sourdough bread",
      "text": "Alice bakes sourdough bread each Sunday."}],
    [{"head": "Alice", "relation": "lives in", "tail": "Lisbon",
      "text": "Alice moved to Lisbon in May 2023."}],
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llm", metavar="SPEC", help="post-think with this model")
    args = ap.parse_args()
    llm = load_llm(args.llm) if args.llm else None
    with Memory(llm=llm, thoughts=ThoughtConfig()) as mem:
        for (when, question, answer), thoughts in zip(EXCHANGES, THOUGHTS, strict=True):
            added = mem.add([{"role": "user", "content": question, "name": "Alice"},
                             {"role": "assistant", "content": answer}],
                            user_id="alice", session_id=when[:10], timestamp=when)
            if llm is None:
                changes = mem.add_thoughts(
                    [{**t, "source_turn_ids": list(added.turn_ids)} for t in thoughts],
                    user_id="alice", timestamp=when)
                for c in changes:
                    note = f" (supersedes {len(c.superseded)})" if c.superseded else ""
                    print(f"{when[:10]}  {c.op:<9} {c.thought.text}{note}")
        print("\nActive thoughts:")
        for t in mem.thoughts("alice"):
            print(f"  {t.triple}  {t.text}  [{len(t.source_turn_ids)} source turns]")
        print("\nRetired thoughts and why:")
        for t in mem.thoughts("alice", status=["forgotten", "merged"]):
            last = mem.history(t.id)[-1]
            print(f"  {t.status:<9} {t.text}  -> {last.op} ({last.reason or 'n/a'})")
        print("\nQ: Where does Alice live now?")
        for hit in mem.search("Where does Alice live now?", user_id="alice", k=3):
            print(f"  [{hit.kind}] {hit.text.splitlines()[0]}  (score {hit.score:.4f})")
        print(f"\n{mem.stats().thoughts}")
    close = getattr(llm, "close", None)
    if callable(close):
        close()


if __name__ == "__main__":
    main()

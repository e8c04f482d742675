"""What ``Hit.score`` means and how filters narrow a search (docs/search.md).

    python examples/search_scores.py
"""

from __future__ import annotations

from agentmem import Memory


def main() -> None:
    with Memory() as mem:  # in memory; the packaged MiniLM embedder
        mem.add([{"role": "user", "content": "I adopted a grey cat called Miso.",
                  "metadata": {"topic": "pets"}},
                 {"role": "assistant", "content": "Lovely name!"}],
                user_id="alice", session_id="s1", timestamp="2024-01-05")
        mem.add([{"role": "user", "content": "I like jazz on vinyl.",
                  "metadata": {"topic": "music"}}],
                user_id="alice", session_id="s2", timestamp="2024-02-10")

        for query in ("I adopted a grey cat called Miso.", "music",
                      "quantum chromodynamics lecture"):
            hit = mem.search(query, user_id="alice", k=1)[0]
            raw = ", ".join(f"{k}={v:.3f}" for k, v in sorted(hit.scores.items()))
            print(f"{query!r}: score {hit.score:.3f} ({raw})")

        kept = mem.search("what do I like", user_id="alice", min_score=0.3)
        print("min_score=0.3 keeps:", [h.text.splitlines()[0] for h in kept])
        for kw in ({"session_id": "s2"}, {"since": "2024-02-01"},
                   {"roles": ["assistant"]}, {"metadata": {"topic": {"$in": ["pets"]}}}):
            hits = mem.search("cat or jazz", user_id="alice", **kw)  # type: ignore[arg-type]
            print(f"{kw}: {[h.session_id for h in hits]}")


if __name__ == "__main__":
    main()

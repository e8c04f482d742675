"""Threads adding at once lose nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from agentmem import Memory, SentenceTransformerEmbedder


def test_two_threads_adding_lose_nothing(mem_path: Path,
                                         embedder: SentenceTransformerEmbedder) -> None:
    errors: list[BaseException] = []
    with Memory(mem_path, embedder=embedder) as mem:
        def worker(name: str) -> None:
            try:
                for i in range(25):
                    # same session from both threads too: positions must not collide
                    mem.add([{"role": "user", "content": f"{name} says thing {i}"},
                             {"role": "assistant", "content": f"ok {name} {i}"}],
                            user_id="shared", session_id=f"{name}-{i % 5}")
                    mem.add([{"role": "user", "content": f"{name} note {i}"}],
                            user_id="shared", session_id="common")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("left", "right")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        stats = mem.stats()
        assert stats.turns == 2 * 25 * 3
        assert stats.pending_index_repairs == 0
        common = [h for h in mem.search("note", user_id="shared", k=60, mode="lexical")
                  if h.session_id == "common"]
        positions = sorted(t.position for h in common for t in h.turns)
        assert positions == list(range(50))
    with Memory(mem_path, embedder=embedder) as mem:
        assert mem.stats().turns == 150

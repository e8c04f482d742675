"""The ``supersede`` ranking stage (issue 20): for a question about the present, the
newest of conflicting statements comes first when it says something changed. Real
SQLite, Chroma and MiniLM; the same memory searched with the stage on and off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem import InvalidInput, Memory, SentenceTransformerEmbedder
from agentmem.ranking.supersede import asks_about_the_past, says_it_changed

STATEMENTS = [
    ("2024-01-03T09:00", "My gym is Iron Temple."),
    ("2024-01-10T09:00", "I made pasta for dinner."),
    ("2024-02-14T09:00", "Update: my gym changed, it is now Pulse Fitness."),
    ("2024-02-20T09:00", "The weather was grey again today."),
    ("2024-03-01T09:00", "My car is a red Fiat Panda."),
    ("2024-03-20T09:00", "My car is a blue Skoda Octavia."),
]


@pytest.fixture(scope="module")
def memories(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
             ) -> Iterator[tuple[Memory, Memory]]:
    path = tmp_path_factory.mktemp("supersede") / "m"
    with Memory(path, embedder=embedder) as mem:
        for i, (when, text) in enumerate(STATEMENTS):
            mem.add([{"role": "user", "content": text}], user_id="u", session_id=f"s{i}",
                    timestamp=when)
    with Memory(path, embedder=embedder) as on, \
            Memory(path, embedder=embedder, supersede=False) as off:
        yield on, off


def _first(mem: Memory, query: str, among: str) -> str:
    return next(h.text for h in mem.search(query, user_id="u", k=6, now="2024-04-01")
                if among in h.text)


def test_the_statement_of_change_comes_first(memories: tuple[Memory, Memory]) -> None:
    on, off = memories
    assert "Iron Temple" in _first(off, "What is my gym?", "gym")  # relevance alone
    assert "Pulse Fitness" in _first(on, "What is my gym?", "gym")


def test_past_questions_and_statements_without_a_change_are_left_alone(
        memories: tuple[Memory, Memory]) -> None:
    on, off = memories
    for query in ("What was my gym before?", "What car do I drive?"):
        assert [h.id for h in on.search(query, user_id="u", k=6, now="2024-04-01")] == \
            [h.id for h in off.search(query, user_id="u", k=6, now="2024-04-01")], query


def test_the_cues() -> None:
    assert asks_about_the_past("When did I move?") and asks_about_the_past("What was it?")
    assert not asks_about_the_past("Where do I live now?")
    assert says_it_changed("I switched gyms") and says_it_changed("it is now Pulse")
    assert not says_it_changed("My gym is Iron Temple.")


def test_the_setting_is_checked(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInput) as info:
        Memory(tmp_path / "x", embedder=embedder, supersede="yes")  # type: ignore[arg-type]
    assert info.value.field == "supersede"

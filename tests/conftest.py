"""Shared fixtures. Everything here is real: SQLite, Chroma and the packaged
all-MiniLM-L6-v2 embedder (loaded once per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agentmem import Memory, SentenceTransformerEmbedder


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture
def mem(embedder: SentenceTransformerEmbedder) -> Iterator[Memory]:
    with Memory(embedder=embedder) as m:
        yield m


@pytest.fixture
def mem_path(tmp_path: Path) -> Path:
    return tmp_path / "memdata"


def conversation() -> list[tuple[str, str, list[dict[str, str]]]]:
    """(session_id, timestamp, messages) of a small two-session chat."""
    return [
        ("s1", "2023-05-20T10:00:00", [
            {"role": "user", "content": "I just moved to Lisbon for a new job at a bakery."},
            {"role": "assistant", "content": "Congratulations on the move and the job!"},
            {"role": "user", "content": "My sister Ana is visiting next month."},
            {"role": "assistant", "content": "That will be fun, show her the city."},
        ]),
        ("s2", "2023/06/02 (Fri) 18:30", [
            {"role": "user", "content": "I adopted a grey cat called Miso yesterday."},
            {"role": "assistant", "content": "Miso is a lovely name for a cat."},
        ]),
    ]


def fill(memory: Memory, user_id: str = "alice") -> None:
    for sid, ts, msgs in conversation():
        memory.add(msgs, user_id=user_id, session_id=sid, timestamp=ts)

"""The strategy protocol's edges: what Memory checks of the strategies it is given,
what a failed open leaves, the argument checks' order, the write path's follow-ups.
Real SQLite and Chroma; the hashing embedder is a stand-in for speed (named so)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentmem import ConfigError, InvalidInput, Memory, Summaries
from agentmem.embed.hashing import HashingEmbedder
from agentmem.ext import Candidates, Stage, Strategy
from agentmem.stores import KeyExpansion

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from pinned_notes import PinnedNotes


class _Clash(Strategy):
    """A strategy whose stage takes a built-in stage's name."""

    name = "clash"

    class _Fuse:
        name = "fuse"

        def run(self, c: Candidates) -> list[tuple[str, float]]:
            return c.order

    def stages(self) -> Sequence[Stage]:
        return (self._Fuse(),)


def test_a_failed_open_releases_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'fuse'"):
        Memory(tmp_path / "m", embedder=HashingEmbedder(), strategies=[_Clash()])
    with Memory(tmp_path / "m", embedder=HashingEmbedder()) as mem:  # not locked
        assert mem.stats().users == 0


def test_strategy_names_and_instances_are_checked(tmp_path: Path) -> None:
    class Dense(Strategy):
        name = "dense"

    with pytest.raises(InvalidInput, match="'dense' is taken"):
        Memory(embedder=HashingEmbedder(), strategies=[Dense()])
    with pytest.raises(InvalidInput, match="strategies"):
        Memory(embedder=HashingEmbedder(), strategies=None)  # type: ignore[arg-type]
    pins = PinnedNotes()
    with Memory(embedder=HashingEmbedder(), strategies=[pins]), \
            pytest.raises(InvalidInput, match="belongs to another memory"):
        Memory(embedder=HashingEmbedder(), strategies=[pins])


def test_a_memory_used_with_a_strategy_needs_it_again(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder=HashingEmbedder(),
                strategies=[PinnedNotes()]) as mem:
        mem.strategy(PinnedNotes).pin("alice", "a note forget_user must reach")
    with pytest.raises(ConfigError, match="'pinned'"):
        Memory(tmp_path / "m", embedder=HashingEmbedder())
    with Memory(tmp_path / "m", embedder=HashingEmbedder(),
                strategies=[PinnedNotes()]) as mem:
        assert mem.forget_user("alice") == 0
        assert mem.stats().strategies["pinned"] == {"notes": 0}


def test_argument_checks_keep_their_order() -> None:
    # keys without an LLM is reported before a bad summaries (as it always was)
    with pytest.raises(ConfigError, match="keys"):
        Memory(keys=KeyExpansion(), summaries="daily")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="summaries"):
        Memory(summaries=Summaries(), thoughts="x")  # type: ignore[arg-type]
    with Memory(embedder=HashingEmbedder()) as mem:
        with pytest.raises(InvalidInput) as rank:
            mem.rank("q", user_id="u", candidates=0, now="not a date")
        assert rank.value.field == "candidates"
        with pytest.raises(InvalidInput) as search:
            mem.search("q", user_id="u", candidates=0, now="not a date")
        assert search.value.field == "now"


def test_deleting_nothing_leaves_the_file_alone(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with Memory(tmp_path / "m", embedder=HashingEmbedder()) as mem:
        mem.add([{"role": "user", "content": "hello"}], user_id="u", session_id="s")
        scrubs: list[Any] = []
        real = mem.db.scrub

        def counted(**kw: Any) -> None:  # a spy on the real scrub
            scrubs.append(kw)
            real(**kw)

        monkeypatch.setattr(mem.db, "scrub", counted)
        assert mem.delete_session("u", "no such session") == 0
        assert scrubs == []
        assert mem.delete_session("u", "s") == 1
        assert scrubs == [{"vacuum": True}]


def test_a_closed_memory_still_describes_itself(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "m", embedder=HashingEmbedder(), granularity="turn")
    mem.close()
    mem.close()  # idempotent
    assert repr(mem) == f"Memory({str(tmp_path / 'm')!r}, granularity='turn')"
    assert mem.db is not None


def test_a_trace_follows_each_hit_through_every_stage() -> None:
    with Memory(embedder=HashingEmbedder()) as mem:
        for i, text in enumerate(["I moved to Lisbon in May.", "My cat is called Miso.",
                                  "Lisbon has steep hills and trams."]):
            mem.add([{"role": "user", "content": text},
                     {"role": "assistant", "content": "Noted."}],
                    user_id="u", session_id=f"s{i}", timestamp=f"2024-05-0{i + 1}T10:00")
        mem.add_thoughts([{"head": "u", "relation": "lives in", "tail": "Lisbon"}],
                         user_id="u")
        stages = ["fuse", "load_info", "merge_key_rows", "filter_kinds", "session_context",
                  "fuse_thoughts", "time_aware", "supersede"]
        hits = mem.search("Lisbon", user_id="u", k=3, trace=True)
        for n, hit in enumerate(hits, start=1):
            assert [s.stage for s in hit.trace] == stages
            assert hit.trace[-1].rank_after == n
            assert hit.trace[-1].score_after == pytest.approx(hit.scores["fused"])
        thought = next(h for h in hits if h.kind == "thought")
        assert thought.trace[0].rank_before is None  # it joins at the thoughts' fusion
        assert all(s.rank_after is None for s in thought.trace[:5])
        assert thought.trace[5].rank_after is not None
        assert mem.search("Lisbon", user_id="u", k=1)[0].trace == ()  # off by default
        # a kinds filter applies before the retrievers (issue 18): no unit is a
        # candidate, so the trace holds the thought alone
        ranking = mem.ranking("Lisbon", user_id="u", kinds=["thought"], trace=True)
        assert not ranking.scores["dense"] and not ranking.scores["lexical"]
        assert set(ranking.trace) == {thought.id}
        assert [i for i, _ in ranking.order] == [thought.id]
        assert set(ranking.scores) >= {"dense", "lexical", "thoughts"}

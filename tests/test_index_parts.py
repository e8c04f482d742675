"""The lexical index (real SQLite FTS5) and reciprocal-rank fusion."""

from __future__ import annotations

import sqlalchemy as sa

from agentmem.index import FtsIndex, reciprocal_rank_fusion
from agentmem.index.lexical import fts_query, owner_token, query_words


def _index(budget: int) -> tuple[sa.Engine, FtsIndex]:
    engine = sa.create_engine("sqlite://")
    return engine, FtsIndex(engine, budget=budget)


def test_query_words_drop_stopwords_but_never_everything() -> None:
    assert query_words("What did Caroline paint, and when?") == ["caroline", "paint"]
    assert query_words("Who are you?") == ["who", "are", "you"]
    assert query_words("!!!") == []
    assert fts_query([], "uabc") is None
    assert fts_query(['say "hi"'], "uabc") == 'owner : "uabc" AND text : ("say ""hi""")'


def test_bm25_ranks_and_scopes_to_the_owner() -> None:
    engine, fts = _index(budget=10_000)
    with engine.begin() as conn:
        ids = fts.add(conn, [("alice", "Caroline painted a sunrise over the lake"),
                             ("alice", "Caroline went hiking"),
                             ("bob", "Caroline painted sunrise sunrise sunrise")])
        assert ids == [1, 2, 3]
        found = fts.search(conn, "alice", "What did Caroline paint at sunrise?", 10)
        assert [r for r, _ in found] == [1, 2]           # stemming: paint ~ painted
        assert found[0][1] > found[1][1] > 0
        assert fts.search(conn, "carol", "Caroline", 10) == []
        fts.delete(conn, [1])
        assert [r for r, _ in fts.search(conn, "alice", "sunrise", 10)] == []


def test_budget_keeps_the_rarest_words() -> None:
    engine, fts = _index(budget=3)
    with engine.begin() as conn:
        fts.add(conn, [("u", "cats were painting"), ("u", "cats and a sunrise"),
                       ("u", "cats and a dog"), ("u", "painting class"), ("v", "cats painting")])
        words = query_words("Which cats painted the sunrise?")
        # document frequencies: cat 4, paint 3, sunris 1 -> only 'sunrise' fits in 3
        assert fts.select_words(conn, words) == ["sunrise"]
        assert [r for r, _ in fts.search(conn, "u", "Which cats painted the sunrise?", 5)] == [2]
    engine, fts = _index(budget=100)
    with engine.begin() as conn:
        fts.add(conn, [("u", "cats were painting"), ("u", "a sunrise")])
        assert fts.select_words(conn, ["cats", "painted", "sunrise"]) == [
            "cats", "painted", "sunrise"]
    assert owner_token("u") != owner_token("U")


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b"]
    assert abs(fused[0][1] - (1 / 61 + 1 / 62)) < 1e-12
    assert reciprocal_rank_fusion([["x", "y"], []]) == [("x", 1 / 61), ("y", 1 / 62)]

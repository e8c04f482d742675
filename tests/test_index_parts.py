"""The lexical index (real SQLite FTS5) and reciprocal-rank fusion."""

from __future__ import annotations

import pytest
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


def test_score_fusion_z_normalises_and_uses_floors() -> None:
    from agentmem.index import score_fusion

    dense = {"a": 0.9, "b": 0.5, "c": 0.1}
    lexical = {"c": 12.0, "b": 1.0}  # "a" has no lexical match: floor 0
    fused = dict(score_fusion([dense, lexical], floors=[0.1, 0.0]))
    # by hand: dense z over (a, b, c) = (0.9, 0.5, 0.1) -> (1.2247, 0, -1.2247);
    # lexical z over (0, 1, 12) -> mean 4.333, std 5.437 -> (-0.797, -0.613, 1.410)
    assert fused["a"] == pytest.approx(1.2247 - 0.7970, abs=1e-3)
    assert fused["b"] == pytest.approx(0.0 - 0.6131, abs=1e-3)
    assert fused["c"] == pytest.approx(-1.2247 + 1.4101, abs=1e-3)
    assert [i for i, _ in score_fusion([dense, lexical], floors=[0.1, 0.0])] == ["a", "c", "b"]
    # weights scale each retriever; a constant retriever adds nothing
    assert [i for i, _ in score_fusion([dense, {"a": 1.0, "b": 1.0, "c": 1.0}],
                                       floors=[0, 0])] == ["a", "b", "c"]
    assert score_fusion([{}, {}], floors=[0, 0]) == []
    with pytest.raises(ValueError, match="one per retriever"):
        score_fusion([dense], floors=[0, 0])


def test_session_context_lifts_units_of_a_matching_session() -> None:
    from agentmem.index import session_context

    fused = [("a1", 3.0), ("b1", 2.5), ("b2", 2.4), ("b3", 2.3), ("a2", 0.0)]
    session_of = {"a1": "A", "a2": "A", "b1": "B", "b2": "B", "b3": "B"}
    out = session_context(fused, session_of, weight=1.0)
    # A's bonus: mean(3.0, 0.0) = 1.5; B's: mean(2.5, 2.4, 2.3) = 2.4
    assert out[0] == ("b1", pytest.approx(4.9)) and out[-1] == ("a2", pytest.approx(1.5))
    assert [i for i, _ in out] == ["b1", "b2", "b3", "a1", "a2"]
    assert session_context(fused, session_of, weight=0.0) == fused
    # a unit of unknown session keeps its score
    assert dict(session_context([("x", 1.0)], {}, weight=1.0)) == {"x": 1.0}

"""The deterministic time-expression parser on a table of expressions anchored to fixed
dates, and time-aware re-ranking."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from agentmem import Memory, SentenceTransformerEmbedder, TimeRange
from agentmem.storage import repository as repo
from agentmem.storage.schema import units
from agentmem.temporal import find_time_ranges, question_time_range, time_aware_order

SAT = datetime(2023, 5, 20, 10, 0)  # a Saturday
WED = datetime(2024, 1, 10, 18, 30)  # a Wednesday, early in a year


def d(y: int, m: int, day: int) -> date:
    return date(y, m, day)


@pytest.mark.parametrize(("text", "anchor", "start", "end"), [
    ("I went hiking last Saturday.", SAT, d(2023, 5, 13), d(2023, 5, 13)),
    ("We met on Friday", SAT, d(2023, 5, 19), d(2023, 5, 19)),
    ("next Monday", SAT, d(2023, 5, 22), d(2023, 5, 22)),
    ("this past Sunday", WED, d(2024, 1, 7), d(2024, 1, 7)),
    ("yesterday was fun", SAT, d(2023, 5, 19), d(2023, 5, 19)),
    ("last night", WED, d(2024, 1, 9), d(2024, 1, 9)),
    ("the day before yesterday", SAT, d(2023, 5, 18), d(2023, 5, 18)),
    ("today", SAT, d(2023, 5, 20), d(2023, 5, 20)),
    ("tomorrow", WED, d(2024, 1, 11), d(2024, 1, 11)),
    ("two weeks ago", SAT, d(2023, 5, 3), d(2023, 5, 9)),
    ("3 days ago", WED, d(2024, 1, 7), d(2024, 1, 7)),
    ("a month ago", SAT, d(2023, 4, 5), d(2023, 5, 5)),
    ("a few days ago", SAT, d(2023, 5, 16), d(2023, 5, 18)),
    ("a year ago", WED, d(2022, 7, 10), d(2023, 7, 10)),
    ("in May", SAT, d(2023, 5, 1), d(2023, 5, 31)),
    ("in December", WED, d(2023, 12, 1), d(2023, 12, 31)),  # nearest December
    ("in March", WED, d(2024, 3, 1), d(2024, 3, 31)),
    ("early March", SAT, d(2023, 3, 1), d(2023, 3, 10)),
    ("late June 2021", SAT, d(2021, 6, 20), d(2021, 6, 30)),
    ("on 5 May 2023", SAT, d(2023, 5, 5), d(2023, 5, 5)),
    ("May 5th, 2022", SAT, d(2022, 5, 5), d(2022, 5, 5)),
    ("the 14th of February", WED, d(2024, 2, 14), d(2024, 2, 14)),
    ("in 2022", SAT, d(2022, 1, 1), d(2022, 12, 31)),
    ("2023-04-01", WED, d(2023, 4, 1), d(2023, 4, 1)),
    ("last week", SAT, d(2023, 5, 8), d(2023, 5, 14)),
    ("this week", WED, d(2024, 1, 8), d(2024, 1, 14)),
    ("last weekend", WED, d(2024, 1, 6), d(2024, 1, 7)),
    ("last month", WED, d(2023, 12, 1), d(2023, 12, 31)),
    ("next year", SAT, d(2024, 1, 1), d(2024, 12, 31)),
    ("the past two weeks", SAT, d(2023, 5, 6), d(2023, 5, 20)),
    ("in the last month", WED, d(2023, 12, 10), d(2024, 1, 10)),
    ("last summer", SAT, d(2022, 6, 1), d(2022, 8, 31)),
    ("this summer", SAT, d(2023, 6, 1), d(2023, 8, 31)),
    ("last winter", SAT, d(2022, 12, 1), d(2023, 2, 28)),
])
def test_expressions_resolve_against_the_anchor(text: str, anchor: datetime, start: date,
                                                end: date) -> None:
    [r] = find_time_ranges(text, anchor)
    assert (r.start.date(), r.end.date()) == (start, end)
    assert r.text and r.text.lower() in text.lower()


@pytest.mark.parametrize("text", [
    "May I ask you something?", "I'll march on", "I ran 2000 meters", "Call me at 5",
    "Monday-itis is real", "she has a sister named April", "one of the days",
])
def test_no_time_is_read_where_there_is_none(text: str) -> None:
    assert find_time_ranges(text, SAT) == []


def test_a_consumed_expression_is_not_read_twice() -> None:
    found = find_time_ranges("The day before yesterday, and on May 5, 2023 too.", SAT)
    assert [r.text for r in found] == ["The day before yesterday", "on May 5, 2023"]


def test_question_range_spans_every_expression() -> None:
    r = question_time_range("What did I do between last Saturday and yesterday?", SAT)
    assert r is not None and (r.start.date(), r.end.date()) == (d(2023, 5, 13), d(2023, 5, 19))
    assert question_time_range("Where does Alice live?", SAT) is None
    # relative expressions next to a calendar date are read against that date
    r = question_time_range("What did Maria do last weekend before April 10, 2023?", SAT)
    assert r is not None and (r.start.date(), r.end.date()) == (d(2023, 4, 8), d(2023, 4, 10))


def test_reranking_moves_in_range_items_ahead_and_drops_none() -> None:
    day = TimeRange(datetime(2023, 5, 10), datetime(2023, 5, 10, 23, 59))
    events = {
        "a": [TimeRange(datetime(2023, 1, 1), datetime(2023, 1, 1))],
        "b": [TimeRange(datetime(2023, 5, 12), datetime(2023, 5, 12))],  # inside +2 days
        "c": [],
        "d": [TimeRange(datetime(2023, 5, 13), datetime(2023, 5, 13))],  # 3 days out
        "e": [TimeRange(datetime(2023, 5, 1), datetime(2023, 5, 31))],  # overlaps
    }
    assert time_aware_order(["a", "b", "c", "d", "e"], events, day) == [
        "b", "e", "a", "c", "d"]
    assert time_aware_order(["a", "c"], events, day) == ["a", "c"]
    assert time_aware_order(["d", "a"], events, day, widen_days=3) == ["d", "a"]


def test_time_range_checks_its_order() -> None:
    with pytest.raises(ValueError, match="before start"):
        TimeRange(datetime(2023, 5, 2), datetime(2023, 5, 1))


def test_units_in_period_can_be_asked_about_the_candidates_only(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """Time-aware ranking asks about its candidates, not every unit of the period: at
    100k units dated in one month, reading them all took 130-480 ms per search
    (issue 20). Dated by timestamp and by an event in the text."""
    with Memory(tmp_path / "m", embedder=embedder, granularity="turn",
                context_turns=0) as mem:
        mem.add([{"role": "user", "content": f"note {i}"} for i in range(6)],
                user_id="u", session_id="may", timestamp="2023-05-20T10:00:00")
        mem.add([{"role": "user", "content": "I went hiking on 14 May 2023."},
                 {"role": "user", "content": "nothing dated"}],
                user_id="u", session_id="june", timestamp="2023-06-20T10:00:00")
        period = TimeRange(start=datetime(2023, 5, 1), end=datetime(2023, 5, 31, 23, 59))
        with mem._engine.db.connect() as conn:
            ids = {r.text.split(": ", 1)[1]: r.id for r in conn.execute(
                sa.select(units.c.id, units.c.text).where(units.c.user_id == "u"))}
            every = repo.units_in_period(conn, "u", period)
            among = [ids["note 1"], ids["note 4"], ids["I went hiking on 14 May 2023."],
                     ids["nothing dated"]]
            asked = repo.units_in_period(conn, "u", period, among=among)
            other = repo.units_in_period(conn, "other", period, among=among)
    assert every == {ids[f"note {i}"] for i in range(6)} | {
        ids["I went hiking on 14 May 2023."]}
    assert asked == {ids["note 1"], ids["note 4"], ids["I went hiking on 14 May 2023."]}
    assert other == set()


def test_a_key_rows_date_counts_for_its_parent_among_candidates(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    """A separate key row (an LLM's fact with a date the unit's text does not spell
    out) puts its parent in the period, when the candidates name the parent."""
    from conftest import ScriptedStandInLLM

    from agentmem.stores import KeyExpansion

    facts = json.dumps({"facts": ["Ana went hiking on 14 May 2023."], "keyphrases": [],
                        "summary": ""})
    with Memory(tmp_path / "m", embedder=embedder, llm=ScriptedStandInLLM([facts]),
                keys=KeyExpansion(mode="separate"), granularity="turn") as mem:
        res = mem.add([{"role": "user", "content": "We went up the mountain, finally."}],
                      user_id="u", session_id="s", timestamp="2023-06-20T10:00:00")
        parent = res.unit_ids[0]
        period = TimeRange(start=datetime(2023, 5, 1), end=datetime(2023, 5, 31, 23, 59))
        with mem._engine.db.connect() as conn:
            kinds = {r.kind for r in conn.execute(sa.select(units.c.kind))}
            assert kinds == {"turn", "key"}
            assert repo.units_in_period(conn, "u", period, among=[parent]) == {parent}
            assert repo.units_in_period(conn, "u", period) == {parent}

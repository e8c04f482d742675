"""MemoryBank's forgetting curve on real SQLite, Chroma and the packaged embedder: the
formula (and the reference code's mistake), reinforcement with a fixed clock, ranking
with decay, deterministic archiving, restore, the audit history and deletion."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import fill

from agentmem import ConfigError, Decay, InvalidInput, Memory, NotFound
from agentmem.storage.schema import memory_log, unit_strength
from agentmem.stores.bank import retention

T0 = datetime(2024, 3, 1, 9, 0)
DAY = timedelta(days=1)


def test_retention_is_exp_minus_t_over_s() -> None:
    assert retention(1, T0, T0) == 1.0
    assert retention(1, T0, T0 + DAY) == pytest.approx(math.exp(-1))
    assert retention(2, T0, T0 + 5 * DAY) == pytest.approx(math.exp(-2.5))
    # the public reference code's exp(-t / 5*S) = exp(-(t/5)*S) would give exp(-2) here
    assert retention(2, T0, T0 + 5 * DAY) != pytest.approx(math.exp(-2.0))
    # stronger memories fade more slowly, never faster
    assert retention(3, T0, T0 + 2 * DAY) > retention(2, T0, T0 + 2 * DAY) > retention(
        1, T0, T0 + 2 * DAY)
    assert retention(1, T0, T0 + 12 * timedelta(hours=1), unit=timedelta(hours=12)) == \
        pytest.approx(math.exp(-1))
    assert retention(1, T0 + DAY, T0) == 1.0  # a clock before the last recall: no decay


def _chat(m: Memory, user: str = "u") -> dict[str, str]:
    ids = {}
    for topic, text in [("cat", "I adopted a grey cat called Miso."),
                        ("job", "I started a new job at the bakery."),
                        ("trip", "I am planning a trip to Japan in May.")]:
        res = m.add([{"role": "user", "content": text}], user_id=user, session_id=topic,
                    timestamp=T0, now=T0)
        ids[topic] = res.unit_ids[0]
    return ids


def test_a_recall_reinforces_with_a_fixed_clock(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, decay=Decay(weight=0.0)) as m:
        ids = _chat(m)
        [hit] = m.search("What is my cat called?", user_id="u", k=1, now=T0 + DAY)
        assert hit.id == ids["cat"]
        assert (hit.strength, hit.retention) == (1, pytest.approx(math.exp(-1)))
        # recalled at T0+1d: S=2, its clock restarted there
        [hit] = m.search("What is my cat called?", user_id="u", k=1, now=T0 + 2 * DAY)
        assert (hit.strength, hit.retention) == (2, pytest.approx(math.exp(-1 / 2)))
        [hit] = m.search("What is my cat called?", user_id="u", k=1, now=T0 + 4 * DAY)
        assert (hit.strength, hit.retention) == (3, pytest.approx(math.exp(-2 / 3)))
        # rank() reads without recalling
        m.rank("What is my cat called?", user_id="u", now=T0 + 5 * DAY)
        with m.db.connect() as conn:
            s = conn.execute(sa.select(unit_strength.c.strength).where(
                unit_strength.c.unit_id == ids["cat"])).scalar()
        assert s == 4
    with Memory(embedder=embedder) as m:  # no decay: nothing tracked or shown
        _chat(m)
        [hit] = m.search("What is my cat called?", user_id="u", k=1)
        assert hit.retention is None and hit.strength is None


def test_ranking_weighs_retention_by_the_configured_rule(embedder) -> None:  # type: ignore[no-untyped-def]
    query = "Tell me about my plans and my pets"
    with Memory(embedder=embedder) as plain:
        _chat(plain)
        relevance = [h.text for h in plain.search(query, user_id="u", k=3, now=T0)]
    with Memory(embedder=embedder, decay=Decay(weight=0.0)) as m:
        _chat(m)
        assert [h.text for h in m.search(query, user_id="u", k=3, now=T0)] == relevance
    with Memory(embedder=embedder, decay=Decay(weight=1.0)) as m:
        ids = _chat(m)
        # the job memory is recalled twice: it is the freshest and strongest
        m.search("Where do I work?", user_id="u", k=1, now=T0 + 3 * DAY)
        m.search("Where do I work?", user_id="u", k=1, now=T0 + 5 * DAY)
        hits = m.search(query, user_id="u", k=3, now=T0 + 6 * DAY)
        assert hits[0].id == ids["job"]
        assert hits[0].retention is not None and hits[1].retention is not None
        assert hits[0].retention > hits[1].retention


def test_maintain_archives_below_the_threshold_deterministically_and_restores(
        embedder) -> None:  # type: ignore[no-untyped-def]
    def run() -> tuple[Memory, dict[str, str]]:
        m = Memory(embedder=embedder, decay=Decay(threshold=0.1))
        ids = _chat(m)
        m.search("What is my cat called?", user_id="u", k=1, now=T0 + DAY)  # cat: S=2
        return m, ids

    m, ids = run()
    with m:
        # at T0+3d: job and trip (S=1, t=3) are at e^-3 = 0.0498 < 0.1; cat (S=2,
        # t=2) at e^-1 = 0.37
        done = m.maintain(now=T0 + 3 * DAY)
        assert set(done.archived) == {ids["job"], ids["trip"]} and done.checked == 3
        assert done.retention[ids["job"]] == pytest.approx(math.exp(-3))
        assert m.maintain(now=T0 + 3 * DAY).archived == ()  # already archived
        found = [h.id for h in m.search("Where do I work?", user_id="u", k=3,
                                        now=T0 + 3 * DAY)]
        assert ids["job"] not in found and ids["cat"] in found
        every = [h.id for h in m.search("Where do I work?", user_id="u", k=3,
                                        now=T0 + 3 * DAY, include_forgotten=True)]
        assert every[0] == ids["job"]
        events = m.history(ids["job"])
        assert [e.op for e in events] == ["archive"]
        assert events[0].detail["strength"] == 1 and "below 0.1" in events[0].reason
        m.restore(ids["job"], now=T0 + 4 * DAY)
        assert [e.op for e in m.history(ids["job"])] == ["archive", "restore"]
        assert m.search("Where do I work?", user_id="u", k=1, now=T0 + 4 * DAY)[0].id == \
            ids["job"]
        with pytest.raises(InvalidInput, match="not archived"):
            m.restore(ids["job"])
        with pytest.raises(NotFound):
            m.restore("nope")
    other, ids2 = run()  # the same history archives the same units: no coin flips
    with other:
        assert set(other.maintain(now=T0 + 3 * DAY).archived) == {ids2["job"], ids2["trip"]}


def test_a_curve_starts_at_the_unit_timestamp_without_now(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, decay=Decay()) as m:
        fill(m)  # dated 2023-05-20 and 2023-06-02, no now=
        done = m.maintain(now=datetime(2023, 6, 3), user_id="alice")
        assert done.checked == 3
        assert len(done.archived) == 2  # the May session faded; yesterday's did not


def test_deletion_purges_strengths_and_history(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, decay=Decay()) as m:
        ids = _chat(m)
        m.maintain(now=T0 + 10 * DAY)
        m.delete(ids["cat"])
        with pytest.raises(NotFound):
            m.history(ids["cat"])
        m.forget_user("u")
        with m.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(unit_strength)
                                ).scalar() == 0
            assert conn.execute(sa.select(sa.func.count()).select_from(memory_log)
                                ).scalar() == 0


def test_bad_decay_settings_and_maintain_without_decay(mem: Memory) -> None:
    with pytest.raises(ConfigError, match="maintain needs"):
        mem.maintain()
    for bad in ({"weight": 1.5}, {"threshold": -0.1}, {"unit": timedelta(0)}):
        with pytest.raises(ConfigError):
            Decay(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="decay"):
        Memory(decay="fast")  # type: ignore[arg-type]


def test_harness_decay_options_are_checked() -> None:
    from agentmem.eval import RunConfig

    assert RunConfig("locomo", decay_weight=0.3).as_dict()["decay_weight"] == 0.3
    with pytest.raises(ConfigError, match="weight"):
        RunConfig("locomo", decay_weight=2.0)
    with pytest.raises(ConfigError, match="unit"):
        RunConfig("locomo", decay_weight=0.3, decay_days=0)


def test_a_round_completed_later_keeps_its_strength(embedder) -> None:  # type: ignore[no-untyped-def]
    with Memory(embedder=embedder, decay=Decay(weight=0.0)) as m:
        m.add([{"role": "user", "content": "I adopted a grey cat called Miso."}],
              user_id="u", session_id="s", timestamp=T0, now=T0)
        m.search("What is my cat called?", user_id="u", k=1, now=T0 + DAY)  # S=2
        res = m.add([{"role": "assistant", "content": "Lovely name!"}], user_id="u",
                     session_id="s", timestamp=T0 + DAY, now=T0 + DAY)
        [hit] = m.search("What is my cat called?", user_id="u", k=1, now=T0 + 2 * DAY)
        assert hit.id == res.unit_ids[0] and hit.strength == 2

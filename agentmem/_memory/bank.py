"""MemoryBank in the :class:`~agentmem.Memory` facade: the forgetting curve in ranking,
reinforcement of recalled units, ``maintain`` / ``restore``, and the daily summaries,
global summary and portrait (``summarize`` / ``profile``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import ConfigError, InvalidInput, NotFound
from ..inputs import check_id
from ..storage.schema import turns, units, users
from ..stores import UnitDraft, bank
from ..stores.bank import MaintenanceResult
from ..stores.summaries import GLOBAL_SESSION, Profile, day_session, parse_day
from ..temporal import parse_timestamp, utcnow
from ..types import Hit

if TYPE_CHECKING:
    from ..memory import Memory


def decayed(memory: Memory, conn: sa.Connection, fused: list[tuple[str, float]],
            anchor: datetime | None, include_forgotten: bool) -> list[tuple[str, float]]:
    """The ranking with MemoryBank's forgetting: archived units leave (unless
    ``include_forgotten``), and each unit's retention at ``anchor`` (default: UTC now)
    weighs in."""
    assert memory.decay is not None
    found = bank.states(conn, [i for i, _ in fused])
    if not include_forgotten:
        fused = [f for f in fused if f[0] not in found
                 or found[f[0]].archived_at is None]
    when = anchor or utcnow()
    return bank.combine(fused, {
        i: bank.retention(st.strength, st.last_recall, when, memory.decay.unit)
        for i, st in found.items()}, memory.decay.weight)


def recall(memory: Memory, user_id: str, hits: list[Hit], now: datetime) -> list[Hit]:
    """MemoryBank: the units returned are recalled (S + 1, clock reset); their hits
    show the retention and strength they had when found."""
    assert memory.decay is not None
    ids = [h.id for h in hits if h.kind != "thought"]
    if not ids:
        return hits
    if memory.read_only:  # found, not reinforced: nothing can be written
        with memory.db.connect() as conn:
            found = bank.states(conn, ids)
    else:  # its own lock, not the memory's: a search never waits for an add
        with memory._recall_lock, memory.db.begin() as conn:
            found = bank.states(conn, ids)
            bank.reinforce(conn, user_id, {i: found[i] for i in ids if i in found}, now)
    return [replace(h, strength=found[h.id].strength, retention=bank.retention(
                found[h.id].strength, found[h.id].last_recall, now, memory.decay.unit))
            if h.id in found else h for h in hits]


def maintain(memory: Memory, *, now: str | datetime | None = None,
             user_id: str | None = None) -> MaintenanceResult:
    """:meth:`Memory.maintain`."""
    memory._check_open()
    if memory.decay is None:
        raise ConfigError("maintain needs Memory(decay=Decay(...))")
    when = utcnow() if now is None else parse_timestamp(now, field="now")
    with memory._lock, memory.db.begin() as conn:
        owners = [check_id(user_id, "user_id")] if user_id is not None else list(
            conn.execute(sa.select(users.c.id).order_by(users.c.id)).scalars())
        results = [bank.archive(conn, u, memory.decay, when) for u in owners]
    return MaintenanceResult(
        checked=sum(r.checked for r in results),
        archived=tuple(i for r in results for i in r.archived),
        retention={i: v for r in results for i, v in r.retention.items()})


def restore(memory: Memory, id: str, *, now: str | datetime | None = None) -> None:
    """:meth:`Memory.restore`."""
    memory._check_open()
    id = check_id(id, "id")
    when = utcnow() if now is None else parse_timestamp(now, field="now")
    with memory._lock, memory.db.begin() as conn:
        owner = conn.execute(sa.select(units.c.user_id).where(units.c.id == id)).scalar()
        if owner is None:
            raise NotFound(f"no memory unit with id {id!r}")
        st = bank.states(conn, [id])[id]
        if st.archived_at is None:
            raise InvalidInput("id", f"unit {id!r} is not archived")
        bank.restore(conn, owner, id, st, when)


def summarize(memory: Memory, user_id: str, *, before: date | None = None) -> int:
    """:meth:`Memory.summarize`."""
    memory._check_open()
    if memory.summarizer is None:
        raise ConfigError("summarize needs Memory(llm=..., summaries=Summaries())")
    user_id = check_id(user_id, "user_id")
    with memory.db.connect() as conn:
        by_day: dict[date, list[Any]] = defaultdict(list)
        for r in conn.execute(sa.select(turns).where(turns.c.user_id == user_id)
                              .order_by(turns.c.timestamp, turns.c.session_id,
                                        turns.c.position)):
            by_day[r.timestamp.date()].append(r)
        seen = {r.session_id: r.position for r in conn.execute(
            sa.select(units.c.session_id, units.c.position).where(
                units.c.user_id == user_id, units.c.store == "bank",
                units.c.kind == "summary"))}
    stale = [d for d in sorted(by_day) if (before is None or d < before)
             and seen.get(day_session(d)) != len(by_day[d])]
    if not stale and (GLOBAL_SESSION in seen or not by_day or before is not None):
        return 0
    found = memory.summarizer.daily([(d, "\n".join(
        f"{r.name or r.role}: {r.content}" for r in by_day[d])) for d in stale])
    done = [(d, f) for d, f in zip(stale, found, strict=True) if f is not None]
    with memory._lock:
        # turns deleted (or added) while the LLM wrote: that summary is not kept, so
        # no deleted text comes back; the next summarize redoes the day
        now_by_day: dict[date, int] = defaultdict(int)
        with memory.db.connect() as conn:
            for (stamp,) in conn.execute(sa.select(turns.c.timestamp).where(
                    turns.c.user_id == user_id)):
                now_by_day[stamp.date()] += 1
        done = [(d, f) for d, f in done if now_by_day.get(d, 0) == len(by_day[d])]
        for d, f in done:
            replace_bank_units(memory, user_id, day_session(d), len(by_day[d]),
                                     datetime.combine(d, datetime.min.time()),
                                     f["summary"], f["personality"])
    if done or GLOBAL_SESSION not in seen:
        days = memory.profile(user_id).days
        overall = memory.summarizer.overall(days) if days else None
        if overall is not None:
            with memory._lock:
                if set(memory.profile(user_id).days) != set(days):
                    return len(done)  # a day changed meanwhile: next time
                replace_bank_units(memory,
                    user_id, GLOBAL_SESSION, sum(len(v) for v in by_day.values()),
                    max(datetime.combine(d, datetime.min.time()) for d, _, _ in days),
                    overall["summary"], overall["portrait"])
    return len(done)


def replace_bank_units(memory: Memory, user_id: str, session_id: str, seen: int,
                       when: datetime, summary: str, note: str) -> None:
    """The summary (kind ``summary``) and note (kind ``portrait``) units of one
    bank session, replacing the old ones; ``seen`` turns covered."""
    with memory.db.begin() as conn:
        old = list(conn.execute(sa.select(units.c.id).where(
            units.c.user_id == user_id, units.c.store == "bank",
            units.c.session_id == session_id)).scalars())
        memory._erase(conn, memory._drop_units(conn, old))
        memory._insert_units(conn, user_id, session_id, "bank", [
            UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text, timestamp=when,
                      position=seen, turns=())
            for kind, text in (("summary", summary), ("portrait", note)) if text])
    memory._sync_index()


def profile(memory: Memory, user_id: str) -> Profile:
    """:meth:`Memory.profile`."""
    memory._check_open()
    user_id = check_id(user_id, "user_id")
    with memory.db.connect() as conn:
        rows = conn.execute(sa.select(units.c.session_id, units.c.kind, units.c.text)
                            .where(units.c.user_id == user_id,
                                   units.c.store == "bank")).all()
    texts = {(r.session_id, r.kind): r.text for r in rows}
    days = sorted({d for r in rows if (d := parse_day(r.session_id)) is not None})
    return Profile(
        user_id=user_id, summary=texts.get((GLOBAL_SESSION, "summary"), ""),
        portrait=texts.get((GLOBAL_SESSION, "portrait"), ""),
        days=tuple((d, texts.get((day_session(d), "summary"), ""),
                    texts.get((day_session(d), "portrait"), "")) for d in days))

"""MemoryBank as a strategy: each unit's strength on the Ebbinghaus forgetting curve
(started when the unit is written, carried when it is re-derived, reinforced when a
search returns it, weighed in ranking, archived by ``maintain``), and the daily
summaries, global summary and user portrait written by the LLM."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from .._core.engine import Engine, WriteTx
from ..errors import ConfigError, InvalidInput, NotFound
from ..inputs import check_id
from ..ranking import Candidates, RecallQuery, Stage
from ..ranking.base import Order
from ..storage.schema import turns, units, users
from ..stores import bank
from ..stores.bank import Decay, MaintenanceResult
from ..stores.base import UnitDraft
from ..stores.summaries import (
    GLOBAL_SESSION,
    Profile,
    Summaries,
    Summarizer,
    day_session,
    parse_day,
)
from ..temporal import parse_timestamp, utcnow
from ..types import Hit
from .base import AfterWrite, DeleteScope, Strategy, WriteBatch

__all__ = ["Forgetting", "MemoryBank"]


@dataclass(frozen=True)
class Forgetting:
    """Ranking stage: archived units leave (unless the query includes forgotten
    ones), and each unit's retention ``exp(-t / S)`` at the query's time weighs in."""

    decay: Decay
    name: str = "decay"
    position: float = 60

    def run(self, c: Candidates) -> Order:
        """The order re-ranked by relevance and retention."""
        conn, fused = c.reader.conn, c.order
        found = bank.states(conn, [i for i, _ in fused])
        if not c.query.include_forgotten:
            fused = [f for f in fused if f[0] not in found
                     or found[f[0]].archived_at is None]
        when = c.query.anchor or utcnow()
        return bank.combine(fused, {
            i: bank.retention(st.strength, st.last_recall, when, self.decay.unit)
            for i, st in found.items()}, self.decay.weight)


class MemoryBank(Strategy):
    """MemoryBank with ``decay`` (the forgetting curve; None: off) and ``summaries``
    (daily summaries and portrait; need the memory's LLM; None: off)."""

    name = "bank"
    label = "summaries"
    summarizer: Summarizer | None

    def __init__(self, decay: Decay | None = None, summaries: Summaries | None = None
                 ) -> None:
        if decay is not None and not isinstance(decay, Decay):
            raise InvalidInput("decay", "must be a Decay (or None)")
        if summaries is not None and not isinstance(summaries, Summaries):
            raise InvalidInput("summaries", "must be a Summaries (or None)")
        self.decay = decay
        self.summaries = summaries
        self.requires_llm = ("summaries: summaries and the portrait need an LLM (llm=...)"
                             if summaries is not None else None)

    def open(self, engine: Engine) -> None:
        """The summarizer (with summaries and an LLM)."""
        super().open(engine)
        #: reinforcement's own lock, not the write lock: a search never waits for an
        #: add (reinforcement is a side effect of reading, outside the write path)
        self.recall_lock = threading.Lock()
        self.summarizer = Summarizer(engine.llm, self.summaries) if (
            self.summaries is not None and engine.llm is not None) else None

    # -- the forgetting curve ---------------------------------------------------------

    def on_units(self, tx: WriteTx, user_id: str, added: Sequence[UnitDraft],
                 replaced: Sequence[str]) -> Callable[[], None] | None:
        """New units start their curve at the write's ``now``; a unit re-derived with
        new turns keeps its place on the curve."""
        if self.decay is None:
            return None
        carried = bank.states(tx.conn, replaced) if replaced else {}

        def then() -> None:
            if tx.now is not None:
                bank.start(tx.conn, user_id, [d.id for d in added], tx.now)
            if carried and added:
                bank.carry(tx.conn, user_id, added[0].id, carried.values())
        return then

    def stages(self) -> Sequence[Stage]:
        """The forgetting curve in ranking (with decay)."""
        return (Forgetting(self.decay),) if self.decay is not None else ()

    def on_recalled(self, hits: list[Hit], query: RecallQuery) -> list[Hit]:
        """The units returned are recalled (S + 1, clock reset); their hits show the
        retention and strength they had when found."""
        if self.decay is None:
            return hits
        now = query.anchor or utcnow()
        ids = [h.id for h in hits if h.kind != "thought"]
        if not ids:
            return hits
        engine = self.engine
        if engine.read_only:  # found, not reinforced: nothing can be written
            with engine.db.connect() as conn:
                found = bank.states(conn, ids)
        else:  # its own lock, not the memory's: a search never waits for an add
            with self.recall_lock, engine.db.begin() as conn:
                found = bank.states(conn, ids)
                bank.reinforce(conn, query.user_id, {i: found[i] for i in ids if i in found},
                               now)
        unit = self.decay.unit
        return [replace(h, strength=found[h.id].strength, retention=bank.retention(
                    found[h.id].strength, found[h.id].last_recall, now, unit))
                if h.id in found else h for h in hits]

    def maintain(self, *, now: str | datetime | None = None, user_id: str | None = None
                 ) -> MaintenanceResult:
        """:meth:`Memory.maintain`."""
        self.engine.check_open()
        if self.decay is None:
            raise ConfigError("maintain needs Memory(decay=Decay(...))")
        when = utcnow() if now is None else parse_timestamp(now, field="now")
        with self.engine.write(sync=False) as tx:
            conn = tx.conn
            owners = [check_id(user_id, "user_id")] if user_id is not None else list(
                conn.execute(sa.select(users.c.id).order_by(users.c.id)).scalars())
            results = [bank.archive(conn, u, self.decay, when) for u in owners]
        return MaintenanceResult(
            checked=sum(r.checked for r in results),
            archived=tuple(i for r in results for i in r.archived),
            retention={i: v for r in results for i, v in r.retention.items()})

    def restore(self, id: str, *, now: str | datetime | None = None) -> None:
        """:meth:`Memory.restore`."""
        self.engine.check_open()
        id = check_id(id, "id")
        when = utcnow() if now is None else parse_timestamp(now, field="now")
        with self.engine.write(sync=False) as tx:
            conn = tx.conn
            owner = conn.execute(sa.select(units.c.user_id).where(units.c.id == id)).scalar()
            if owner is None:
                raise NotFound(f"no memory unit with id {id!r}")
            st = bank.states(conn, [id])[id]
            if st.archived_at is None:
                raise InvalidInput("id", f"unit {id!r} is not archived")
            bank.restore(conn, owner, id, st, when)

    # -- summaries and portrait -------------------------------------------------------

    def on_write(self, tx: WriteTx, batch: WriteBatch) -> AfterWrite | None:
        """With automatic summaries: a day is summarised once a later day has
        begun."""
        if self.summarizer is None or not self.summarizer.config.auto:
            return None
        before = min(t.timestamp for t in batch.turns).date()
        return lambda: self.summarize(batch.user_id, before=before)

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """The summaries that may repeat deleted turns go (their days' and the global
        ones; rebuilt by the next :meth:`summarize`)."""
        if not scope.whole_user:
            tx.drop_units(sorted(stale_summaries(tx.conn, scope.turn_ids)))
        return ()

    def summarize(self, user_id: str, *, before: date | None = None) -> int:
        """:meth:`Memory.summarize`."""
        engine = self.engine
        engine.check_open()
        if self.summarizer is None:
            raise ConfigError("summarize needs Memory(llm=..., summaries=Summaries())")
        user_id = check_id(user_id, "user_id")
        with engine.db.connect() as conn:
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
        found = self.summarizer.daily([(d, "\n".join(
            f"{r.name or r.role}: {r.content}" for r in by_day[d])) for d in stale])
        done = [(d, f) for d, f in zip(stale, found, strict=True) if f is not None]
        with engine.lock:
            # turns deleted (or added) while the LLM wrote: that summary is not kept, so
            # no deleted text comes back; the next summarize redoes the day
            now_by_day: dict[date, int] = defaultdict(int)
            with engine.db.connect() as conn:
                for (stamp,) in conn.execute(sa.select(turns.c.timestamp).where(
                        turns.c.user_id == user_id)):
                    now_by_day[stamp.date()] += 1
            done = [(d, f) for d, f in done if now_by_day.get(d, 0) == len(by_day[d])]
            for d, f in done:
                self._replace(user_id, day_session(d), len(by_day[d]),
                              datetime.combine(d, datetime.min.time()),
                              f["summary"], f["personality"])
        if done or GLOBAL_SESSION not in seen:
            days = self.profile(user_id).days
            overall = self.summarizer.overall(days) if days else None
            if overall is not None:
                with engine.lock:
                    if set(self.profile(user_id).days) != set(days):
                        return len(done)  # a day changed meanwhile: next time
                    self._replace(
                        user_id, GLOBAL_SESSION, sum(len(v) for v in by_day.values()),
                        max(datetime.combine(d, datetime.min.time()) for d, _, _ in days),
                        overall["summary"], overall["portrait"])
        return len(done)

    def _replace(self, user_id: str, session_id: str, seen: int, when: datetime,
                 summary: str, note: str) -> None:
        """The summary (kind ``summary``) and note (kind ``portrait``) units of one
        bank session, replacing the old ones; ``seen`` turns covered."""
        with self.engine.write() as tx:
            old = list(tx.conn.execute(sa.select(units.c.id).where(
                units.c.user_id == user_id, units.c.store == "bank",
                units.c.session_id == session_id)).scalars())
            tx.erase(tx.drop_units(old))
            tx.insert_units(user_id, session_id, "bank", [
                UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text, timestamp=when,
                          position=seen, turns=())
                for kind, text in (("summary", summary), ("portrait", note)) if text])

    def profile(self, user_id: str) -> Profile:
        """:meth:`Memory.profile`."""
        self.engine.check_open()
        user_id = check_id(user_id, "user_id")
        with self.engine.db.connect() as conn:
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

    def stats(self, conn: Any) -> dict[str, int]:
        """``llm_failures``: summaries the LLM failed to write."""
        return {"llm_failures": self.summarizer.failures} if self.summarizer else {}


def stale_summaries(conn: sa.Connection, turn_ids: Sequence[str]) -> set[str]:
    """The MemoryBank summary units that may repeat these turns: their days' and
    the global ones (rebuilt by the next :meth:`Memory.summarize`)."""
    if not turn_ids:
        return set()
    rows = conn.execute(sa.select(turns.c.user_id, turns.c.timestamp).where(
        turns.c.id.in_(list(turn_ids)))).all()
    wanted = {(r.user_id, day_session(r.timestamp.date())) for r in rows} | {
        (r.user_id, GLOBAL_SESSION) for r in rows}
    found: set[str] = set()
    for user, session in wanted:
        found.update(conn.execute(sa.select(units.c.id).where(
            units.c.user_id == user, units.c.store == "bank",
            units.c.session_id == session)).scalars())
    return found

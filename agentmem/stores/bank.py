"""MemoryBank's forgetting curve over the memory's units (Zhong et al., AAAI 2024).

Every unit has a strength ``S`` (1 at first mention) and a last-recall time. Its
retention is ``R = exp(-t / S)`` with ``t`` the time since the last recall in
:attr:`Decay.unit` (days by default). Recalling a unit, i.e. returning it in the top
``k`` of :meth:`Memory.search`, adds 1 to ``S`` and resets ``t``, so a memory recalled
more often fades more slowly.

The public reference code computes ``exp(-t / 5*S)``, which is ``exp(-(t/5)·S)``. Under
that, stronger memories fade faster. It also forgets by coin flip. Here the formula is
the paper's, and forgetting is deterministic: :meth:`Memory.maintain` archives every
unit whose retention is below :attr:`Decay.threshold`. An archived unit stays in SQL,
leaves search results (unless ``include_forgotten=True``) and can be restored. Each
archive and restore is in the audit log (:meth:`Memory.history`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..errors import ConfigError
from ..storage.schema import memory_log, unit_strength, units

__all__ = ["Decay", "MaintenanceResult", "Strength", "combine", "retention"]

_CHUNK = 500
KEPT_KINDS: tuple[str, ...] = ("summary", "portrait")  # never archived


def retention(strength: float, last_recall: datetime, now: datetime,
              unit: timedelta = timedelta(days=1)) -> float:
    """``exp(-t / S)``: ``t`` the time from ``last_recall`` to ``now`` in ``unit``s
    (0 if ``now`` is earlier), ``S`` the strength."""
    if strength <= 0:
        raise ValueError(f"strength must be > 0, got {strength!r}")
    t = max(0.0, (now - last_recall) / unit)
    return math.exp(-t / strength)


@dataclass(frozen=True)
class Decay:
    """MemoryBank's forgetting, turned on with ``Memory(decay=Decay())``.

    - ``unit``: the time unit of ``t`` (default one day).
    - ``weight``: how much retention counts in ranking: the units' fused relevance
      is min-max scaled to [0, 1] over the candidates, and a unit's score becomes
      ``(1 - weight) · relevance + weight · retention``. 0 ranks by relevance alone
      (retention is still tracked and shown).
    - ``threshold``: :meth:`Memory.maintain` archives units with retention below it.
      At 0.05 that is about 3 units of time after the last recall at S=1, and 6 at S=2.
    """

    unit: timedelta = timedelta(days=1)
    weight: float = 0.3
    threshold: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.unit, timedelta) or self.unit <= timedelta(0):
            raise ConfigError(f"unit: must be a positive timedelta, got {self.unit!r}")
        for name, low, high in (("weight", 0.0, 1.0), ("threshold", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not low <= value <= high:
                raise ConfigError(f"{name}: must be a number in [{low}, {high}], "
                                  f"got {value!r}")


@dataclass(frozen=True)
class Strength:
    """A unit's place on its forgetting curve."""

    strength: int
    last_recall: datetime
    archived_at: datetime | None = None


@dataclass(frozen=True)
class MaintenanceResult:
    """What :meth:`Memory.maintain` did: the units it archived (with their retention)
    and how many it checked."""

    checked: int
    archived: tuple[str, ...] = ()
    retention: dict[str, float] = field(default_factory=dict)


def combine(fused: list[tuple[str, float]], kept: dict[str, float], weight: float
            ) -> list[tuple[str, float]]:
    """Re-rank ``fused`` (id, relevance) by ``(1 - weight) · scaled relevance + weight
    · retention`` for the ids in ``kept`` (id → retention); others keep retention 1."""
    if not fused or weight == 0:
        return fused
    scores = [s for _, s in fused]
    low, high = min(scores), max(scores)
    span = high - low
    out = [(i, (1 - weight) * ((s - low) / span if span else 1.0)
            + weight * kept.get(i, 1.0)) for i, s in fused]
    order = sorted(range(len(out)), key=lambda j: -out[j][1])  # stable on ties
    return [out[j] for j in order]


def states(conn: sa.Connection, ids: Iterable[str]) -> dict[str, Strength]:
    """Stored strengths of those ``ids`` that have one, plus each other existing unit
    at S=1 since its own timestamp."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, Strength] = {}
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        for r in conn.execute(sa.select(units.c.id, units.c.timestamp,
                                        unit_strength.c.strength, unit_strength.c.last_recall,
                                        unit_strength.c.archived_at)
                              .join(unit_strength, unit_strength.c.unit_id == units.c.id,
                                    isouter=True)
                              .where(units.c.id.in_(part))):
            out[r.id] = Strength(r.strength or 1, r.last_recall or r.timestamp,
                                 r.archived_at)
    return out


def _upsert(conn: sa.Connection, user_id: str, unit_id: str, values: dict[str, Any]
            ) -> None:
    done = conn.execute(sa.update(unit_strength).where(
        unit_strength.c.unit_id == unit_id).values(**values))
    if not done.rowcount:
        row = {"strength": 1, "archived_at": None, **values}
        conn.execute(sa.insert(unit_strength).values(unit_id=unit_id, user_id=user_id, **row))


def start(conn: sa.Connection, user_id: str, unit_ids: Sequence[str], when: datetime
          ) -> None:
    """New units: S=1, their clock starting at ``when``."""
    if unit_ids:
        conn.execute(sa.insert(unit_strength), [
            {"unit_id": u, "user_id": user_id, "strength": 1, "last_recall": when,
             "archived_at": None} for u in unit_ids])


def carry(conn: sa.Connection, user_id: str, unit_id: str, old: Iterable[Strength]
          ) -> None:
    """A unit that replaces others (a round completed by its reply) takes their
    strongest strength and latest recall; new turns are a new mention, so it is not
    archived."""
    old = list(old)
    if old:
        _upsert(conn, user_id, unit_id, {
            "strength": max(s.strength for s in old),
            "last_recall": max(s.last_recall for s in old), "archived_at": None})


def reinforce(conn: sa.Connection, user_id: str, found: dict[str, Strength],
              now: datetime) -> None:
    """Recalled units: S + 1, last recall ``now``."""
    for uid, st in found.items():
        _upsert(conn, user_id, uid, {"strength": st.strength + 1, "last_recall": now})


def archive(conn: sa.Connection, user_id: str, decay: Decay, now: datetime
            ) -> MaintenanceResult:
    """Archive ``user_id``'s active units below the threshold, oldest first."""
    ids = list(conn.execute(sa.select(units.c.id).where(  # summaries and portraits stay
        units.c.user_id == user_id, units.c.parent_id.is_(None),
        units.c.kind.not_in(KEPT_KINDS)).order_by(units.c.timestamp, units.c.id)).scalars())
    found = states(conn, ids)
    low: dict[str, float] = {}
    for uid in ids:
        st = found[uid]
        if st.archived_at is not None:
            continue
        r = retention(st.strength, st.last_recall, now, decay.unit)
        if r < decay.threshold:
            low[uid] = r
            _upsert(conn, user_id, uid, {"strength": st.strength,
                                         "last_recall": st.last_recall, "archived_at": now})
            conn.execute(sa.insert(memory_log).values(
                memory_id=uid, user_id=user_id, op="archive", at=now, other_id=None,
                reason=f"retention {r:.4f} below {decay.threshold}",
                detail={"retention": r, "strength": st.strength,
                        "last_recall": st.last_recall.isoformat()}))
    return MaintenanceResult(checked=len(ids), archived=tuple(low), retention=low)


def restore(conn: sa.Connection, user_id: str, unit_id: str, st: Strength, now: datetime
            ) -> None:
    """Bring an archived unit back; a restore counts as a recall (its clock restarts)."""
    _upsert(conn, user_id, unit_id, {"strength": st.strength, "last_recall": now,
                                     "archived_at": None})
    conn.execute(sa.insert(memory_log).values(
        memory_id=unit_id, user_id=user_id, op="restore", at=now, other_id=None,
        reason="restored", detail={"strength": st.strength}))


def archived(conn: sa.Connection, ids: Iterable[str]) -> set[str]:
    """Those of ``ids`` that are archived."""
    wanted = list(dict.fromkeys(ids))
    out: set[str] = set()
    for start_ in range(0, len(wanted), _CHUNK):
        out.update(conn.execute(sa.select(unit_strength.c.unit_id).where(
            unit_strength.c.unit_id.in_(wanted[start_ : start_ + _CHUNK]),
            unit_strength.c.archived_at.is_not(None))).scalars())
    return out

"""Reads and writes of the episodic log and the units derived from it.

Functions take an open connection so callers decide the transaction boundaries.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..types import MemoryUnit, TimeRange, Turn
from .schema import (
    index_tombstones,
    memory_log,
    sessions,
    store_items,
    thoughts,
    turns,
    unit_events,
    unit_strength,
    unit_turns,
    units,
    users,
)

KEY_KIND = "key"

__all__ = [
    "KEY_KIND",
    "UnitInfo",
    "unit_info",
    "DeletedUnit",
    "delete_turns",
    "delete_units",
    "ensure_session",
    "ensure_user",
    "existing_turn_ids",
    "insert_turns",
    "insert_units",
    "load_turns",
    "load_turns_by_id",
    "load_units",
    "next_position",
    "session_tail",
    "turn_at",
    "user_turns",
]

_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


@dataclass(frozen=True)
class DeletedUnit:
    """What must follow a unit's deletion outside SQL."""

    id: str
    user_id: str
    store: str
    lex_rowid: int | None
    content_hash: str
    key_hash: str | None = None


def insert_missing(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
                   ) -> None:
    """Insert rows, skipping those whose primary key exists (also when another process
    inserts it at the same moment): ``ON CONFLICT DO NOTHING`` on SQLite and
    PostgreSQL, a check first elsewhere."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), list(rows))
        return
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), list(rows))
        return
    keys = [c.name for c in table.primary_key.columns]
    for row in rows:
        clause = sa.and_(*(table.c[k] == row[k] for k in keys))
        if conn.execute(sa.select(*table.primary_key.columns).where(clause)).first() is None:
            conn.execute(sa.insert(table).values(**row))


def lock_session(conn: sa.Connection, user_id: str, session_id: str) -> None:
    """Serialise writers of one session until the transaction ends, so what a write
    reads of the session (its next position, its tail) cannot change under it.
    SQLite files already hold the database's write lock (``BEGIN IMMEDIATE``); on
    PostgreSQL this takes a transaction-scoped advisory lock on the session."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.blake2b(f"{user_id}\x00{session_id}".encode(), digest_size=8)
        key = int.from_bytes(digest.digest(), "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def ensure_user(conn: sa.Connection, user_id: str, now: datetime) -> None:
    """Create the user row if absent."""
    insert_missing(conn, users, [{"id": user_id, "created_at": now}])


def ensure_session(
    conn: sa.Connection, user_id: str, session_id: str, started_at: datetime
) -> None:
    """Create the session row if absent; keep its start at the earliest turn."""
    row = conn.execute(
        sa.select(sessions.c.started_at).where(
            sessions.c.user_id == user_id, sessions.c.id == session_id
        )
    ).first()
    if row is None:
        insert_missing(conn, sessions, [{"user_id": user_id, "id": session_id,
                                         "started_at": started_at}])
    elif started_at < row[0]:
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.id == session_id)
            .values(started_at=started_at)
        )


def next_position(conn: sa.Connection, user_id: str, session_id: str) -> int:
    """Position for the next turn of a session."""
    top = conn.execute(
        sa.select(sa.func.max(turns.c.position)).where(
            turns.c.user_id == user_id, turns.c.session_id == session_id
        )
    ).scalar()
    return 0 if top is None else int(top) + 1


def turn_at(conn: sa.Connection, user_id: str, session_id: str, position: int
            ) -> Turn | None:
    """The session's turn at ``position``, if any."""
    row = conn.execute(sa.select(turns).where(
        turns.c.user_id == user_id, turns.c.session_id == session_id,
        turns.c.position == position)).first()
    return _turn(row) if row is not None else None


def existing_turn_ids(conn: sa.Connection, user_id: str, turn_ids: Sequence[str]) -> set[str]:
    """Those of ``turn_ids`` that are turns of ``user_id``."""
    found: set[str] = set()
    for part in _chunks(list(turn_ids)):
        found.update(conn.execute(sa.select(turns.c.id).where(
            turns.c.id.in_(part), turns.c.user_id == user_id)).scalars())
    return found


def insert_turns(conn: sa.Connection, new: Sequence[Turn]) -> None:
    """Insert turns (their session and user rows must exist)."""
    if new:
        conn.execute(
            sa.insert(turns),
            [
                {
                    "id": t.id,
                    "user_id": t.user_id,
                    "session_id": t.session_id,
                    "position": t.position,
                    "role": t.role,
                    "name": t.name,
                    "content": t.content,
                    "timestamp": t.timestamp,
                    "metadata": t.metadata,
                }
                for t in new
            ],
        )


def _turn(row: Any) -> Turn:
    return Turn(
        id=row.id,
        user_id=row.user_id,
        session_id=row.session_id,
        position=row.position,
        role=row.role,
        content=row.content,
        timestamp=row.timestamp,
        name=row.name,
        metadata=dict(row.metadata or {}),
    )


def load_turns_by_id(conn: sa.Connection, turn_ids: Sequence[str]) -> list[Turn]:
    """The turns with these ids (missing ones are absent)."""
    out: list[Turn] = []
    for part in _chunks(list(turn_ids)):
        out.extend(_turn(r) for r in conn.execute(sa.select(turns).where(turns.c.id.in_(part))))
    return out


def user_turns(conn: sa.Connection, user_id: str, *, session_id: str | None = None
               ) -> list[Turn]:
    """A user's turns: one session's by position, or all in conversation order (time,
    session, position)."""
    q = sa.select(turns).where(turns.c.user_id == user_id)
    if session_id is not None:
        q = q.where(turns.c.session_id == session_id).order_by(turns.c.position)
    else:
        q = q.order_by(turns.c.timestamp, turns.c.session_id, turns.c.position)
    return [_turn(r) for r in conn.execute(q)]


def load_turns(conn: sa.Connection, unit_ids: Sequence[str]) -> dict[str, list[Turn]]:
    """The turns of each unit, in order."""
    out: dict[str, list[Turn]] = defaultdict(list)
    for part in _chunks(list(unit_ids)):
        rows = conn.execute(
            sa.select(unit_turns.c.unit_id, turns)
            .join(turns, turns.c.id == unit_turns.c.turn_id)
            .where(unit_turns.c.unit_id.in_(part))
            .order_by(unit_turns.c.unit_id, unit_turns.c.ordinal)
        )
        for row in rows:
            out[row.unit_id].append(_turn(row))
    return out


def session_tail(
    conn: sa.Connection, user_id: str, session_id: str, store: str, n: int | None
) -> list[tuple[str, list[Turn]]]:
    """The session's last ``n`` units of ``store`` (all if None), oldest first; derived
    rows (key rows, fact units: those with a parent) are not part of it."""
    if n == 0:
        return []
    q = (
        sa.select(units.c.id)
        .where(units.c.user_id == user_id, units.c.session_id == session_id,
               units.c.store == store, units.c.parent_id.is_(None))
        .order_by(units.c.position.desc())
    )
    if n is not None:
        q = q.limit(n)
    ids = list(conn.execute(q).scalars())[::-1]
    tt = load_turns(conn, ids)
    return [(uid, tt.get(uid, [])) for uid in ids]


def insert_units(
    conn: sa.Connection,
    *,
    user_id: str,
    session_id: str,
    store: str,
    drafts: Sequence[Any],
    hashes: Sequence[str],
    lex_rowids: Sequence[int | None],
    key_hashes: Sequence[str | None] | None = None,
) -> None:
    """Insert units (``drafts``: objects with id, kind, text, key, timestamp, position,
    turns)."""
    if not drafts:
        return
    conn.execute(
        sa.insert(units),
        [
            {
                "id": d.id,
                "user_id": user_id,
                "session_id": session_id,
                "store": store,
                "kind": d.kind,
                "text": d.text,
                "content_hash": h,
                "timestamp": d.timestamp,
                "position": d.position,
                "lex_rowid": r,
                "dense_pending": True,
                "key": getattr(d, "key", None),
                "key_hash": kh,
                "parent_id": getattr(d, "parent_id", None),
            }
            for d, h, r, kh in zip(drafts, hashes, lex_rowids,
                                   key_hashes or [None] * len(drafts), strict=True)
        ],
    )
    links = [{"unit_id": d.id, "turn_id": t.id, "ordinal": i}
             for d in drafts for i, t in enumerate(d.turns)]
    if links:  # a summary unit holds no turns
        conn.execute(sa.insert(unit_turns), links)


def _unit(row: Any, turn_list: Sequence[Turn]) -> MemoryUnit:
    return MemoryUnit(
        id=row.id,
        kind=row.kind,
        user_id=row.user_id,
        session_id=row.session_id,
        text=row.text,
        timestamp=row.timestamp,
        store=row.store,
        turns=tuple(turn_list),
        key=row.key,
    )


def load_units(
    conn: sa.Connection, ids: Sequence[str], *, user_id: str | None = None
) -> dict[str, MemoryUnit]:
    """Units by id with their turns; with ``user_id``, only that user's units."""
    found: dict[str, MemoryUnit] = {}
    rows: list[Any] = []
    for part in _chunks(list(ids)):
        # Look up by primary key only and filter the owner here: with a user_id term
        # SQLite may pick the user index and scan every unit of the user.
        rows.extend(r for r in conn.execute(sa.select(units).where(units.c.id.in_(part)))
                    if user_id is None or r.user_id == user_id)
    tt = load_turns(conn, [r.id for r in rows])
    for r in rows:
        found[r.id] = _unit(r, tt.get(r.id, []))
    return found


@dataclass(frozen=True)
class UnitInfo:
    """What ranking needs to know of a candidate unit."""

    session_id: str
    kind: str
    parent_id: str | None

    @property
    def is_key_row(self) -> bool:
        """A separate key row: its rank counts for its parent."""
        return self.parent_id is not None and self.kind == KEY_KIND


def unit_info(conn: sa.Connection, unit_ids: Sequence[str], user_id: str
              ) -> dict[str, UnitInfo]:
    """Session, kind and parent of each of the user's units among ``unit_ids`` (by
    primary key)."""
    found: dict[str, UnitInfo] = {}
    for part in _chunks(list(unit_ids)):
        found.update((r.id, UnitInfo(r.session_id, r.kind, r.parent_id)) for r in conn.execute(
            sa.select(units.c.id, units.c.session_id, units.c.kind, units.c.parent_id,
                      units.c.user_id).where(units.c.id.in_(part))) if r.user_id == user_id)
    return found


def user_unit_ids(conn: sa.Connection, user_id: str) -> list[str]:
    """Ids of a user's units in conversation order (time, session, position); key rows
    are left out (they stand for their parent)."""
    return list(conn.execute(
        sa.select(units.c.id).where(units.c.user_id == user_id,
                                    sa.or_(units.c.parent_id.is_(None), units.c.kind != KEY_KIND))
        .order_by(units.c.timestamp, units.c.session_id, units.c.position, units.c.id)
    ).scalars())


def delete_units(conn: sa.Connection, unit_ids: Sequence[str]) -> list[DeletedUnit]:
    """Delete units, their key rows and their turn links (not the turns), and the
    LangGraph store items they index. Returns what indexes must drop."""
    ids = list(dict.fromkeys(unit_ids))
    for part in _chunks(list(ids)):
        ids += [c for c in conn.execute(sa.select(units.c.id).where(
            units.c.parent_id.in_(part))).scalars() if c not in ids]
    gone: list[DeletedUnit] = []
    for part in _chunks(ids):
        rows = conn.execute(
            sa.select(units.c.id, units.c.user_id, units.c.store, units.c.lex_rowid,
                      units.c.content_hash, units.c.key_hash).where(units.c.id.in_(part))
        ).all()
        gone.extend(DeletedUnit(r.id, r.user_id, r.store, r.lex_rowid, r.content_hash,
                                r.key_hash) for r in rows)
        conn.execute(sa.delete(unit_turns).where(unit_turns.c.unit_id.in_(part)))
        conn.execute(sa.delete(unit_events).where(unit_events.c.unit_id.in_(part)))
        conn.execute(sa.delete(unit_strength).where(unit_strength.c.unit_id.in_(part)))
        conn.execute(sa.delete(memory_log).where(memory_log.c.memory_id.in_(part)))
        conn.execute(sa.delete(store_items).where(store_items.c.unit_id.in_(part)))
        conn.execute(sa.delete(units).where(units.c.id.in_(part)))
    return gone


def insert_unit_events(conn: sa.Connection, user_id: str,
                       events: Sequence[tuple[str, TimeRange]]) -> None:
    """Record (unit id, dated event) pairs."""
    if events:
        conn.execute(sa.insert(unit_events), [
            {"unit_id": uid, "user_id": user_id, "start": r.start, "end": r.end}
            for uid, r in events])


def units_in_period(conn: sa.Connection, user_id: str, period: TimeRange, *,
                    among: Sequence[str] | None = None) -> set[str]:
    """Ids of the user's units dated inside ``period``, by their own timestamp or by an
    event in their text (a key row's date counts for its parent); with ``among``, only
    those of these ids (a ranking's candidates: every unit of a busy period can be
    many)."""
    own_or_parent = sa.case((units.c.kind == KEY_KIND, units.c.parent_id), else_=units.c.id)
    if among is None:
        by_time = conn.execute(sa.select(own_or_parent).where(
            units.c.user_id == user_id, units.c.timestamp >= period.start,
            units.c.timestamp <= period.end)).scalars()
        by_event = conn.execute(
            sa.select(own_or_parent).join(units, units.c.id == unit_events.c.unit_id)
            .where(unit_events.c.user_id == user_id, unit_events.c.start <= period.end,
                   unit_events.c.end >= period.start)).scalars()
        return {*by_time, *by_event}
    # by primary key and parent, the owner checked here: with a user_id term, SQLite
    # would walk every unit of the user instead
    found: set[str] = set()
    for part in _chunks(list(among)):
        for col in (units.c.id, units.c.parent_id):
            rows = [*conn.execute(sa.select(own_or_parent.label("u"), units.c.user_id).where(
                col.in_(part), units.c.timestamp >= period.start,
                units.c.timestamp <= period.end)),
                *conn.execute(sa.select(own_or_parent.label("u"), units.c.user_id)
                              .join(unit_events, unit_events.c.unit_id == units.c.id)
                              .where(col.in_(part), unit_events.c.start <= period.end,
                                     unit_events.c.end >= period.start))]
            found.update(r.u for r in rows if r.user_id == user_id)
    return found


def delete_turns(conn: sa.Connection, turn_ids: Sequence[str]) -> None:
    """Delete turns, then sessions left without turns."""
    keys: set[tuple[str, str]] = set()
    for part in _chunks(list(turn_ids)):
        keys.update(
            (r.user_id, r.session_id)
            for r in conn.execute(
                sa.select(turns.c.user_id, turns.c.session_id).where(turns.c.id.in_(part))
            )
        )
        conn.execute(sa.delete(unit_turns).where(unit_turns.c.turn_id.in_(part)))
        conn.execute(sa.delete(turns).where(turns.c.id.in_(part)))
    for user_id, session_id in keys:
        left = conn.execute(
            sa.select(turns.c.id).where(turns.c.user_id == user_id,
                                        turns.c.session_id == session_id).limit(1)
        ).first()
        if left is None:
            conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id,
                                                   sessions.c.id == session_id))


def unused_hashes(conn: sa.Connection, hashes: Iterable[str]) -> list[str]:
    """Those of ``hashes`` that no remaining unit or thought uses."""
    hs = list(set(hashes))
    used: set[str] = set()
    for part in _chunks(hs):
        used.update(conn.execute(
            sa.select(units.c.content_hash).where(units.c.content_hash.in_(part))).scalars())
        used.update(conn.execute(
            sa.select(units.c.key_hash).where(units.c.key_hash.in_(part))).scalars())
        used.update(conn.execute(sa.select(thoughts.c.content_hash).where(
            thoughts.c.content_hash.in_(part))).scalars())
    return [h for h in hs if h not in used]


def add_tombstones(conn: sa.Connection, items: Sequence[tuple[str, str]]) -> None:
    """Record (unit id, collection) pairs whose vectors must leave the dense index."""
    # two processes deleting the same unit may both record it
    insert_missing(conn, index_tombstones,
                   [{"unit_id": u, "collection": c} for u, c in dict(items).items()])

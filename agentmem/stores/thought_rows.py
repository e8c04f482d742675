"""The thought store's SQL: reading thoughts with their provenance and audit log,
writing a thought row, its status and its log entries, and purging thoughts (with
what their text lives on in). Module functions over a connection, called inside the
caller's transaction; :class:`~agentmem.stores.thoughts.ThoughtStore` keeps the
same operations as static methods that call these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..embed import content_hash
from ..storage.schema import memory_log, thought_sources, thoughts, turns
from ..storage.scope import metadata_matches, session_and_time
from ..types import MemoryEvent, SearchFilter, Thought, TimeRange
from .thinking import ThoughtDraft

_CHUNK = 500


def load(conn: sa.Connection, ids: Sequence[str], user_id: str | None = None
         ) -> dict[str, Thought]:
    """Thoughts by id (of ``user_id`` only, when given), with their provenance."""
    out: dict[str, Thought] = {}
    for start in range(0, len(ids), _CHUNK):
        part = list(ids[start : start + _CHUNK])
        q = sa.select(thoughts).where(thoughts.c.id.in_(part))
        if user_id is not None:
            q = q.where(thoughts.c.user_id == user_id)
        rows = conn.execute(q).all()
        sources: dict[str, list[str]] = {}
        for tid, turn in conn.execute(  # in conversation order
                sa.select(thought_sources.c.thought_id, thought_sources.c.turn_id)
                .join(turns, turns.c.id == thought_sources.c.turn_id, isouter=True)
                .where(thought_sources.c.thought_id.in_(part))
                .order_by(turns.c.timestamp, turns.c.session_id, turns.c.position,
                          thought_sources.c.turn_id)):
            sources.setdefault(tid, []).append(turn)
        for r in rows:
            out[r.id] = Thought(
                id=r.id, user_id=r.user_id, head=r.head, relation=r.relation,
                tail=r.tail, text=r.text, timestamp=r.timestamp,
                created_at=r.created_at, updated_at=r.updated_at, status=r.status,
                replaced_by=r.replaced_by, session_id=r.session_id,
                source_turn_ids=tuple(sources.get(r.id, ())),
                buckets=tuple(int(b) for b in r.buckets))
    return out


def history(conn: sa.Connection, memory_id: str) -> list[MemoryEvent]:
    """The audit log of one thought, oldest first."""
    return [MemoryEvent(seq=r.seq, memory_id=r.memory_id, op=r.op, at=r.at,
                         other_id=r.other_id, reason=r.reason, detail=dict(r.detail))
            for r in conn.execute(sa.select(memory_log)
                                  .where(memory_log.c.memory_id == memory_id)
                                  .order_by(memory_log.c.seq))]


def in_period(conn: sa.Connection, ids: Sequence[str], period: TimeRange) -> set[str]:
    """Those of ``ids`` whose thought was stated inside ``period``."""
    return set(conn.execute(sa.select(thoughts.c.id).where(
        thoughts.c.id.in_(list(ids)), thoughts.c.timestamp >= period.start,
        thoughts.c.timestamp <= period.end)).scalars()) if ids else set()


def in_filter(conn: sa.Connection, user_id: str, f: SearchFilter) -> set[str]:
    """The user's active thoughts that ``f`` lets through: by their own session and
    time; by roles and metadata, through the turns they were derived from (one
    matching turn suffices)."""
    cond: list[Any] = [thoughts.c.user_id == user_id, thoughts.c.status == "active",
                       *session_and_time(f, thoughts.c.session_id, thoughts.c.timestamp)]
    found = set(conn.execute(sa.select(thoughts.c.id).where(*cond)).scalars())
    if not f.on_turns or not found:
        return found
    kept: set[str] = set()
    ids = sorted(found)
    for start in range(0, len(ids), _CHUNK):
        kept.update(t for t, role, meta in conn.execute(
            sa.select(thought_sources.c.thought_id, turns.c.role, turns.c.metadata)
            .join(turns, turns.c.id == thought_sources.c.turn_id)
            .where(thought_sources.c.thought_id.in_(ids[start : start + _CHUNK])))
            if (f.roles is None or role in f.roles)
            and (not f.metadata or metadata_matches(meta, f.metadata)))
    return kept


def derived_from(conn: sa.Connection, turn_ids: Sequence[str]) -> list[str]:
    """Thoughts whose provenance includes any of these turns."""
    found: set[str] = set()
    for start in range(0, len(turn_ids), _CHUNK):
        found.update(conn.execute(sa.select(thought_sources.c.thought_id).where(
            thought_sources.c.turn_id.in_(list(turn_ids[start : start + _CHUNK]))
        )).scalars())
    return sorted(found)


def of_user(conn: sa.Connection, user_id: str) -> list[str]:
    """Every thought id of ``user_id`` (all statuses)."""
    return list(conn.execute(sa.select(thoughts.c.id).where(
        thoughts.c.user_id == user_id)).scalars())


def insert(conn: sa.Connection, tid: str, user_id: str, draft: ThoughtDraft,
           text: str, head: str, rel: str, codes: np.ndarray, when: datetime,
           now: datetime, status: str, replaced_by: str | None) -> None:
    """Insert one thought row (the next ``seq`` of ``user_id``) with its provenance."""
    seq = conn.execute(sa.select(sa.func.max(thoughts.c.seq)).where(
        thoughts.c.user_id == user_id)).scalar()
    conn.execute(sa.insert(thoughts).values(
        id=tid, user_id=user_id, seq=0 if seq is None else int(seq) + 1,
        session_id=draft.session_id, head=draft.head,
        relation=draft.relation, tail=draft.tail, text=text, head_key=head,
        relation_key=rel, content_hash=content_hash(text),
        buckets=[int(c) for c in codes], status=status, replaced_by=replaced_by,
        timestamp=when, created_at=now, updated_at=now))
    if draft.source_turn_ids:
        conn.execute(sa.insert(thought_sources), [
            {"thought_id": tid, "turn_id": t} for t in dict.fromkeys(draft.source_turn_ids)])


def set_status(conn: sa.Connection, tid: str, status: str, replaced_by: str | None,
               now: datetime) -> None:
    """Set a thought's status and what replaced it."""
    conn.execute(sa.update(thoughts).where(thoughts.c.id == tid).values(
        status=status, replaced_by=replaced_by, updated_at=now))


def log_op(conn: sa.Connection, tid: str, user_id: str, op: str, at: datetime, *,
           other: str | None = None, reason: str = "",
           detail: dict[str, Any] | None = None) -> None:
    """Append one entry to the audit log (``memory_log``)."""
    conn.execute(sa.insert(memory_log).values(
        memory_id=tid, user_id=user_id, op=op, at=at, other_id=other, reason=reason,
        detail=detail or {}))


def purge(conn: sa.Connection, ids: Sequence[str]) -> tuple[list[str], set[str]]:
    """Delete thoughts with their provenance and audit log, inside ``conn``'s
    transaction. Returns their content hashes and users (evict those after the
    commit)."""
    hashes: list[str] = []
    owners: set[str] = set()
    for part in _chunks(ids):
        for h, u in conn.execute(sa.select(thoughts.c.content_hash, thoughts.c.user_id)
                                 .where(thoughts.c.id.in_(part))):
            hashes.append(h)
            owners.add(u)
        conn.execute(sa.delete(thought_sources).where(
            thought_sources.c.thought_id.in_(part)))
        conn.execute(sa.delete(memory_log).where(memory_log.c.memory_id.in_(part)))
        conn.execute(sa.delete(thoughts).where(thoughts.c.id.in_(part)))
    return hashes, owners


def delete(conn: sa.Connection, ids: Sequence[str], now: datetime, *,
           cascade: bool = True) -> tuple[list[str], set[str]]:
    """The SQL of :meth:`~agentmem.stores.thoughts.ThoughtStore.delete` (its docstring
    gives the rules: what is purged, what becomes active again, what is returned)."""
    doomed: set[str] = set()
    frontier = set(ids)
    while frontier:  # up: what they were merged into
        doomed |= frontier
        frontier = {r for r in _scalars(conn, sa.select(thoughts.c.replaced_by),
                                        thoughts.c.id, frontier,
                                        thoughts.c.status == "merged")} - doomed
    folded = set(doomed)
    while True:  # down: what was merged into them
        below = set(_scalars(conn, sa.select(thoughts.c.id), thoughts.c.replaced_by,
                             folded, thoughts.c.status == "merged")) - folded
        if not below:
            break
        folded |= below
    if cascade:
        doomed = folded
    orphans = [r for r in _rows(conn, sa.select(thoughts), thoughts.c.replaced_by,
                                doomed) if r.id not in doomed]
    for r in sorted(orphans, key=lambda r: (r.timestamp, r.seq), reverse=True):
        if r.status == "merged":  # its own sources stand: active again
            set_status(conn, r.id, "active", None, now)
            log_op(conn, r.id, r.user_id, "restore", now,
                   reason="the thought it was merged into was deleted")
            continue
        heir = next((i for i in conn.execute(sa.select(thoughts.c.id).where(
            thoughts.c.user_id == r.user_id, thoughts.c.status == "active",
            thoughts.c.head_key == r.head_key, thoughts.c.relation_key == r.relation_key)
            .order_by(thoughts.c.timestamp.desc(), thoughts.c.seq.desc())).scalars()
            if i not in doomed), None)
        if heir is not None:
            set_status(conn, r.id, "forgotten", heir, now)
            log_op(conn, r.id, r.user_id, "forget", now, other=heir,
                   reason="the thought that superseded it was deleted; the newest "
                          "with the same head and relation supersedes it")
        else:
            set_status(conn, r.id, "active", None, now)
            log_op(conn, r.id, r.user_id, "restore", now,
                   reason="the thought that superseded it was deleted")
    hashes, owners = purge(conn, sorted(doomed))
    return hashes, owners | {r.user_id for r in orphans}


def _chunks(items: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(items))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _rows(conn: sa.Connection, query: Any, column: Any, values: Iterable[str],
          *where: Any) -> list[Any]:
    """``query`` rows whose ``column`` is among ``values`` (chunked IN lists)."""
    return [r for part in _chunks(values)
            for r in conn.execute(query.where(column.in_(part), *where))]


def _scalars(conn: sa.Connection, query: Any, column: Any, values: Iterable[str],
             *where: Any) -> list[Any]:
    return [r[0] for r in _rows(conn, query, column, values, *where) if r[0] is not None]

"""Importing an export: :func:`import_records` inserts the records
:func:`agentmem.transfer_read.read_jsonl` has read and validated, in one transaction,
refusing any that clash with what the memory holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .errors import InvalidInput
from .storage import repository as repo
from .storage.schema import (
    memory_log,
    store_items,
    thought_sources,
    thoughts,
    turns,
    unit_strength,
    units,
)
from .stores.base import UnitDraft
from .transfer_read import _Records

__all__ = ["import_records"]


def import_records(conn: sa.Connection, records: _Records,
                   insert_units: Callable[[sa.Connection, str, str, str, Sequence[Any]], None],
                   thought_buckets: Sequence[list[int]] = (),
                   ) -> int:
    """Insert validated records in ``conn``'s transaction; conflicts raise InvalidInput.
    ``thought_buckets`` are the LSH bucket ids of ``records.thoughts``, in order."""
    def clash(table: sa.Table, ids: list[str], what: str) -> None:
        for i in range(0, len(ids), 500):
            hit = conn.execute(sa.select(table.c.id).where(table.c.id.in_(ids[i:i + 500]))).first()
            if hit is not None:
                raise InvalidInput(f"{what}.id", f"{hit[0]!r} already exists in this memory")

    clash(turns, [t.id for t in records.turns], "turn")
    clash(units, [u[3].id for u in records.units], "unit")
    clash(thoughts, [t["id"] for t in records.thoughts], "thought")
    for it in records.items:
        if conn.execute(sa.select(store_items.c.key).where(
                store_items.c.namespace == it["namespace"],
                store_items.c.key == it["key"])).first() is not None:
            raise InvalidInput("item.key", f"{it['namespace']!r} / {it['key']!r} already "
                                           "exists in this memory")
    for u in records.users:
        repo.ensure_user(conn, u["id"], u["created_at"])
    # Each session once, starting at its earliest known time (its record or its turns).
    starts: dict[tuple[str, str], datetime] = {}
    for key, when in [((x["user_id"], x["id"]), x["started_at"]) for x in records.sessions] + [
            ((t.user_id, t.session_id), t.timestamp) for t in records.turns]:
        starts[key] = min(when, starts.get(key, when))
    for (user_id, session_id), when in starts.items():
        repo.ensure_user(conn, user_id, when)
        repo.ensure_session(conn, user_id, session_id, when)
    try:
        repo.insert_turns(conn, records.turns)
    except sa.exc.IntegrityError as exc:
        raise InvalidInput("turn.position", f"conflicts with a stored turn ({exc.orig})") from None
    groups: dict[tuple[str, str, str], list[UnitDraft]] = {}
    for user_id, session_id, store, draft in records.units:
        groups.setdefault((user_id, session_id, store), []).append(draft)
    for (user_id, session_id, store), drafts in groups.items():
        insert_units(conn, user_id, session_id, store, drafts)
    if records.items:
        for it in records.items:
            repo.ensure_user(conn, it["user_id"], it["created_at"])
        conn.execute(sa.insert(store_items), records.items)
    if records.curves:
        conn.execute(sa.insert(unit_strength), records.curves)
    if records.thoughts:  # in file order, after the user's thoughts already here
        first: dict[str, int] = {}
        rows = []
        for t, codes in zip(records.thoughts, thought_buckets, strict=True):
            if t["user_id"] not in first:
                top = conn.execute(sa.select(sa.func.max(thoughts.c.seq)).where(
                    thoughts.c.user_id == t["user_id"])).scalar()
                first[t["user_id"]] = 0 if top is None else int(top) + 1
            rows.append({**{k: v for k, v in t.items() if k != "source_turn_ids"},
                         "buckets": codes, "seq": first[t["user_id"]]})
            first[t["user_id"]] += 1
        conn.execute(sa.insert(thoughts), rows)
        links = [{"thought_id": t["id"], "turn_id": s} for t in records.thoughts
                 for s in t["source_turn_ids"]]
        if links:
            conn.execute(sa.insert(thought_sources), links)
    if records.events:
        conn.execute(sa.insert(memory_log), records.events)
    return 1 + len(records.users) + len(records.sessions) + len(records.turns) + len(
        records.units) + len(records.items) + len(records.thoughts) + len(records.events) \
        + len(records.extra)

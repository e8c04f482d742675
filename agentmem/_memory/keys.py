"""Fact-augmented key expansion in the :class:`~agentmem.Memory` facade: keys for new
units from the LLM, stored on the units (``merge`` / ``replace``) or added as key rows
or fact units, then indexed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..embed import content_hash
from ..storage import repository as repo
from ..storage.schema import units
from ..stores import UnitDraft
from ..temporal import find_time_ranges
from .indexing import dated_events

if TYPE_CHECKING:
    from ..memory import Memory

log = logging.getLogger("agentmem")


def expand_keys(memory: Memory, user_id: str, session_id: str, drafts: Sequence[UnitDraft]
                ) -> None:
    """Fact-augmented keys for new units: the LLM runs outside the write lock; the
    keys are then stored (or, in ``separate`` mode, added as key rows), indexed
    lexically, and embedded by the index sync. A unit replaced meanwhile (a round
    completed by a later add) is skipped."""
    assert memory.expander is not None and memory.keys is not None
    try:
        found = memory.expander.expand([(d.text, content_hash(d.text), d.timestamp)
                                      for d in drafts])
    except Exception as exc:  # a broken LLM never aborts an ingestion
        log.warning("key expansion failed for %d units (indexed without it): %r",
                    len(drafts), exc)
        memory.expander.failures += len(drafts)
        found = [None] * len(drafts)
    keyed = {d.id: key for d, e in zip(drafts, found, strict=True)
             if (key := memory.keys.key(d.key or d.text, e)) is not None}
    with memory._lock:
        if keyed:
            with memory.db.begin() as conn:
                alive = set(conn.execute(sa.select(units.c.id).where(
                    units.c.id.in_(list(keyed)))).scalars())
                keyed = {i: k for i, k in keyed.items() if i in alive}
                if memory.keys.mode in ("merge", "replace"):
                    set_keys(memory, conn, keyed)
                else:  # separate: one key row per unit; values: one unit per fact
                    kind = "key" if memory.keys.mode == "separate" else "fact"
                    memory._insert_units(conn, user_id, session_id, memory.store.name, [
                        UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text,
                                  timestamp=d.timestamp, position=d.position,
                                  turns=d.turns, parent_id=d.id)
                        for d in drafts if d.id in keyed
                        for text in (keyed[d.id].split("\n") if kind == "fact"
                                     else [keyed[d.id]])])
        memory._sync_index()


def set_keys(memory: Memory, conn: sa.Connection, keyed: dict[str, str]) -> None:
    """Store expanded keys, re-index them lexically, queue them for embedding, and
    add the dates the keys mention (an extracted fact may spell out a date) to the
    units' events."""
    rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.lex_rowid,
                                  units.c.text, units.c.timestamp)
                        .where(units.c.id.in_(list(keyed)))).all()
    for r in rows:
        known = {(e.start, e.end) for e in find_time_ranges(r.text, r.timestamp)}
        repo.insert_unit_events(conn, r.user_id, [
            (r.id, e) for e in dated_events(keyed[r.id], None, r.timestamp)
            if (e.start, e.end) not in known])
    rowids: list[int | None] = [None] * len(rows)
    if memory.lexical:
        memory.lexical.delete(conn, [r.lex_rowid for r in rows if r.lex_rowid is not None])
        rowids = list(memory.lexical.add(conn, [(r.user_id, keyed[r.id]) for r in rows]))
    for r, rowid in zip(rows, rowids, strict=True):
        conn.execute(sa.update(units).where(units.c.id == r.id).values(
            key=keyed[r.id], key_hash=content_hash(keyed[r.id]), lex_rowid=rowid,
            dense_pending=True))

"""The :class:`~agentmem.Memory` facade's indexes: new units into the lexical index
with their dated events, the dense index kept in line with SQL (after every write and
on open: crash repair), and ``reindex``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from tqdm.auto import tqdm

from ..embed import content_hash
from ..storage import repository as repo
from ..storage.schema import index_tombstones, unit_events, units
from ..temporal import find_time_ranges
from ..types import TimeRange

if TYPE_CHECKING:
    from ..memory import Memory

_SYNC_CHUNK = 512
_PROGRESS_THRESHOLD = 256


def dated_events(text: str, key: str | None, when: datetime) -> list[TimeRange]:
    """The dates a unit's text and its expanded key mention, each once."""
    found = find_time_ranges(text, when) + (find_time_ranges(key, when) if key else [])
    return list({(r.start, r.end): r for r in found}.values())


def insert_units(memory: Memory, conn: sa.Connection, user_id: str, session_id: str,
                 store: str, drafts: Sequence[Any]) -> None:
    """New units in SQL and the lexical index, with their dated events; the dense
    index gets them at the next :func:`sync_index`."""
    texts = [d.text for d in drafts]
    rowids: list[int | None] = (
        list(memory.lexical.add(conn, [(user_id, d.key or d.text) for d in drafts]))
        if memory.lexical else [None] * len(drafts)
    )
    repo.insert_units(conn, user_id=user_id, session_id=session_id, store=store,
                      drafts=drafts, hashes=[content_hash(t) for t in texts],
                      key_hashes=[content_hash(d.key) if d.key else None for d in drafts],
                      lex_rowids=rowids)
    repo.insert_unit_events(conn, user_id, [
        (d.id, r) for d in drafts for r in dated_events(d.text, d.key, d.timestamp)])


def sync_index(memory: Memory, progress: Callable[[int, int], None] | None = None) -> None:
    """Bring the dense index in line with SQL: remove tombstoned vectors, embed and
    upsert pending units. Runs after every write and on open (crash repair).
    ``progress(done, total)``, when given, follows the units embedded (and replaces
    the progress bar)."""
    with memory._lock:
        with memory.db.connect() as conn:
            tombs = conn.execute(sa.select(index_tombstones)).all()
            pending = conn.execute(
                sa.select(units.c.id, units.c.user_id, units.c.store,
                          sa.func.coalesce(units.c.key, units.c.text).label("text"))
                .where(units.c.dense_pending.is_(True))
                .order_by(units.c.user_id, units.c.session_id, units.c.position)
            ).all()
        if tombs:
            by_col: dict[str, list[str]] = defaultdict(list)
            for t in tombs:
                by_col[t.collection].append(t.unit_id)
            for col, ids in by_col.items():
                memory.dense.delete(col, ids)
            with memory.db.begin() as conn:
                for start in range(0, len(tombs), 500):
                    conn.execute(sa.delete(index_tombstones).where(
                        index_tombstones.c.unit_id.in_(
                            [t.unit_id for t in tombs[start : start + 500]])))
        if not pending:
            return
        bar = tqdm(total=len(pending), desc="indexing", unit="unit",
                   disable=progress is not None or len(pending) < _PROGRESS_THRESHOLD
                   or None)
        if progress is not None:
            progress(0, len(pending))
        try:
            for i in range(0, len(pending), _SYNC_CHUNK):
                part = pending[i : i + _SYNC_CHUNK]
                vectors = memory.embedder.embed_stored([p.text for p in part], progress=False)
                groups: dict[str, list[int]] = defaultdict(list)
                for j, p in enumerate(part):
                    groups[memory._collection(p.store, p.user_id)].append(j)
                for col, idx in groups.items():
                    memory.dense.upsert(col, [part[j].id for j in idx], vectors[idx])
                with memory.db.begin() as conn:
                    conn.execute(sa.update(units).where(units.c.id.in_([p.id for p in part]))
                                 .values(dense_pending=False))
                bar.update(len(part))
                if progress is not None:
                    progress(i + len(part), len(pending))
        finally:
            bar.close()


def mark_all_pending(memory: Memory, *, drop: bool) -> None:
    if drop:
        memory.dense.drop_all()
    with memory.db.begin() as conn:
        conn.execute(sa.update(units).values(dense_pending=True))


def reindex(memory: Memory) -> None:
    """:meth:`Memory.reindex`."""
    memory._check_open()
    with memory._lock:
        if memory.lexical:
            with memory.db.begin() as conn:
                memory.lexical.clear(conn)
                rows = conn.execute(sa.select(
                    units.c.id, units.c.user_id,
                    sa.func.coalesce(units.c.key, units.c.text).label("text"))
                    .order_by(units.c.id)).all()
                rowids = memory.lexical.add(conn, [(r.user_id, r.text) for r in rows])
                for r, rid in zip(rows, rowids, strict=True):
                    conn.execute(sa.update(units).where(units.c.id == r.id)
                                 .values(lex_rowid=rid))
                memory.lexical.optimize(conn)
        rebuild_events(memory)
        mark_all_pending(memory, drop=True)
        memory._sync_index()
        memory.thought_store.rebuild()


def rebuild_events(memory: Memory) -> None:
    """Re-derive every unit's dated events from its text and timestamp."""
    with memory.db.begin() as conn:
        conn.execute(sa.delete(unit_events))
        rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.text,
                                      units.c.key, units.c.timestamp)).all()
        by_user: dict[str, list[tuple[str, TimeRange]]] = defaultdict(list)
        for r in rows:
            by_user[r.user_id] += [(r.id, e)
                                   for e in dated_events(r.text, r.key, r.timestamp)]
        for user, events in by_user.items():
            repo.insert_unit_events(conn, user, events)

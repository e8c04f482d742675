"""Deletion and erasure in the :class:`~agentmem.Memory` facade: ``delete``,
``delete_session`` and ``forget_user``, and what they stand on: units dropped from SQL
and the lexical index (their vectors tombstoned), then cached vectors, key expansions
and FTS5 pages nothing uses any more erased."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..embed import content_hash
from ..errors import NotFound
from ..inputs import check_id
from ..storage import repository as repo
from ..storage.schema import sessions, store_items, turns, unit_turns, units, users
from ..stores import ThoughtStore, purge_expansions
from ..stores.episodic import render_turns
from ..stores.summaries import GLOBAL_SESSION, day_session
from ..temporal import utcnow

if TYPE_CHECKING:
    from ..memory import Memory


def delete(memory: Memory, id: str) -> None:
    """:meth:`Memory.delete`."""
    memory._check_open()
    id = check_id(id, "id")
    # the thought store's lock too: no user index is rebuilt from a half-deleted state
    with memory._lock, memory.thought_store.lock:
        with memory.db.begin() as conn:
            row = conn.execute(sa.select(units.c.id, units.c.parent_id)
                               .where(units.c.id == id)).first()
            if row is None:
                if not ThoughtStore.load(conn, [id]):
                    raise NotFound(f"no memory unit or thought with id {id!r}")
                hashes, owners = memory.thought_store.delete(conn, [id], utcnow())
                memory._erase(conn, [], hashes)
                turn_ids = []
            else:
                turn_ids = [] if row.parent_id else list(conn.execute(
                    sa.select(unit_turns.c.turn_id)
                    .where(unit_turns.c.unit_id == id)).scalars())
                linked = set(conn.execute(sa.select(unit_turns.c.unit_id).where(
                    unit_turns.c.turn_id.in_(turn_ids))).scalars()) if turn_ids else set()
                owners = drop_turns(memory, conn, turn_ids, linked | {id})
        memory.thought_store.evict(owners)
        memory._sync_index()
        memory.db.scrub(vacuum=True)


def delete_session(memory: Memory, user_id: str, session_id: str) -> int:
    """:meth:`Memory.delete_session`."""
    memory._check_open()
    user_id = check_id(user_id, "user_id")
    session_id = check_id(session_id, "session_id")
    with memory._lock, memory.thought_store.lock:
        with memory.db.begin() as conn:
            turn_ids = list(conn.execute(sa.select(turns.c.id).where(
                turns.c.user_id == user_id, turns.c.session_id == session_id)).scalars())
            linked = set(conn.execute(
                sa.select(unit_turns.c.unit_id)
                .join(turns, turns.c.id == unit_turns.c.turn_id)
                .where(turns.c.user_id == user_id, turns.c.session_id == session_id)
            ).scalars())
            linked |= set(conn.execute(sa.select(units.c.id).where(
                units.c.user_id == user_id, units.c.session_id == session_id,
                units.c.store == memory.store.name)).scalars())
            if not turn_ids and not linked:
                return 0
            owners = drop_turns(memory, conn, turn_ids, linked)
        memory.thought_store.evict(owners)
        memory._sync_index()
        memory.db.scrub(vacuum=True)
    return len(turn_ids)


def drop_turns(memory: Memory, conn: sa.Connection, turn_ids: Sequence[str],
               unit_ids: set[str]) -> set[str]:
    """Delete turns with the units given (those derived from them), the MemoryBank
    summaries that may repeat them and the thoughts that drew on them, then erase what
    that leaves unused. Returns the users whose thought indexes are stale."""
    for user_id, session_id in sorted({(r.user_id, r.session_id) for r in conn.execute(
            sa.select(turns.c.user_id, turns.c.session_id)
            .where(turns.c.id.in_(list(turn_ids))))}):
        repo.lock_session(conn, user_id, session_id)  # no add builds on them meanwhile
    gone = memory._drop_units(conn, sorted(unit_ids | stale_summaries(conn, turn_ids)))
    hashes, owners = memory.thought_store.forget_turns(conn, turn_ids, utcnow())
    rekeyed = rekey_neighbours(memory, conn, turn_ids, unit_ids)
    repo.delete_turns(conn, turn_ids)
    memory._erase(conn, gone, [*hashes, *rekeyed])
    return owners


def rekey_neighbours(memory: Memory, conn: sa.Connection, turn_ids: Sequence[str],
                     dropped: set[str]) -> list[str]:
    """The units that follow deleted turns were indexed with those turns as context
    (``context_turns``): their keys are rebuilt from the turns that remain, so no
    deleted text stays in their key, lexical row or vector. Returns the replaced keys'
    hashes (the caller erases those nothing uses any more)."""
    window = memory.store.context_turns
    if not window or not turn_ids:
        return []
    doomed = set(turn_ids)
    sessions_hit = {(r.user_id, r.session_id) for r in conn.execute(
        sa.select(turns.c.user_id, turns.c.session_id).where(turns.c.id.in_(list(doomed))))}
    old_hashes: list[str] = []
    for user_id, session_id in sessions_hit:
        ordered = repo.user_turns(conn, user_id, session_id=session_id)
        place = {t.id: i for i, t in enumerate(ordered)}
        kept = [t for t in ordered if t.id not in doomed]
        kept_place = {t.id: i for i, t in enumerate(kept)}
        rows = conn.execute(
            sa.select(units.c.id, units.c.text, units.c.key, units.c.key_hash,
                      units.c.lex_rowid, units.c.user_id)
            .where(units.c.user_id == user_id, units.c.session_id == session_id,
                   units.c.store == memory.store.name, units.c.parent_id.is_(None),
                   units.c.key.is_not(None))).all()
        firsts = repo.load_turns(conn, [r.id for r in rows if r.id not in dropped])
        for r in rows:
            first = min(firsts.get(r.id, []), key=lambda t: t.position, default=None)
            if first is None or first.id not in kept_place:
                continue
            before = ordered[max(0, place[first.id] - window):place[first.id]]
            if not doomed & {t.id for t in before}:
                continue
            # the context key, alone or after an LLM expansion of the unit's own text
            # (key merging: "<expansion>\n<text>\n<context>")
            old = f"{r.text}\n{render_turns(before)}"
            if r.key != old and not r.key.endswith("\n" + old):
                continue  # an expansion that replaced the key: no context in it
            now = kept[max(0, kept_place[first.id] - window):kept_place[first.id]]
            fresh = f"{r.text}\n{render_turns(now)}" if now else r.text
            key = r.key[: len(r.key) - len(old)] + fresh
            key = None if key == r.text else key
            rowid: int | None = None
            if memory.lexical:
                if r.lex_rowid is not None:
                    memory.lexical.delete(conn, [r.lex_rowid])
                [rowid] = memory.lexical.add(conn, [(r.user_id, key or r.text)])
            conn.execute(sa.update(units).where(units.c.id == r.id).values(
                key=key, key_hash=content_hash(key) if key else None, lex_rowid=rowid,
                dense_pending=True, index_error=None))
            if r.key_hash:
                old_hashes.append(r.key_hash)
    return old_hashes


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


def erase(memory: Memory, conn: sa.Connection, gone: Sequence[repo.DeletedUnit],
          hashes: Sequence[str] = ()) -> None:
    """After units (and thoughts, whose content ``hashes`` are given) are deleted:
    drop cached vectors nothing remaining uses and merge the FTS5 b-trees so the
    deleted terms leave the file."""
    unused = repo.unused_hashes(conn, [*hashes, *(h for g in gone
                                                  for h in (g.content_hash, g.key_hash)
                                                  if h)])
    memory.embedder.purge(conn, unused)
    purge_expansions(conn, unused)
    if memory.lexical:
        memory.lexical.optimize(conn)


def forget_user(memory: Memory, user_id: str) -> int:
    """:meth:`Memory.forget_user`."""
    memory._check_open()
    user_id = check_id(user_id, "user_id")
    with memory._lock, memory.thought_store.lock:
        with memory.db.begin() as conn:
            unit_ids = list(conn.execute(
                sa.select(units.c.id).where(units.c.user_id == user_id)).scalars())
            gone = memory._drop_units(conn, unit_ids)
            hashes, _ = ThoughtStore.purge(conn, ThoughtStore.of_user(conn, user_id))
            turn_ids = list(conn.execute(
                sa.select(turns.c.id).where(turns.c.user_id == user_id)).scalars())
            repo.delete_turns(conn, turn_ids)
            # LangGraph store items (those with a unit went with it)
            conn.execute(sa.delete(store_items).where(store_items.c.user_id == user_id))
            conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
            conn.execute(sa.delete(users).where(users.c.id == user_id))
            memory._erase(conn, gone, hashes)
        memory.thought_store.evict([user_id])
        memory._sync_index()
        # the tombstones removed the user's vectors; this also catches strays
        for collection in {memory._collection(store, user_id)
                           for store in {g.store for g in gone} | {memory.store.name}}:
            memory._after_commit("forget_user (dense index)", partial(
                memory.dense.delete_user, collection, user_id))
        memory.db.scrub(vacuum=True)
    return len(turn_ids)


def drop_units(memory: Memory, conn: sa.Connection, unit_ids: Sequence[str]
               ) -> list[repo.DeletedUnit]:
    """Delete units in SQL and the lexical index; queue their vectors for removal."""
    gone = repo.delete_units(conn, unit_ids)
    if memory.lexical:
        memory.lexical.delete(conn, [g.lex_rowid for g in gone if g.lex_rowid is not None])
    repo.add_tombstones(
        conn, [(g.id, memory._collection(g.store, g.user_id)) for g in gone])
    return gone

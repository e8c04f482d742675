"""Deletion through the write path: ``delete``, ``delete_session`` and
``forget_user``. Each is one transaction under the write lock and every strategy's
guard: the units go (their vectors tombstoned), each strategy removes what it derived
(:class:`DeleteHook`), the turns go, and what that leaves unused is erased; after the
commit the index is synced and the files scrubbed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import sqlalchemy as sa

from ..errors import NotFound
from ..storage import repository as repo
from ..storage.schema import sessions, turns, unit_turns, units, users
from .engine import Engine, WriteTx

__all__ = ["DeleteHook", "DeleteScope", "delete", "delete_session", "forget_user"]


@dataclass(frozen=True)
class DeleteScope:
    """What a deletion removes: ``turn_ids`` and the units ``unit_ids`` built on them;
    with ``whole_user``, everything of ``user_id``."""

    user_id: str | None
    turn_ids: tuple[str, ...] = ()
    unit_ids: frozenset[str] = frozenset()
    whole_user: bool = False


class DeleteHook(Protocol):
    """A strategy's part in a deletion (see :class:`agentmem.ext.Strategy`)."""

    def guard(self) -> Any:
        """A lock held around the deletion."""
        ...

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """Remove what was derived from the deleted turns or user; hashes to erase."""
        ...

    def delete_own(self, tx: WriteTx, id: str) -> Sequence[str] | None:
        """Delete the strategy's own item ``id`` (None: not its item)."""
        ...


def delete(engine: Engine, hooks: Sequence[DeleteHook], id: str) -> None:
    """:meth:`Memory.delete` of a unit (with its turns and the units built on them),
    or of an item a strategy owns (a thought)."""
    with engine.write(scrub=True, hold=[h.guard() for h in hooks]) as tx:
        row = tx.conn.execute(sa.select(units.c.id, units.c.parent_id)
                              .where(units.c.id == id)).first()
        if row is None:
            for hook in hooks:
                hashes = hook.delete_own(tx, id)
                if hashes is not None:
                    tx.erase([], hashes)
                    return
            raise NotFound(f"no memory unit or thought with id {id!r}")
        turn_ids = [] if row.parent_id else list(tx.conn.execute(
            sa.select(unit_turns.c.turn_id).where(unit_turns.c.unit_id == id)).scalars())
        linked = set(tx.conn.execute(sa.select(unit_turns.c.unit_id).where(
            unit_turns.c.turn_id.in_(turn_ids))).scalars()) if turn_ids else set()
        drop_turns(tx, hooks, turn_ids, linked | {id})


def delete_session(engine: Engine, hooks: Sequence[DeleteHook],
                   user_id: str, session_id: str, unit_store: str) -> int:
    """:meth:`Memory.delete_session`: the session's turns, the units built on them and
    the ``unit_store`` units of the session."""
    with engine.write(scrub=True, hold=[h.guard() for h in hooks]) as tx:
        conn = tx.conn
        turn_ids = list(conn.execute(sa.select(turns.c.id).where(
            turns.c.user_id == user_id, turns.c.session_id == session_id)).scalars())
        linked = set(conn.execute(
            sa.select(unit_turns.c.unit_id)
            .join(turns, turns.c.id == unit_turns.c.turn_id)
            .where(turns.c.user_id == user_id, turns.c.session_id == session_id)
        ).scalars())
        linked |= set(conn.execute(sa.select(units.c.id).where(
            units.c.user_id == user_id, units.c.session_id == session_id,
            units.c.store == unit_store)).scalars())
        if not turn_ids and not linked:
            tx.unchanged()
            return 0
        drop_turns(tx, hooks, turn_ids, linked)
    return len(turn_ids)


def drop_turns(tx: WriteTx, hooks: Sequence[DeleteHook],
               turn_ids: Sequence[str], unit_ids: set[str]) -> None:
    """Delete turns with the units given (those derived from them) and what each
    strategy derived from them, then erase what that leaves unused."""
    conn = tx.conn
    for user_id, session_id in sorted({(r.user_id, r.session_id) for r in conn.execute(
            sa.select(turns.c.user_id, turns.c.session_id)
            .where(turns.c.id.in_(list(turn_ids))))}):
        repo.lock_session(conn, user_id, session_id)  # no add builds on them meanwhile
    start = len(tx.dropped)
    tx.drop_units(sorted(unit_ids))
    scope = DeleteScope(user_id=None, turn_ids=tuple(turn_ids), unit_ids=frozenset(unit_ids))
    hashes = [h for hook in hooks for h in hook.on_delete(tx, scope)]
    repo.delete_turns(conn, turn_ids)
    tx.erase(tx.dropped[start:], hashes)


def forget_user(engine: Engine, hooks: Sequence[DeleteHook],
                user_id: str) -> int:
    """:meth:`Memory.forget_user`: every row of ``user_id``, in every store."""
    with engine.write(scrub=True, hold=[h.guard() for h in hooks]) as tx:
        conn = tx.conn
        unit_ids = list(conn.execute(
            sa.select(units.c.id).where(units.c.user_id == user_id)).scalars())
        tx.drop_units(unit_ids)
        turn_ids = list(conn.execute(
            sa.select(turns.c.id).where(turns.c.user_id == user_id)).scalars())
        scope = DeleteScope(user_id=user_id, turn_ids=tuple(turn_ids),
                         unit_ids=frozenset(unit_ids), whole_user=True)
        hashes = [h for hook in hooks for h in hook.on_delete(tx, scope)]
        repo.delete_turns(conn, turn_ids)
        conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
        conn.execute(sa.delete(users).where(users.c.id == user_id))
        tx.erase(tx.dropped, hashes)
        tx.after_index(partial(_strays, engine, user_id))
    return len(turn_ids)


def _strays(engine: Engine, user_id: str) -> None:
    """After the tombstones removed the user's vectors: any stray of the user's."""
    engine.after_commit("forget_user (dense index)", partial(
        engine.dense.delete_user, engine.collection(user_id), user_id))

"""LangGraph store items as a strategy: each item a row of ``store_items`` (namespace,
key, JSON value, times, owner) and, when it has indexed text, ordinary units (store
``"langgraph"``, kind ``"item"``) searched with the conversation: the item's unit
(``store_items.unit_id``) holds its first text, and each further text (one per indexed
field) is a unit whose ``parent_id`` is the item's unit, so deleting the item's unit
deletes them all. The LangGraph adapter
(:class:`~agentmem.integrations.langgraph.AgentMemStore`) works through this class."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from .._core.engine import WriteTx
from ..inputs import check_id
from ..storage import items as rows
from ..storage import repository as repo
from ..storage.items import ITEM_KIND, ITEM_STORE, StoredItem
from ..storage.schema import store_items, units
from ..stores.base import UnitDraft
from ..temporal import utcnow
from .base import DeleteScope, Strategy

__all__ = ["ITEM_KIND", "ITEM_STORE", "Items", "StoredItem"]


class Items(Strategy):
    """Key-value items in namespaces, each owned by one user (LangGraph's store)."""

    name = "items"

    def put(self, namespace: tuple[str, ...], key: str, *, user_id: str,
            value: dict[str, Any] | None, text: str | Sequence[str] | None,
            session_id: str) -> bool:
        """Write (``value``) or delete (None) one item in one transaction; ``text``, when
        given, is indexed in ``session_id``: a string as the item's one unit, a sequence
        of strings (one per indexed field) as one unit each, the first the item's unit
        and the others its children. The index work waits for :meth:`flush`. True when
        an item was overwritten or deleted (flush with ``scrub`` then, so the old text
        leaves the files)."""
        user_id, key = check_id(user_id, "user_id"), check_id(key, "key")
        texts = [text] if isinstance(text, str) else [t for t in text or () if t]
        now = utcnow()
        with self.engine.write(sync=False) as tx:
            old = rows.get_item(tx.conn, namespace, key)
            gone = tx.drop_units([old.unit_id]) if (old is not None and old.unit_id) else []
            rows.delete_item(tx.conn, namespace, key)
            if value is not None:
                repo.ensure_user(tx.conn, user_id, now)
                unit_id = uuid.uuid4().hex if texts else None
                if texts and unit_id:
                    tx.insert_units(user_id, session_id, ITEM_STORE, [UnitDraft(
                        id=unit_id if i == 0 else uuid.uuid4().hex, kind=ITEM_KIND,
                        text=t, timestamp=now, position=i, turns=(),
                        parent_id=None if i == 0 else unit_id)
                        for i, t in enumerate(texts)])
                rows.insert_item(tx.conn, StoredItem(
                    namespace=namespace, key=key, user_id=user_id, value=value,
                    unit_id=unit_id, created_at=old.created_at if old is not None else now,
                    updated_at=now))
            if gone:
                tx.erase(gone)
        return old is not None

    def flush(self, *, scrub: bool = False) -> None:
        """Index what the puts queued; with ``scrub``, erase overwritten text from the
        files."""
        self.engine.sync()
        if scrub:
            self.engine.db.scrub(vacuum=True)

    def get(self, namespace: tuple[str, ...], key: str) -> StoredItem | None:
        """One item, or None."""
        with self.engine.db.connect() as conn:
            return rows.get_item(conn, namespace, key)

    def under(self, prefix: Sequence[str]) -> list[StoredItem]:
        """The items whose namespace starts with ``prefix``."""
        with self.engine.db.connect() as conn:
            return rows.items_under(conn, prefix)

    def namespaces(self) -> list[tuple[str, ...]]:
        """Every namespace holding an item."""
        with self.engine.db.connect() as conn:
            return rows.namespaces(conn)

    def item_units(self, unit_ids: Sequence[str]) -> dict[str, str]:
        """Each unit of the items whose units are ``unit_ids`` (theirs and their
        children, one per further indexed field) mapped to the item's unit."""
        found = {u: u for u in unit_ids}
        with self.engine.db.connect() as conn:
            ids = list(found)
            for i in range(0, len(ids), 500):
                found.update((r.id, r.parent_id) for r in conn.execute(
                    sa.select(units.c.id, units.c.parent_id).where(
                        units.c.parent_id.in_(ids[i:i + 500]),
                        units.c.kind == ITEM_KIND)))
        return found

    @property
    def dims(self) -> int:
        """The length of the memory's embedding vectors."""
        return int(self.engine.embedder.dim)

    def unit_count(self, user_id: str) -> int:
        """How many units ``user_id`` has (of every kind): the most a search of that
        user can rank."""
        with self.engine.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(units)
                                    .where(units.c.user_id == user_id)).scalar_one())

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """A whole user's items (those with a unit went with it)."""
        if scope.whole_user:
            tx.conn.execute(sa.delete(store_items).where(store_items.c.user_id == scope.user_id))
        return ()

    def stats(self, conn: Any) -> dict[str, int]:
        """``items``: how many items are stored."""
        return {"items": int(conn.execute(sa.select(sa.func.count())
                                          .select_from(store_items)).scalar_one())}

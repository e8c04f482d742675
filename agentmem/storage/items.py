"""Reads and writes of LangGraph store items (the ``store_items`` table).

An item is addressed by its namespace (a tuple of labels, stored joined by ``"."``;
LangGraph forbids ``"."`` inside a label, so the join is exact) and its key. Functions
take an open connection so callers decide the transaction boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .schema import store_items

__all__ = [
    "ITEM_KIND",
    "ITEM_STORE",
    "NAMESPACE_SEPARATOR",
    "StoredItem",
    "delete_item",
    "get_item",
    "insert_item",
    "items_under",
    "join_namespace",
    "namespaces",
    "split_namespace",
]

NAMESPACE_SEPARATOR = "."
#: the ``store`` and ``kind`` of the units holding items' indexed text
ITEM_STORE = "langgraph"
ITEM_KIND = "item"


def join_namespace(namespace: Sequence[str]) -> str:
    """The stored form of a namespace tuple."""
    return NAMESPACE_SEPARATOR.join(namespace)


def split_namespace(stored: str) -> tuple[str, ...]:
    """The namespace tuple of a stored namespace."""
    return tuple(stored.split(NAMESPACE_SEPARATOR))


@dataclass(frozen=True)
class StoredItem:
    """One row of ``store_items``. Times are naive UTC, as everywhere in SQL."""

    namespace: tuple[str, ...]
    key: str
    user_id: str
    value: dict[str, Any]
    unit_id: str | None
    created_at: datetime
    updated_at: datetime


def _item(row: Any) -> StoredItem:
    return StoredItem(namespace=split_namespace(row.namespace), key=row.key,
                      user_id=row.user_id, value=dict(row.value or {}), unit_id=row.unit_id,
                      created_at=row.created_at, updated_at=row.updated_at)


def get_item(conn: sa.Connection, namespace: Sequence[str], key: str) -> StoredItem | None:
    """The item at (namespace, key), or None."""
    row = conn.execute(sa.select(store_items).where(
        store_items.c.namespace == join_namespace(namespace),
        store_items.c.key == key)).first()
    return None if row is None else _item(row)


def insert_item(conn: sa.Connection, item: StoredItem) -> None:
    """Insert an item (none may exist at its namespace and key)."""
    conn.execute(sa.insert(store_items).values(
        namespace=join_namespace(item.namespace), key=item.key, user_id=item.user_id,
        value=item.value, unit_id=item.unit_id, created_at=item.created_at,
        updated_at=item.updated_at))


def delete_item(conn: sa.Connection, namespace: Sequence[str], key: str) -> None:
    """Delete the item at (namespace, key), if any (not its unit)."""
    conn.execute(sa.delete(store_items).where(
        store_items.c.namespace == join_namespace(namespace), store_items.c.key == key))


def _under(prefix: Sequence[str]) -> Any:
    """The condition "namespace starts with these labels" (everything for ``()``)."""
    if not prefix:
        return sa.true()
    joined = join_namespace(prefix)
    head = joined + NAMESPACE_SEPARATOR
    # an exact, case-sensitive comparison of the leading characters: SQLite's LIKE
    # (what ``startswith`` compiles to) ignores ASCII case, so ("Alice",) would match
    # ("alice", ...), another user's items
    return sa.or_(store_items.c.namespace == joined,
                  sa.func.substr(store_items.c.namespace, 1, len(head)) == head)


def items_under(conn: sa.Connection, prefix: Sequence[str], *, user_id: str | None = None
                ) -> list[StoredItem]:
    """Items whose namespace starts with ``prefix`` (of ``user_id`` only, when given),
    most recently updated first (then by namespace and key)."""
    q = sa.select(store_items).where(_under(prefix))
    if user_id is not None:
        q = q.where(store_items.c.user_id == user_id)
    q = q.order_by(store_items.c.updated_at.desc(), store_items.c.namespace,
                   store_items.c.key)
    return [_item(r) for r in conn.execute(q)]


def namespaces(conn: sa.Connection, *, user_id: str | None = None) -> list[tuple[str, ...]]:
    """Every namespace holding at least one item (of ``user_id``, when given), sorted."""
    q = sa.select(store_items.c.namespace).distinct()
    if user_id is not None:
        q = q.where(store_items.c.user_id == user_id)
    return sorted(split_namespace(n) for n in conn.execute(q).scalars())

"""What a filtered search may return, read from SQL before any retriever runs, and the
stored vectors exact search and scoring read.

A unit's filters are its owner's: a separate key row or an item's field unit
(:data:`STANDS_FOR`, with ``parent_id`` set) stands for its parent, so it is in scope
exactly when the parent is. Other units with a parent (extracted facts) are their own
owners. Sessions, time and kinds are SQL conditions on the owner; roles an ``EXISTS`` over
its turns; metadata a ``LIKE`` on each key's JSON name that narrows the turns read,
then an exact comparison here (the same on every SQL dialect).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..types import SearchFilter
from .items import ITEM_KIND
from .repository import KEY_KIND
from .schema import embeddings, turns, unit_turns, units

__all__ = ["STANDS_FOR", "VectorCache", "count_units", "lex_rowids", "metadata_matches",
           "scope_ids", "session_and_time", "unit_texts", "unit_vectors"]

#: kinds of the rows that stand for their parent unit (its key rows, an item's fields)
STANDS_FOR = (KEY_KIND, ITEM_KIND)

_CHUNK = 500


def scope_ids(conn: sa.Connection, user_id: str, f: SearchFilter | None,
              kinds: Collection[str] | None) -> set[str]:
    """Ids of the user's units (owners and the rows that stand for them) that
    ``f`` and ``kinds`` let through."""
    child = sa.and_(units.c.parent_id.is_not(None), units.c.kind.in_(STANDS_FOR))
    cond: list[Any] = [units.c.user_id == user_id, sa.not_(child)]
    if kinds is not None:
        cond.append(units.c.kind.in_(sorted(kinds)))
    if f is not None:
        cond.extend(session_and_time(f, units.c.session_id, units.c.timestamp))
        if f.roles is not None:
            cond.append(sa.exists(
                sa.select(turns.c.id).select_from(
                    unit_turns.join(turns, turns.c.id == unit_turns.c.turn_id))
                .where(unit_turns.c.unit_id == units.c.id, turns.c.role.in_(f.roles))))
    owner_q = sa.select(units.c.id).where(*cond)
    owners = set(conn.execute(owner_q).scalars())
    if f is not None and f.metadata and owners:
        owners &= _metadata_owners(conn, user_id, f)
    if not owners:
        return set()
    children = conn.execute(sa.select(units.c.id, units.c.parent_id).where(
        units.c.user_id == user_id, child, units.c.parent_id.in_(owner_q)))
    return owners | {i for i, p in children if p in owners}


def lex_rowids(conn: sa.Connection, ids: Collection[str]) -> list[int]:
    """The lexical index rowids of these units (those that have one)."""
    wanted = sorted(ids)
    out: list[int] = []
    for i in range(0, len(wanted), _CHUNK):
        out.extend(r for r in conn.execute(sa.select(units.c.lex_rowid).where(
            units.c.id.in_(wanted[i : i + _CHUNK]))).scalars() if r is not None)
    return out


def session_and_time(f: SearchFilter, session: Any, timestamp: Any) -> list[Any]:
    """SQL conditions of ``f``'s sessions and time window on these columns."""
    cond: list[Any] = []
    if f.session_ids is not None:
        cond.append(session.in_(f.session_ids))
    if f.since is not None:
        cond.append(timestamp >= f.since)
    if f.until is not None:
        cond.append(timestamp < f.until)
    return cond


def _metadata_owners(conn: sa.Connection, user_id: str, f: SearchFilter) -> set[str]:
    """Units with a turn whose metadata matches every condition of ``f``."""
    text = sa.cast(turns.c.metadata, sa.Text)
    rows = conn.execute(
        sa.select(unit_turns.c.unit_id, turns.c.metadata)
        .select_from(unit_turns.join(turns, turns.c.id == unit_turns.c.turn_id))
        .where(turns.c.user_id == user_id, *(
            # the key as JSON names it, with non-ASCII escaped (as agentmem writes
            # metadata) or not (as another writer may have)
            sa.or_(*(text.contains(name, autoescape=True) for name in
                     {json.dumps(k), json.dumps(k, ensure_ascii=False)}))
            for k, _ in f.metadata)))
    return {u for u, meta in rows if metadata_matches(meta, f.metadata)}


def metadata_matches(meta: Any, conditions: Sequence[tuple[str, tuple[Any, ...]]]) -> bool:
    """Whether ``meta`` (a turn's metadata) holds every key at one of its values; JSON
    types are compared as JSON does (``true`` is not ``1``)."""
    if isinstance(meta, str):  # a dialect that hands JSON back as text
        meta = json.loads(meta)
    if not isinstance(meta, dict):
        return False
    for key, allowed in conditions:
        if key not in meta:
            return False
        value = meta[key]
        if not any(_same(value, a) for a in allowed):
            return False
    return True


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b or (type(a) is type(b) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def count_units(conn: sa.Connection, user_id: str, *, at_most: int | None = None) -> int:
    """How many units the user has (key rows and item fields included); with
    ``at_most``, counted no further than that (a constant cost however many there
    are: 5 ms per search for a user with 100k units otherwise)."""
    mine = sa.select(units.c.id).where(units.c.user_id == user_id)
    if at_most is not None:
        mine = mine.limit(at_most)
    return int(conn.execute(sa.select(sa.func.count()).select_from(mine.subquery()))
               .scalar_one())


class VectorCache:
    """Stored vectors by (model, content hash), held in process memory (LRU, at most
    ``max_rows``): a vector never changes for its content, so exact search reads the
    blobs from SQL once, not on every search."""

    def __init__(self, max_rows: int = 50_000) -> None:
        self.max_rows = max_rows
        self._rows: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: sa.Connection, model: str, hashes: Collection[str]
            ) -> dict[str, np.ndarray]:
        """The vectors of these hashes that exist (from memory, else from SQL)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for h in hashes:
                v = self._rows.get((model, h))
                if v is not None:
                    found[h] = v
                    self._rows.move_to_end((model, h))
        missing = [h for h in hashes if h not in found]
        for i in range(0, len(missing), _CHUNK):
            for h, blob in conn.execute(sa.select(
                    embeddings.c.content_hash, embeddings.c.vector).where(
                    embeddings.c.model == model,
                    embeddings.c.content_hash.in_(missing[i : i + _CHUNK]))):
                found[h] = np.frombuffer(blob, dtype=np.float32)
        if missing:
            with self._lock:
                for h in missing:
                    if h in found:
                        self._rows[(model, h)] = found[h]
                while len(self._rows) > self.max_rows:
                    self._rows.popitem(last=False)
        return found

    def drop(self, hashes: Collection[str]) -> None:
        """Forget the vectors of these hashes (every model): their content was
        erased."""
        gone = set(hashes)
        with self._lock:
            for key in [k for k in self._rows if k[1] in gone]:
                del self._rows[key]


def unit_vectors(conn: sa.Connection, user_id: str, model: str,
                 ids: Sequence[str] | None = None, *, cache: VectorCache | None = None
                 ) -> tuple[list[str], np.ndarray, int]:
    """The user's units (all, or those of ``ids``) that have a vector in the
    embedding cache, those vectors (one row each, float32), and how many units the
    dense index holds whose vector the cache lacks (0 unless it was emptied: exact
    search over the cache would then miss them). A unit whose vector was refused
    has none and is left out, as it is of the dense index."""
    key = sa.func.coalesce(units.c.key_hash, units.c.content_hash).label("h")
    base = sa.select(units.c.id, units.c.user_id, units.c.dense_pending, units.c.index_error,
                     key)
    rows: list[Any] = []
    if ids is None:
        rows = list(conn.execute(base.where(units.c.user_id == user_id)))
    else:
        wanted = list(ids)
        for i in range(0, len(wanted), _CHUNK):
            rows.extend(r for r in conn.execute(base.where(
                units.c.id.in_(wanted[i : i + _CHUNK]))) if r.user_id == user_id)
    hashes = {r.h for r in rows}
    vectors = (cache or VectorCache(0)).get(conn, model, hashes) if hashes else {}
    lacking = sum(1 for r in rows if r.h not in vectors and not r.dense_pending
                  and r.index_error is None)
    rows = [r for r in rows if r.h in vectors]
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32), lacking
    return [r.id for r in rows], np.stack([vectors[r.h] for r in rows]), lacking


def unit_texts(conn: sa.Connection, ids: Sequence[str], user_id: str
               ) -> dict[str, list[str]]:
    """Each of the user's units among ``ids``: its text, then its turns' contents."""
    found: dict[str, list[str]] = {}
    wanted = list(ids)
    for i in range(0, len(wanted), _CHUNK):
        part = wanted[i : i + _CHUNK]
        found.update((r.id, [r.text]) for r in conn.execute(
            sa.select(units.c.id, units.c.text, units.c.user_id).where(units.c.id.in_(part)))
            if r.user_id == user_id)
        for unit_id, content in conn.execute(
                sa.select(unit_turns.c.unit_id, turns.c.content)
                .join(turns, turns.c.id == unit_turns.c.turn_id)
                .where(unit_turns.c.unit_id.in_(part))):
            if unit_id in found:
                found[unit_id].append(content)
    return found

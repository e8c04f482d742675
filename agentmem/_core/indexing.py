"""The units' indexes: new units into the lexical index with their dated events, units
dropped (their vectors tombstoned) and what they leave unused erased, the dense index
kept in line with SQL (after every write and on open: crash repair), and the rebuild
behind ``reindex``. Every function takes the :class:`IndexHost` (the engine) it works
on."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from tqdm.auto import tqdm

from ..embed import CachedEmbedder, content_hash
from ..embed.cache import split_parts
from ..errors import AgentMemError, ConfigError, EmbeddingError
from ..index import ChromaIndex, LexicalIndex
from ..storage import repository as repo
from ..storage.database import Database
from ..storage.schema import index_tombstones, unit_events, units
from ..stores import purge_expansions
from ..temporal import find_time_ranges
from ..types import TimeRange

log = logging.getLogger("agentmem")

_SYNC_CHUNK = 512
_PROGRESS_THRESHOLD = 256


class IndexHost(Protocol):
    """What the index functions work on (the engine)."""

    db: Database
    dense: ChromaIndex
    embedder: CachedEmbedder
    lexical: LexicalIndex | None
    read_only: bool

    @property
    def lock(self) -> Any:
        """The memory's write lock (re-entrant)."""
        ...

    def collection(self, user_id: str) -> str:
        """The Chroma collection (shard) holding ``user_id``'s vectors."""
        ...

    def note_failure(self, message: str) -> str:
        """Keep a failure for ``stats().last_index_error``; returns it as kept."""
        ...


def dated_events(text: str, key: str | None, when: datetime) -> list[TimeRange]:
    """The dates a unit's text and its expanded key mention, each once."""
    found = find_time_ranges(text, when) + (find_time_ranges(key, when) if key else [])
    return list({(r.start, r.end): r for r in found}.values())


def insert_units(host: IndexHost, conn: sa.Connection, user_id: str, session_id: str,
                 store: str, drafts: Sequence[Any]) -> None:
    """New units in SQL and the lexical index, with their dated events; the dense
    index gets them at the next :func:`sync_index`."""
    texts = [d.text for d in drafts]
    rowids: list[int | None] = (
        list(host.lexical.add(conn, [(user_id, d.key or d.text) for d in drafts]))
        if host.lexical else [None] * len(drafts)
    )
    repo.insert_units(conn, user_id=user_id, session_id=session_id, store=store,
                      drafts=drafts, hashes=[content_hash(t) for t in texts],
                      key_hashes=[content_hash(d.key) if d.key else None for d in drafts],
                      lex_rowids=rowids)
    repo.insert_unit_events(conn, user_id, [
        (d.id, r) for d in drafts for r in dated_events(d.text, d.key, d.timestamp)])


def drop_units(host: IndexHost, conn: sa.Connection, unit_ids: Sequence[str]
               ) -> list[repo.DeletedUnit]:
    """Delete units in SQL and the lexical index; queue their vectors for removal."""
    gone = repo.delete_units(conn, unit_ids)
    if host.lexical:
        host.lexical.delete(conn, [g.lex_rowid for g in gone if g.lex_rowid is not None])
    repo.add_tombstones(conn, [(g.id, host.collection(g.user_id)) for g in gone])
    return gone


def erase(host: IndexHost, conn: sa.Connection, gone: Sequence[repo.DeletedUnit],
          hashes: Sequence[str] = ()) -> None:
    """After units (and other items, whose content ``hashes`` are given) are deleted:
    drop cached vectors and key expansions nothing remaining uses and merge the FTS5
    b-trees so the deleted terms leave the file."""
    unused = repo.unused_hashes(conn, [*hashes, *(h for g in gone
                                                  for h in (g.content_hash, g.key_hash)
                                                  if h)])
    host.embedder.purge(conn, unused)
    purge_expansions(conn, unused)
    if host.lexical:
        host.lexical.optimize(conn)


def sync_index(host: IndexHost, progress: Callable[[int, int], None] | None = None) -> None:
    """Bring the dense index in line with SQL: remove tombstoned vectors, embed and
    upsert pending units. ``progress(done, total)``, when given, follows the units
    embedded (and replaces the progress bar).

    A unit whose vector is refused (not finite, or zero), or that fails alone, is set
    aside (``units.index_error``) and the others go on. Raises
    :class:`~agentmem.errors.AgentMemError` only when nothing could be indexed (Chroma
    or the embedder down): the work stays queued. Callers whose data is already stored
    use :func:`index_after_write`, which never raises."""
    with host.lock:
        for _ in range(3):  # again when another writer changed a key meanwhile
            if not _sync_pass(host, progress):
                return


def _sync_pass(host: IndexHost, progress: Callable[[int, int], None] | None) -> bool:
    """One pass of :func:`sync_index`; True when units were queued again during it."""
    again = False
    with host.db.connect() as conn:
        tombs = conn.execute(sa.select(index_tombstones)).all()
        pending = conn.execute(
            sa.select(units.c.id, units.c.user_id, units.c.store,
                      sa.func.coalesce(units.c.key, units.c.text).label("text"),
                      sa.func.coalesce(units.c.key_hash, units.c.content_hash)
                      .label("hash"), units.c.key.is_not(None).label("keyed"))
            .where(units.c.dense_pending.is_(True), units.c.index_error.is_(None))
            .order_by(units.c.user_id, units.c.session_id, units.c.position)
        ).all()
    if tombs:
        by_col: dict[str, list[str]] = defaultdict(list)
        for t in tombs:
            by_col[t.collection].append(t.unit_id)
        for col, ids in by_col.items():
            host.dense.delete(col, ids)
        with host.db.begin() as conn:
            for start in range(0, len(tombs), 500):
                conn.execute(sa.delete(index_tombstones).where(
                    index_tombstones.c.unit_id.in_(
                        [t.unit_id for t in tombs[start : start + 500]])))
    if not pending:
        return False
    bar = tqdm(total=len(pending), desc="indexing", unit="unit",
               disable=progress is not None or len(pending) < _PROGRESS_THRESHOLD or None)
    if progress is not None:
        progress(0, len(pending))
    try:
        for i in range(0, len(pending), _SYNC_CHUNK):
            part = pending[i : i + _SYNC_CHUNK]
            again |= index_units(host, part)
            bar.update(len(part))
            if progress is not None:
                progress(i + len(part), len(pending))
    finally:
        bar.close()
    return again


def index_units(host: IndexHost, part: Sequence[Any]) -> bool:
    """Embed and upsert pending units (rows with id, user_id, store, text and the
    text's hash), then mark them indexed, each only if its text is still the one
    embedded (another writer may have rebuilt its key meanwhile: it stays queued, and
    its next upsert replaces the stale vector). What fails for some units only sets
    those aside; what fails for every unit raises. True when units were queued again
    that way."""
    try:
        vectors = host.embedder.embed_stored([p.text for p in part], progress=False,
                                             composed=_keyed(part))
    except EmbeddingError as exc:
        if exc.bad:  # these vectors are unusable: nothing to retry until reopened
            refused = set(exc.bad)
            set_aside(host, [part[i] for i in sorted(refused)], str(exc))
            rest = [p for i, p in enumerate(part) if i not in refused]
            return index_units(host, rest) if rest else False
        return isolate(host, part, exc)
    try:
        groups = upsert(host, part, vectors)
    except AgentMemError as exc:
        return isolate(host, part, exc)
    ids = [p.id for p in part]
    stale = 0
    with host.db.begin() as conn:
        for p in part:  # compare-and-clear: done only if the text is the one embedded;
            # else queued again, so that the current text's vector replaces this one
            same = sa.func.coalesce(units.c.key_hash, units.c.content_hash) == p.hash
            conn.execute(sa.update(units).where(units.c.id == p.id, same)
                         .values(dense_pending=False))
            stale += conn.execute(sa.update(units).where(units.c.id == p.id, ~same)
                                  .values(dense_pending=True)).rowcount
        kept = set(conn.execute(sa.select(units.c.id).where(units.c.id.in_(ids))).scalars())
        # a text deleted meanwhile by another writer: its cached vectors go again
        # (a composed key's, and its own text's, cached with it)
        unused = repo.unused_hashes(conn, {p.hash for p in part} | {
            content_hash(parts[0]) for i in _keyed(part)
            if (parts := split_parts(part[i].text))})
        if unused:
            host.embedder.purge(conn, unused)
    # deleted by another process while they were being indexed: no orphan vector
    for (col, _user), idx in groups.items():
        host.dense.delete(col, [part[j].id for j in idx if part[j].id not in kept])
    return stale > 0


def _keyed(part: Sequence[Any]) -> list[int]:
    """Positions of the rows indexed under a key (composed keys among them)."""
    return [i for i, p in enumerate(part) if getattr(p, "keyed", False)]


def isolate(host: IndexHost, part: Sequence[Any], first: AgentMemError) -> bool:
    """After a batch failed: each unit alone. Those failing alone are set aside; when
    every one fails, the cause is not the units (the backend is down): raise."""
    if len(part) == 1:
        raise first
    failed: list[tuple[Any, Exception]] = []
    again = False
    for n, p in enumerate(part):
        try:
            again |= index_units(host, [p])
        except AgentMemError as exc:
            failed.append((p, exc))
            if n >= 2 and len(failed) == n + 1:
                raise first from exc  # the first three all failed: the backend, not them
    if len(failed) == len(part):
        raise first
    for p, why in failed:
        set_aside(host, [p], str(why))
    return again


def set_aside(host: IndexHost, rows: Sequence[Any], why: str) -> None:
    """Units that cannot be indexed: kept in SQL (found by lexical search), left out
    of the dense index, counted by ``stats().index_failed``, retried on open."""
    message = host.note_failure(why)
    log.warning("%d unit(s) set aside from the dense index: %s", len(rows), message)
    with host.db.begin() as conn:
        conn.execute(sa.update(units).where(units.c.id.in_([r.id for r in rows]))
                     .values(index_error=message))


def open_index(host: IndexHost, *, made_before_shards: bool) -> bool:
    """On open: rebuild what the settings changed, repair what a crash or a lost index
    left (pending work, set-aside units, collections out of line with SQL). Never
    raises for index work; a read-only memory loads its vectors into memory. True when
    the embedder changed (the strategies' derived vectors must be rebuilt too)."""
    stored = host.db.get_meta("embedder")
    name = host.embedder.name
    if host.read_only:
        if stored not in (None, name):
            raise ConfigError(f"embedder: this read-only memory was indexed with "
                              f"{stored!r}, not {name!r}: open it with that embedder")
        load_vectors(host)
        return False
    changed = False
    if stored is None:
        host.db.set_meta("embedder", name)
    elif stored != name:
        log.warning("embedder changed from %s to %s: rebuilding the dense index",
                    stored, name)
        host.db.set_meta("embedder", name)
        mark_all_pending(host)
        changed = True
    elif made_before_shards:
        log.warning("moving the dense index to the shared layout: rebuilding it from "
                    "the SQL cache")
        mark_all_pending(host)
    elif host.dense.ephemeral and not host.db.in_memory:
        # vectors held in this process: loaded from the SQL cache, the queue left to
        # the processes that write (other processes may share this database)
        load_vectors(host)
    retry_set_aside(host)
    index_after_write(host)
    if not host.dense.ephemeral:
        try:  # a lost, emptied or stale index comes back from SQL
            check_index(host)
        except AgentMemError as exc:
            log.warning("could not check the dense index against SQL: %s", exc)
            host.note_failure(str(exc))
        index_after_write(host)
    return changed


def load_vectors(host: IndexHost) -> None:
    """Every indexed unit's vector into an in-memory index (a read-only memory, or a
    database URL without a Chroma server): from the SQL cache, or embedded now (and,
    read-only, not cached) where the cache lacks them; composed keys are composed as
    when they were indexed. Units whose vector is refused are left out."""
    with host.db.connect() as conn:
        rows = conn.execute(
            sa.select(units.c.id, units.c.user_id, units.c.store,
                      sa.func.coalesce(units.c.key, units.c.text).label("text"),
                      units.c.key.is_not(None).label("keyed"))
            .where(units.c.index_error.is_(None))).all()
    for i in range(0, len(rows), _SYNC_CHUNK):
        part = list(rows[i : i + _SYNC_CHUNK])
        while part:
            try:
                vectors = host.embedder.embed_stored([r.text for r in part], progress=False,
                                                     composed=_keyed(part))
            except EmbeddingError as exc:
                if not exc.bad:
                    raise
                part = [r for j, r in enumerate(part) if j not in set(exc.bad)]
                continue
            upsert(host, part, vectors)
            break


def upsert(host: IndexHost, rows: Sequence[Any], vectors: np.ndarray
           ) -> dict[tuple[str, str], list[int]]:
    """Units' vectors (``rows`` with id, user_id, store; ``vectors`` in the same order)
    into their users' shards; returns the positions grouped by (collection, user)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j, r in enumerate(rows):
        groups[(host.collection(r.user_id), r.user_id)].append(j)
    for (col, user), idx in groups.items():
        host.dense.upsert(col, [rows[j].id for j in idx], vectors[idx], user_id=user)
    return groups


def index_after_write(host: IndexHost, progress: Callable[[int, int], None] | None = None
                      ) -> None:
    """:func:`sync_index` after a write committed, or on open: never raises. What could
    not be done stays queued in SQL and is retried on the next write or open; the
    cause is kept for ``stats().last_index_error`` and logged."""
    try:
        sync_index(host, progress)
    except Exception as exc:
        host.note_failure(str(exc))
        log.warning("stored, but indexing failed (queued: retried on the next write or "
                    "open): %s", exc)


def check_index(host: IndexHost) -> None:
    """Cheap repair on open: each collection's vector count against SQL's indexed
    units; where they differ, the ids are compared, missing vectors queued again and
    stray ones removed. A lost or emptied index thus comes back from the SQL cache."""
    with host.db.connect() as conn:
        rows = conn.execute(
            sa.select(units.c.user_id, units.c.store, sa.func.count())
            .where(units.c.dense_pending.is_(False))
            .group_by(units.c.user_id, units.c.store)).all()
    expected: dict[str, int] = defaultdict(int)
    for user, _store, n in rows:
        expected[host.collection(user)] += int(n)
    present = set(host.dense.collections())
    wrong = sorted(c for c in set(expected) | present
                   if (host.dense.count(c) if c in present else 0) != expected.get(c, 0))
    if not wrong:
        return
    log.warning("the dense index differs from SQL in %d collection(s): repairing",
                len(wrong))
    # Chroma first, SQL after: a unit another process adds in between is then in SQL
    # (kept) even when its vector was not read, never deleted as a stray.
    have = {col: host.dense.ids(col) if col in present else set() for col in wrong}
    with host.db.connect() as conn:
        listed = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.store,
                                        units.c.dense_pending)).all()
    want: dict[str, set[str]] = defaultdict(set)
    known = {r.id for r in listed}
    for r in listed:
        if not r.dense_pending:
            want[host.collection(r.user_id)].add(r.id)
    missing: list[str] = []
    for col in wrong:
        missing += sorted(want[col] - have[col])
        host.dense.delete(col, sorted(have[col] - known))
    with host.db.begin() as conn:
        for i in range(0, len(missing), 500):
            conn.execute(sa.update(units).where(units.c.id.in_(missing[i : i + 500]))
                         .values(dense_pending=True))


def retry_set_aside(host: IndexHost) -> None:
    """Give units set aside earlier another chance (on open and by reindex)."""
    with host.db.begin() as conn:
        conn.execute(sa.update(units).where(units.c.index_error.is_not(None))
                     .values(index_error=None))


def mark_all_pending(host: IndexHost) -> None:
    """Drop the dense index and queue every unit again (vectors come from the cache)."""
    host.dense.drop_all()
    with host.db.begin() as conn:
        conn.execute(sa.update(units).values(dense_pending=True, index_error=None))


def reindex(host: IndexHost) -> None:
    """Rebuild the units' indexes from SQL: the lexical rows, the dated events and the
    dense vectors (from the embedding cache where possible), under the write lock."""
    with host.lock:
        if host.lexical:
            with host.db.begin() as conn:
                host.lexical.clear(conn)
                rows = conn.execute(sa.select(
                    units.c.id, units.c.user_id,
                    sa.func.coalesce(units.c.key, units.c.text).label("text"))
                    .order_by(units.c.id)).all()
                rowids = host.lexical.add(conn, [(r.user_id, r.text) for r in rows])
                for r, rid in zip(rows, rowids, strict=True):
                    conn.execute(sa.update(units).where(units.c.id == r.id)
                                 .values(lex_rowid=rid))
                host.lexical.optimize(conn)
        rebuild_events(host)
        mark_all_pending(host)
        sync_index(host)


def rebuild_events(host: IndexHost) -> None:
    """Re-derive every unit's dated events from its text and timestamp."""
    with host.db.begin() as conn:
        conn.execute(sa.delete(unit_events))
        rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.text,
                                      units.c.key, units.c.timestamp)).all()
        by_user: dict[str, list[tuple[str, TimeRange]]] = defaultdict(list)
        for r in rows:
            by_user[r.user_id] += [(r.id, e)
                                   for e in dated_events(r.text, r.key, r.timestamp)]
        for user, events in by_user.items():
            repo.insert_unit_events(conn, user, events)

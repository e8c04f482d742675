"""JSONL export and import of a memory: the lossless, human-readable backup format.

One JSON object per line, in this order: a header, then ``user``, ``session``,
``turn``, ``unit``, ``item`` (LangGraph store items), ``thought`` and ``event``
records. Timestamps are ISO 8601.
Vectors and LSH buckets are not exported: they are recomputed (or taken from the
embedding cache) on import.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa

from .errors import BackendError
from .storage import items as store_items_repo
from .storage.schema import (
    memory_log,
    sessions,
    store_items,
    thought_sources,
    thoughts,
    turns,
    unit_strength,
    unit_turns,
    units,
    users,
)
from .temporal import format_timestamp
from .transfer_files import _check_export_path, _partial_path, _read_snapshot, _sealed_file
from .transfer_import import import_records
from .transfer_read import FORMAT, VERSION, read_jsonl
from .transfer_read import _Records as _Records  # re-exported

#: what :func:`read_jsonl` returns: an export's records, read and validated
Records = _Records

__all__ = ["FORMAT", "VERSION", "Records", "export_jsonl", "import_records", "read_jsonl"]

#: other strategies' records for an export: (strategy name, record) from a connection
Extra = Callable[[sa.Connection], Iterable[tuple[str, dict[str, Any]]]]


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def export_jsonl(conn: sa.Connection, path: Path, *, user_id: str | None, granularity: str,
                 embedder: str, extra: Extra | None = None) -> int:
    """Write the records of every user (or one) to ``path``; returns the count.

    The records come from one read snapshot of the database (writes committed during
    the export are in none of them or all of them). The file is created with mode 0600
    and gets its name only when complete: on Linux it is written unnamed
    (``O_TMPFILE``) and linked in place, so an export killed midway leaves no text on
    disk; elsewhere it is written to ``<path>.partial``, renamed on success, removed on
    failure, and a ``.partial`` left by a killed export is removed by the next export
    to that path. A missing folder, or a folder as ``path``, raises
    :class:`~agentmem.errors.InvalidInput` before anything is read; a failed write
    (disk full, permission denied) raises :class:`~agentmem.errors.BackendError`
    and leaves no file. ``extra(conn)``, when given, yields other strategies' own
    records as (strategy name, JSON-serialisable dict), read in the same snapshot."""
    _check_export_path(path)
    partial = _partial_path(path)
    with contextlib.suppress(OSError):  # left by a killed export on the fallback path
        partial.unlink(missing_ok=True)
    try:
        with _read_snapshot(conn), _sealed_file(path, partial) as fh:
            return _write_records(conn, fh, path, user_id=user_id, granularity=granularity,
                                  embedder=embedder, extra=extra)
    except OSError as exc:
        raise BackendError(f"cannot write the export {str(path)!r}: "
                           f"{exc.strerror or exc}") from exc


def _unencodable(path: Path, record: dict[str, Any]) -> BackendError:
    """The error for a stored record holding a string UTF-8 cannot encode (a lone
    surrogate, e.g. from a JSON escape in old metadata). Names the record, not its text."""
    def encodes(value: Any) -> bool:
        try:
            _dump(value).encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True

    fields = [k for k in sorted(record) if not encodes(record[k])] or ["?"]
    kind = record.get("type")
    ident = (record.get("id") or record.get("memory_id")
             or "/".join([*record.get("namespace", []), str(record.get("key"))]))
    return BackendError(
        f"cannot export to {str(path)!r}: the stored {kind} {ident!r} of user "
        f"{record.get('user_id')!r} holds a string that is not valid Unicode (a lone "
        f"surrogate) in {', '.join(fields)}; correct or delete that {kind}, then export "
        "again (nothing was written)")


def _write_records(conn: sa.Connection, fh: TextIO, path: Path, *, user_id: str | None,
                   granularity: str, embedder: str, extra: Extra | None = None) -> int:
    def scoped(q: Any, col: Any) -> Any:
        return q.where(col == user_id) if user_id is not None else q

    def write(record: dict[str, Any]) -> None:
        try:
            fh.write(_dump(record) + "\n")
        except UnicodeEncodeError:
            raise _unencodable(path, record) from None

    n = 0
    write({"type": FORMAT, "version": VERSION, "granularity": granularity,
           "embedder": embedder})
    n += 1
    for r in conn.execute(scoped(sa.select(users), users.c.id).order_by(users.c.id)):
        write({"type": "user", "id": r.id, "created_at": format_timestamp(r.created_at)})
        n += 1
    for r in conn.execute(scoped(sa.select(sessions), sessions.c.user_id)
                          .order_by(sessions.c.user_id, sessions.c.id)):
        write({"type": "session", "user_id": r.user_id, "id": r.id,
               "started_at": format_timestamp(r.started_at)})
        n += 1
    for r in conn.execute(scoped(sa.select(turns), turns.c.user_id)
                          .order_by(turns.c.user_id, turns.c.session_id, turns.c.position)):
        write({"type": "turn", "id": r.id, "user_id": r.user_id,
               "session_id": r.session_id, "position": r.position,
               "role": r.role, "name": r.name, "content": r.content,
               "timestamp": format_timestamp(r.timestamp),
               "metadata": r.metadata or {}})
        n += 1
    links: dict[str, list[str]] = {}
    for r in conn.execute(scoped(
            sa.select(unit_turns.c.unit_id, unit_turns.c.turn_id)
            .join(units, units.c.id == unit_turns.c.unit_id), units.c.user_id)
            .order_by(unit_turns.c.unit_id, unit_turns.c.ordinal)):
        links.setdefault(r.unit_id, []).append(r.turn_id)
    curves = {r.unit_id: r for r in conn.execute(
        scoped(sa.select(unit_strength), unit_strength.c.user_id))}
    for r in conn.execute(scoped(sa.select(units), units.c.user_id).order_by(
            units.c.user_id, units.c.session_id, units.c.position, units.c.store,
            units.c.id)):
        record = {"type": "unit", "id": r.id, "user_id": r.user_id,
                  "session_id": r.session_id, "store": r.store, "kind": r.kind,
                  "text": r.text, "timestamp": format_timestamp(r.timestamp),
                  "position": r.position, "turn_ids": links.get(r.id, [])}
        if r.key is not None:  # an expanded retrieval key
            record["key"] = r.key
        if r.parent_id is not None:  # a separate key row of that unit
            record["parent_id"] = r.parent_id
        if r.id in curves:  # its MemoryBank forgetting curve
            c = curves[r.id]
            record["strength"] = {
                "strength": c.strength, "last_recall": format_timestamp(c.last_recall),
                "archived_at": format_timestamp(c.archived_at) if c.archived_at else None}
        write(record)
        n += 1
    for r in conn.execute(scoped(sa.select(store_items), store_items.c.user_id).order_by(
            store_items.c.namespace, store_items.c.key)):
        write({
            "type": "item", "namespace": list(store_items_repo.split_namespace(
                r.namespace)), "key": r.key, "user_id": r.user_id,
            "value": r.value, "unit_id": r.unit_id,
            "created_at": format_timestamp(r.created_at),
            "updated_at": format_timestamp(r.updated_at)})
        n += 1
    sources: dict[str, list[str]] = {}
    for r in conn.execute(scoped(
            sa.select(thought_sources.c.thought_id, thought_sources.c.turn_id)
            .join(thoughts, thoughts.c.id == thought_sources.c.thought_id),
            thoughts.c.user_id).order_by(thought_sources.c.thought_id,
                                         thought_sources.c.turn_id)):
        sources.setdefault(r.thought_id, []).append(r.turn_id)
    for r in conn.execute(scoped(sa.select(thoughts), thoughts.c.user_id).order_by(
            thoughts.c.user_id, thoughts.c.seq)):
        write({
            "type": "thought", "id": r.id, "user_id": r.user_id,
            "session_id": r.session_id, "head": r.head, "relation": r.relation,
            "tail": r.tail, "text": r.text, "status": r.status,
            "replaced_by": r.replaced_by, "timestamp": format_timestamp(r.timestamp),
            "created_at": format_timestamp(r.created_at),
            "updated_at": format_timestamp(r.updated_at),
            "source_turn_ids": sources.get(r.id, [])})
        n += 1
    for r in conn.execute(scoped(sa.select(memory_log), memory_log.c.user_id)
                          .order_by(memory_log.c.seq)):
        write({
            "type": "event", "memory_id": r.memory_id, "user_id": r.user_id,
            "op": r.op, "at": format_timestamp(r.at), "other_id": r.other_id,
            "reason": r.reason, "detail": r.detail or {}})
        n += 1
    for name, record in extra(conn) if extra is not None else ():
        write({"type": "strategy", "strategy": name, "record": record})
        n += 1
    return n

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import sqlalchemy as sa

from .embed import content_hash
from .errors import BackendError, InvalidInput
from .inputs import check_id
from .storage import items as store_items_repo
from .storage import repository as repo
from .storage.items import ITEM_STORE
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
from .stores.bank import KEPT_KINDS
from .stores.base import UnitDraft
from .stores.thoughts import normalise
from .temporal import format_timestamp, parse_timestamp
from .transfer_files import _check_export_path, _partial_path, _read_snapshot, _sealed_file
from .types import ROLES, THOUGHT_STATUSES, Turn

__all__ = ["FORMAT", "VERSION", "export_jsonl", "import_records", "read_jsonl"]

FORMAT = "agentmem-export"
VERSION = 1


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def export_jsonl(conn: sa.Connection, path: Path, *, user_id: str | None, granularity: str,
                 embedder: str) -> int:
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
    and leaves no file."""
    _check_export_path(path)
    partial = _partial_path(path)
    with contextlib.suppress(OSError):  # left by a killed export on the fallback path
        partial.unlink(missing_ok=True)
    try:
        with _read_snapshot(conn), _sealed_file(path, partial) as fh:
            return _write_records(conn, fh, path, user_id=user_id, granularity=granularity,
                                  embedder=embedder)
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
                   granularity: str, embedder: str) -> int:
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
    return n


@dataclass(frozen=True)
class _Records:
    header: dict[str, Any]
    users: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    turns: list[Turn]
    units: list[tuple[str, str, str, UnitDraft]]  # user_id, session_id, store, draft
    curves: list[dict[str, Any]]  # rows of unit_strength (user_id filled in on import)
    thoughts: list[dict[str, Any]]  # rows of the thoughts table, plus source_turn_ids
    events: list[dict[str, Any]]  # rows of the thought log (no seq)
    items: list[dict[str, Any]] = field(default_factory=list)  # LangGraph store items


def _field(rec: dict[str, Any], key: str, line: int, kind: type | tuple[type, ...] = str,
           optional: bool = False) -> Any:
    where = f"line {line}: {key}"
    if key not in rec or rec[key] is None:
        if optional:
            return None
        raise InvalidInput(where, "is required")
    value = rec[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise InvalidInput(where, f"has the wrong type {type(value).__name__}")
    if key in ("id", "user_id", "session_id"):
        check_id(value, where)
    return value


def read_jsonl(path: Path) -> _Records:
    """Parse and validate a whole export file; raises InvalidInput naming line and field."""
    if not path.exists():
        raise InvalidInput("path", f"no such file: {str(path)!r}")
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a folder, not an export file")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInput("path", f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    out = _Records(header={}, users=[], sessions=[], turns=[], units=[], curves=[],
                   thoughts=[],
                   events=[])
    thought_ids: set[str] = set()
    item_keys: set[tuple[str, str]] = set()
    turn_by_id: dict[str, Turn] = {}
    unit_ids: set[str] = set()
    item_units: dict[str, str] = {}  # the id of each LangGraph item unit: its user
    with fh:
        for line, raw in _lines(fh, path):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"line {line}", f"not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise InvalidInput(f"line {line}", "must be a JSON object")
            kind = rec.get("type")
            if line == 1 or not out.header:
                if kind != FORMAT:
                    raise InvalidInput(f"line {line}: type",
                                       f"the first record must be the {FORMAT!r} header")
                if rec.get("version") != VERSION:
                    raise InvalidInput(f"line {line}: version",
                                       f"unsupported version {rec.get('version')!r}")
                out.header.update(rec)
                continue
            if kind == "user":
                out.users.append({
                    "id": _field(rec, "id", line),
                    "created_at": parse_timestamp(_field(rec, "created_at", line),
                                                  field=f"line {line}: created_at")})
            elif kind == "session":
                out.sessions.append({
                    "user_id": _field(rec, "user_id", line), "id": _field(rec, "id", line),
                    "started_at": parse_timestamp(_field(rec, "started_at", line),
                                                  field=f"line {line}: started_at")})
            elif kind == "turn":
                role = _field(rec, "role", line)
                if role not in ROLES:
                    raise InvalidInput(f"line {line}: role", f"unknown role {role!r}")
                t = Turn(
                    id=_field(rec, "id", line), user_id=_field(rec, "user_id", line),
                    session_id=_field(rec, "session_id", line),
                    position=_field(rec, "position", line, int),
                    role=role, content=_field(rec, "content", line),
                    timestamp=parse_timestamp(_field(rec, "timestamp", line),
                                              field=f"line {line}: timestamp"),
                    name=_field(rec, "name", line, optional=True),
                    metadata=_field(rec, "metadata", line, dict, optional=True) or {},
                )
                if t.id in turn_by_id:
                    raise InvalidInput(f"line {line}: id", f"duplicate turn id {t.id!r}")
                turn_by_id[t.id] = t
                out.turns.append(t)
            elif kind == "unit":
                uid = _field(rec, "id", line)
                if uid in unit_ids:
                    raise InvalidInput(f"line {line}: id", f"duplicate unit id {uid!r}")
                unit_ids.add(uid)
                tids = _field(rec, "turn_ids", line, list)
                missing = [t for t in tids if t not in turn_by_id]
                kind = _field(rec, "kind", line)
                # summaries and LangGraph store items hold no turns
                if missing or (not tids and kind not in KEPT_KINDS
                               and _field(rec, "store", line) != ITEM_STORE):
                    raise InvalidInput(f"line {line}: turn_ids",
                                       f"unknown turn id {missing[0]!r}" if missing
                                       else "must not be empty")
                if "strength" in rec:
                    out.curves.append(_curve(rec, line, uid))
                draft = UnitDraft(
                    id=uid, kind=kind, text=_field(rec, "text", line),
                    timestamp=parse_timestamp(_field(rec, "timestamp", line),
                                              field=f"line {line}: timestamp"),
                    position=_field(rec, "position", line, int),
                    turns=tuple(turn_by_id[t] for t in tids),
                    key=_field(rec, "key", line) if "key" in rec else None,
                    parent_id=_field(rec, "parent_id", line) if "parent_id" in rec else None)
                out.units.append((_field(rec, "user_id", line), _field(rec, "session_id", line),
                                  _field(rec, "store", line), draft))
                if out.units[-1][2] == ITEM_STORE:
                    item_units[uid] = out.units[-1][0]
            elif kind == "item":
                out.items.append(_item(rec, line, item_units, item_keys))
            elif kind == "thought":
                out.thoughts.append(_thought(rec, line, turn_by_id, thought_ids))
            elif kind == "event":
                tid = _field(rec, "memory_id", line)
                if tid not in thought_ids and tid not in unit_ids:
                    raise InvalidInput(f"line {line}: memory_id", f"unknown memory {tid!r}")
                out.events.append({
                    "memory_id": tid, "user_id": _field(rec, "user_id", line),
                    "op": _field(rec, "op", line),
                    "at": parse_timestamp(_field(rec, "at", line), field=f"line {line}: at"),
                    "other_id": _field(rec, "other_id", line, optional=True),
                    "reason": _field(rec, "reason", line, optional=True) or "",
                    "detail": _field(rec, "detail", line, dict, optional=True) or {}})
            else:
                raise InvalidInput(f"line {line}: type", f"unknown record type {kind!r}")
    if not out.header:
        raise InvalidInput("path", f"{str(path)!r} is empty: no {FORMAT!r} header")
    return out


def _lines(fh: BinaryIO, path: Path) -> Iterator[tuple[int, str]]:
    """The numbered lines of an export, decoded; a line that is not UTF-8, or a read
    error, raises InvalidInput."""
    try:
        for line, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"line {line}", "is not UTF-8 text") from None
            yield line, text
    except OSError as exc:
        raise InvalidInput("path", f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc


def _curve(rec: dict[str, Any], line: int, unit_id: str) -> dict[str, Any]:
    data = _field(rec, "strength", line, dict)
    strength = data.get("strength")
    if isinstance(strength, bool) or not isinstance(strength, int) or strength < 1:
        raise InvalidInput(f"line {line}: strength.strength", "must be an int >= 1")
    last = data.get("last_recall")
    if not isinstance(last, str):
        raise InvalidInput(f"line {line}: strength.last_recall", "is required")
    gone = data.get("archived_at")
    return {"unit_id": unit_id, "user_id": _field(rec, "user_id", line),
            "strength": strength,
            "last_recall": parse_timestamp(last, field=f"line {line}: strength.last_recall"),
            "archived_at": None if gone is None else parse_timestamp(
                gone, field=f"line {line}: strength.archived_at")}


def _item(rec: dict[str, Any], line: int, item_units: dict[str, str],
          seen: set[tuple[str, str]]) -> dict[str, Any]:
    """A row of ``store_items`` from an ``item`` record."""
    labels = _field(rec, "namespace", line, list)
    if not labels or not all(isinstance(x, str) and x and "." not in x and "\x00" not in x
                             for x in labels):
        raise InvalidInput(f"line {line}: namespace",
                           "must be a non-empty list of non-empty labels without '.'")
    key = check_id(_field(rec, "key", line), f"line {line}: key")
    namespace = store_items_repo.join_namespace(labels)
    if (namespace, key) in seen:
        raise InvalidInput(f"line {line}: key", f"duplicate item {namespace!r} / {key!r}")
    seen.add((namespace, key))
    unit_id = _field(rec, "unit_id", line, optional=True)
    user_id = _field(rec, "user_id", line)
    # the item's unit: a LangGraph item unit of the same user (forget_user of the
    # item's user must take the unit, and its text, with it)
    if unit_id is not None and item_units.get(unit_id) != user_id:
        raise InvalidInput(f"line {line}: unit_id",
                           f"unknown unit {unit_id!r}" if unit_id not in item_units
                           else f"unit {unit_id!r} belongs to another user")
    return {"namespace": namespace, "key": key, "user_id": user_id,
            "value": _field(rec, "value", line, dict), "unit_id": unit_id,
            **{k: parse_timestamp(_field(rec, k, line), field=f"line {line}: {k}")
               for k in ("created_at", "updated_at")}}


def _thought(rec: dict[str, Any], line: int, turn_by_id: dict[str, Turn],
             seen: set[str]) -> dict[str, Any]:
    tid = _field(rec, "id", line)
    if tid in seen:
        raise InvalidInput(f"line {line}: id", f"duplicate thought id {tid!r}")
    seen.add(tid)
    status = _field(rec, "status", line)
    if status not in THOUGHT_STATUSES:
        raise InvalidInput(f"line {line}: status", f"unknown status {status!r}")
    row: dict[str, Any] = {"id": tid, "user_id": _field(rec, "user_id", line),
                           "session_id": _field(rec, "session_id", line, optional=True),
                           "status": status,
                           "replaced_by": _field(rec, "replaced_by", line, optional=True)}
    for key in ("head", "relation", "tail", "text"):
        row[key] = _field(rec, key, line)
        if not row[key].strip():
            raise InvalidInput(f"line {line}: {key}", "must not be empty")
    for key in ("timestamp", "created_at", "updated_at"):
        row[key] = parse_timestamp(_field(rec, key, line), field=f"line {line}: {key}")
    sources = _field(rec, "source_turn_ids", line, list)
    missing = [t for t in sources if t not in turn_by_id]
    if missing:
        raise InvalidInput(f"line {line}: source_turn_ids", f"unknown turn id {missing[0]!r}")
    row.update(head_key=normalise(row["head"]), relation_key=normalise(row["relation"]),
               content_hash=content_hash(row["text"]), source_turn_ids=list(sources))
    return row


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
        records.units) + len(records.items) + len(records.thoughts) + len(records.events)

"""Reading an export: the header's :data:`FORMAT` and :data:`VERSION`, and
:func:`read_jsonl`, which parses and validates a whole file into :class:`_Records`
(rows ready to insert), raising :class:`~agentmem.errors.InvalidInput` that names the
line and the field. The format itself is described in :mod:`agentmem.transfer`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .embed import content_hash
from .errors import InvalidInput
from .inputs import check_id
from .storage import items as store_items_repo
from .storage.items import ITEM_STORE
from .stores.bank import KEPT_KINDS
from .stores.base import UnitDraft
from .stores.thought_index import normalise
from .temporal import parse_timestamp
from .types import ROLES, THOUGHT_STATUSES, Turn

__all__ = ["FORMAT", "VERSION", "read_jsonl"]

FORMAT = "agentmem-export"
VERSION = 1


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
    #: other strategies' own records: (strategy name, record), in file order
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


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
            elif kind == "strategy":  # a strategy's own record, checked by it on import
                out.extra.append((_field(rec, "strategy", line),
                                  _field(rec, "record", line, dict)))
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

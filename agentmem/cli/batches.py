"""The input of ``agentmem add``: message batches read from JSON or JSONL text and
validated whole before anything is written.

Accepted shapes (see :mod:`agentmem.cli` for the user-facing description):

- a JSON array of messages, or a single message object: one batch, for the
  ``--user`` / ``--session`` (and optional ``--timestamp``) options;
- a JSON object ``{"user_id", "session_id", "timestamp", "messages"}``: one batch
  (the options fill in ``user_id`` / ``session_id`` / ``timestamp`` when absent);
- a JSON array of such objects: one batch each;
- JSONL: one message or one batch object per line (not both kinds in one input).

An object is a batch when it has a ``messages`` key, else a message. Consecutive
batches of the same user and session are written with one :meth:`Memory.add` call
(up to :data:`GROUP_LIMIT` messages); each batch's timestamp then moves onto its
messages, so nothing is dated differently than it would be batch by batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import DataError, InvalidInput
from ..inputs import MAX_METADATA_DEPTH, check_id, validate_messages
from ..temporal import parse_timestamp, utcnow

__all__ = ["BATCH_KEYS", "GROUP_LIMIT", "Batch", "read_batches"]

BATCH_KEYS: tuple[str, ...] = ("messages", "session_id", "timestamp", "user_id")
#: the most messages one grouped add call takes (a single larger batch stays whole)
GROUP_LIMIT = 256
_TOO_DEEP = (f"is JSON nested too deeply to read (a message's metadata may nest at most "
             f"{MAX_METADATA_DEPTH} deep)")


@dataclass(frozen=True)
class Batch:
    """Validated messages of one session, ready for :meth:`Memory.add`."""

    user_id: str
    session_id: str
    timestamp: str | None
    messages: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Item:
    where: str  # "" (the whole input), "[3]" (array element) or "line 3"
    value: dict[str, Any]


def _at(where: str, field: str) -> str:
    """A field's name inside an item: ``line 3: messages[0].role``, ``[3].role``."""
    if not where:
        return field
    if where.startswith("line "):
        return f"{where}: {field}"
    return f"{where}.{field}"


def read_batches(text: str, source: str, *, user_id: str | None = None,
                 session_id: str | None = None, timestamp: str | None = None
                 ) -> list[Batch]:
    """Parse and validate ``text`` (read from ``source``, named in errors) into the
    batches to add, in input order, consecutive ones of a session grouped. Raises
    :class:`~agentmem.errors.DataError` naming the source, the line or element and
    the field."""
    try:
        items = _items(text)
        return _group(_batches(items, user_id, session_id, timestamp))
    except DataError:
        raise
    except InvalidInput as exc:
        if exc.field.startswith("--"):  # an option, not the input
            raise
        raise DataError(source, exc.field, exc.message) from None


def _items(text: str) -> list[_Item]:
    """The input's objects: the JSON value (or array elements), else JSONL lines."""
    if not text.strip():
        raise InvalidInput("", "is empty: expected JSON or JSONL messages")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":  # one malformed JSON value
            raise InvalidInput(f"line {exc.lineno} column {exc.colno}",
                               f"not valid JSON ({exc.msg})") from None
        return _jsonl(text)
    except RecursionError:
        raise InvalidInput("", _TOO_DEEP) from None
    if isinstance(value, list):
        if not value:
            raise InvalidInput("", "is an empty list: nothing to add")
        items = [_Item(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        items = [_Item("", value)]
    for item in items:
        if not isinstance(item.value, dict):
            raise InvalidInput(item.where, "must be a JSON object (a message "
                               f"or a batch), got {type(item.value).__name__}")
        _check_finite(item)
    return items


def _check_finite(item: _Item) -> None:
    """Python's parser takes NaN and Infinity, which JSON does not have: refuse them
    (stored, they would make exports and ``--json`` output invalid JSON)."""
    try:
        json.dumps(item.value, allow_nan=False)
    except ValueError:
        raise InvalidInput(item.where, "holds NaN or Infinity, which JSON does not "
                                       "allow") from None
    except RecursionError:
        raise InvalidInput(item.where, _TOO_DEEP) from None


def _jsonl(text: str) -> list[_Item]:
    items: list[_Item] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"line {n}", f"not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InvalidInput(f"line {n}", _TOO_DEEP) from None
        if not isinstance(value, dict):
            raise InvalidInput(f"line {n}", "must be a JSON object (a message or a batch), "
                                            f"got {type(value).__name__}")
        items.append(_Item(f"line {n}", value))
        _check_finite(items[-1])
    return items


def _batches(items: list[_Item], user_id: str | None, session_id: str | None,
             timestamp: str | None) -> list[Batch]:
    if user_id is not None:
        check_id(user_id, "--user")
    if session_id is not None:
        check_id(session_id, "--session")
    if timestamp is not None:
        parse_timestamp(timestamp, field="--timestamp")
    is_batch = ["messages" in item.value for item in items]
    if any(is_batch) and not all(is_batch):
        odd = items[is_batch.index(not is_batch[0])]
        raise InvalidInput(odd.where, "mixes messages and batches (objects with "
                           "'messages'): give one kind only")
    if all(is_batch):
        return [_batch(item, user_id, session_id, timestamp) for item in items]
    # messages: one batch for the options
    if user_id is None:
        raise InvalidInput("--user", "is required to add a list of messages "
                                     "(or give batch objects with user_id)")
    if session_id is None:
        raise InvalidInput("--session", "is required to add a list of messages "
                                        "(or give batch objects with session_id)")
    messages = [item.value for item in items]
    _check_messages(messages, timestamp, [(item.where, "") for item in items], "")
    return [Batch(user_id, session_id, timestamp, tuple(messages))]


def _batch(item: _Item, user_id: str | None, session_id: str | None,
           timestamp: str | None) -> Batch:
    obj = item.value
    for key in obj:
        if key not in BATCH_KEYS:
            raise InvalidInput(_at(item.where, key),
                               f"unknown key; a batch has {', '.join(BATCH_KEYS)}")
    ids: list[str] = []
    for key, default, option in (("user_id", user_id, "--user"),
                                 ("session_id", session_id, "--session")):
        value = obj.get(key, default)
        if value is None:
            raise InvalidInput(_at(item.where, key), f"is required (or give {option})")
        ids.append(check_id(value, _at(item.where, key)))
    stamp = obj.get("timestamp")
    if stamp is None:  # absent or null: --timestamp (or now) dates the batch
        stamp = timestamp
    if stamp is not None:
        parse_timestamp(stamp, field=_at(item.where, "timestamp"))
    messages = obj["messages"]
    if not isinstance(messages, list):
        raise InvalidInput(_at(item.where, "messages"), "must be a list of messages")
    _check_messages(messages, stamp, [(item.where, f"messages[{i}]")
                                      for i in range(len(messages))],
                    _at(item.where, "messages"))
    return Batch(ids[0], ids[1], stamp, tuple(messages))


def _check_messages(messages: list[Any], timestamp: object,
                    names: list[tuple[str, str]], whole: str) -> None:
    """:func:`validate_messages`, its field names mapped onto the input's: message
    ``i`` is ``names[i]``, (the item it is in, its path inside that item)."""
    when = utcnow() if timestamp is None else parse_timestamp(timestamp)
    try:
        validate_messages(messages, when)
    except InvalidInput as exc:
        field = whole
        if exc.field.startswith("messages["):
            index, _, rest = exc.field[len("messages["):].partition("]")
            where, path = names[int(index)]
            rest = rest.lstrip(".")
            inner = f"{path}.{rest}" if path and rest else path or rest
            field = _at(where, inner) if inner else where
        raise InvalidInput(field, exc.message) from None


def _group(batches: list[Batch]) -> list[Batch]:
    """Consecutive batches of one session merged (each batch's timestamp moved onto
    its messages), up to :data:`GROUP_LIMIT` messages a group."""
    out: list[Batch] = []
    for b in batches:
        last = out[-1] if out else None
        if last is None or (last.user_id, last.session_id) != (b.user_id, b.session_id) \
                or len(last.messages) + len(b.messages) > GROUP_LIMIT:
            out.append(b)
            continue
        out[-1] = Batch(b.user_id, b.session_id, None,
                        _dated(last.messages, last.timestamp) + _dated(b.messages, b.timestamp))
    return out


def _dated(messages: tuple[dict[str, Any], ...], timestamp: str | None
           ) -> tuple[dict[str, Any], ...]:
    if timestamp is None:
        return messages
    return tuple(m if m.get("timestamp") is not None else {**m, "timestamp": timestamp}
                 for m in messages)

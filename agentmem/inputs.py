"""Validation of user-supplied arguments. Everything here is pure: it raises
:class:`~agentmem.errors.InvalidInput` before anything is written."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .temporal import parse_timestamp
from .types import ROLES, SearchFilter

__all__ = ["MAX_ID_LENGTH", "MAX_METADATA_DEPTH", "NewMessage", "check_filter", "check_id",
           "check_metadata", "check_number",
           "check_path", "check_positive_int", "check_text", "validate_messages"]

_MESSAGE_KEYS = {"role", "content", "name", "timestamp", "metadata"}
MAX_ID_LENGTH = 256
#: the deepest a message's metadata may nest: the metadata dict is level 1, each dict or
#: list inside it one more
MAX_METADATA_DEPTH = 64


@dataclass(frozen=True)
class NewMessage:
    """A validated message about to be stored."""

    role: str
    content: str
    timestamp: datetime
    name: str | None
    metadata: dict[str, Any]


def _check_encodable(value: str, field: str, where: str = "") -> None:
    """Refuse a string UTF-8 cannot encode: one holding a lone surrogate (U+D800 to
    U+DFFF, e.g. an undecodable byte of a command line). Stored, it would fail later
    when written to the database, an index or an export."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        byte = f" (the undecodable byte 0x{code - 0xDC00:02X})" if 0xDC80 <= code <= 0xDCFF \
            else ""
        raise InvalidInput(field, f"is not valid Unicode text: lone surrogate U+{code:04X}"
                                  f"{byte} at position {exc.start}{where}") from None


def check_id(value: object, field: str) -> str:
    """A non-empty string identifier of at most 256 characters (valid Unicode, no NUL)."""
    if value is None:
        raise InvalidInput(field, "is required")
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(field, "must not be empty or blank")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_ID_LENGTH} characters")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    _check_encodable(value, field)
    return value


def check_text(value: object, field: str) -> str:
    """A non-blank string (valid Unicode, no NUL)."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(field, "must not be empty or blank")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    _check_encodable(value, field)
    return value


def check_path(value: object, field: str) -> Path:
    """A file or folder path: a ``str`` or :class:`~pathlib.Path` with no NUL and no
    lone surrogate (Python's stand-in for an undecodable byte), returned as a Path."""
    if not isinstance(value, (str, Path)):
        raise InvalidInput(field, f"must be a str or Path, got {type(value).__name__}")
    text = str(value)
    if "\x00" in text:
        raise InvalidInput(field, "must not contain NUL characters")
    _check_encodable(text, field)
    return Path(value)


def check_positive_int(value: object, field: str) -> int:
    """An int >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer, got {type(value).__name__}")
    if value < 1:
        raise InvalidInput(field, f"must be >= 1, got {value}")
    return value


def validate_messages(messages: object, default_timestamp: datetime) -> list[NewMessage]:
    """Check a list of ``{"role", "content", ...}`` dicts and return them normalised.

    Optional keys per message: ``name`` (speaker name), ``timestamp`` (overrides the
    call's), ``metadata`` (a JSON-serialisable dict kept with the turn, nested at most
    :data:`MAX_METADATA_DEPTH` (64) dicts and lists deep, the metadata dict included;
    its strings, keys as well as values, must be valid Unicode).
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidInput("messages", "must be a list of {'role', 'content'} dicts")
    if not messages:
        raise InvalidInput("messages", "must contain at least one message")
    out: list[NewMessage] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise InvalidInput(where, f"must be a dict, got {type(msg).__name__}")
        unknown = set(msg) - _MESSAGE_KEYS
        if unknown:
            raise InvalidInput(
                f"{where}.{sorted(unknown)[0]}",
                f"unknown key; allowed: {', '.join(sorted(_MESSAGE_KEYS))}",
            )
        role = msg.get("role")
        if role is None:
            raise InvalidInput(f"{where}.role", "is required")
        if not isinstance(role, str) or role not in ROLES:
            raise InvalidInput(f"{where}.role", f"unknown role {role!r}; expected one of {ROLES}")
        if "content" not in msg:
            raise InvalidInput(f"{where}.content", "is required")
        content = check_text(msg["content"], f"{where}.content")
        name = msg.get("name")
        if name is not None:
            name = check_text(name, f"{where}.name")
        ts = default_timestamp
        if msg.get("timestamp") is not None:
            ts = parse_timestamp(msg["timestamp"], field=f"{where}.timestamp")
        metadata = check_metadata(msg.get("metadata") or {}, f"{where}.metadata")
        out.append(NewMessage(role=role, content=content, timestamp=ts, name=name,
                              metadata=metadata))
    return out


def check_metadata(value: object, field: str) -> dict[str, Any]:
    """A turn's metadata, as stored: a JSON-serialisable dict (returned as its JSON
    round trip), nested at most :data:`MAX_METADATA_DEPTH` dicts and lists deep (the
    dict itself is level 1), whose strings, keys as well as values, are valid Unicode."""
    if not isinstance(value, Mapping):
        raise InvalidInput(field, "must be a dict")
    _check_nesting_and_text(value, field)
    try:
        metadata: dict[str, Any] = json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field, f"must be JSON-serialisable ({exc})") from None
    return metadata


def _check_nesting_and_text(metadata: Mapping[Any, Any], field: str) -> None:
    """Refuse metadata nested deeper than :data:`MAX_METADATA_DEPTH` (JSON encoding
    would exhaust the stack) or holding a string, key or value, that is not valid
    Unicode. Iterative, so that no depth of input can exhaust the stack here."""
    stack: list[tuple[object, int, tuple[object, ...]]] = [(metadata, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            _check_encodable(node, field, f" of the value at {_json_path(path)}")
            continue
        if isinstance(node, Mapping):
            children: list[tuple[object, object]] = list(node.items())
        elif isinstance(node, (list, tuple)):
            children = list(enumerate(node))
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            raise InvalidInput(field, f"is nested more than {MAX_METADATA_DEPTH} dicts and "
                                      "lists deep")
        for key, child in children:
            if isinstance(key, str) and isinstance(node, Mapping):
                _check_encodable(key, field, f" of the key at {_json_path((*path, key))}")
            stack.append((child, depth + 1, (*path, key)))


def _json_path(path: tuple[object, ...]) -> str:
    """``["a"][1]`` for the path ("a", 1), cut short when long; ``the top`` for ()."""
    text = "".join(f"[{k}]" if isinstance(k, int) else f"[{k!r}]" for k in path)
    if not text:
        return "the top"
    return text if len(text) <= 80 else text[:77] + "..."


def check_number(value: Any, field: str, *, positive: bool = False) -> float:
    """A finite number >= 0 (> 0 with ``positive``), as a float; else
    :class:`InvalidInput` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (value > 0 if positive else value >= 0) and value < float("inf")):
        raise InvalidInput(field, f"must be a number {'>' if positive else '>='} 0, "
                                  f"got {value!r}")
    return float(value)


#: the JSON scalars a metadata filter compares with
_SCALARS = (str, int, float, bool, type(None))


def check_filter(session_id: object = None, since: object = None, until: object = None,
                 roles: object = None, metadata: object = None) -> SearchFilter | None:
    """A search's filters (see :meth:`agentmem.Memory.search`), checked; None when
    there are none. ``session_id``: one id or a list; ``since``/``until``: timestamps
    (``since <= t < until``); ``roles``: a list of roles; ``metadata``: key to a JSON
    scalar, or to ``{"$in": [scalars]}``."""
    sessions: tuple[str, ...] | None = None
    if session_id is not None:
        if isinstance(session_id, str):
            sessions = (check_id(session_id, "session_id"),)
        elif isinstance(session_id, Sequence) and session_id:
            sessions = tuple(check_id(s, f"session_id[{i}]") for i, s in enumerate(session_id))
        else:
            raise InvalidInput("session_id", "must be a session id or a non-empty list of them")
    start = parse_timestamp(since, field="since") if since is not None else None
    end = parse_timestamp(until, field="until") if until is not None else None
    if start is not None and end is not None and end <= start:
        raise InvalidInput("until", f"must be later than since ({start.isoformat()})")
    wanted: tuple[str, ...] | None = None
    if roles is not None:
        if isinstance(roles, str) or not isinstance(roles, Sequence) or not roles:
            raise InvalidInput("roles", f"must be a non-empty list of roles, got {roles!r}")
        for i, r in enumerate(roles):
            if r not in ROLES:
                raise InvalidInput(f"roles[{i}]", f"unknown role {r!r}; expected one of {ROLES}")
        wanted = tuple(dict.fromkeys(roles))
    conditions: list[tuple[str, tuple[Any, ...]]] = []
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise InvalidInput("metadata", "must be a dict of key to value or {'$in': [...]}")
        for key, cond in metadata.items():
            where = f"metadata[{key!r}]"
            if not isinstance(key, str) or not key:
                raise InvalidInput("metadata", f"keys must be non-empty strings, got {key!r}")
            _check_encodable(key, "metadata")
            if isinstance(cond, Mapping):
                if set(cond) != {"$in"}:
                    raise InvalidInput(where, "supported operator: $in (or a plain value "
                                              f"for equality), got {sorted(map(str, cond))}")
                values = cond["$in"]
                if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) \
                        or not values:
                    raise InvalidInput(f"{where}.$in", "must be a non-empty list of values")
            else:
                values = (cond,)
            for v in values:
                if not isinstance(v, _SCALARS) or (
                        isinstance(v, float) and not math.isfinite(v)):
                    raise InvalidInput(where, "values must be strings, finite numbers, "
                                              f"booleans or None, got {v!r}")
                if isinstance(v, str):
                    _check_encodable(v, where)
            conditions.append((key, tuple(values)))
    if sessions is None and start is None and end is None and wanted is None \
            and not conditions:
        return None
    return SearchFilter(session_ids=sessions, since=start, until=end, roles=wanted,
                        metadata=tuple(conditions))

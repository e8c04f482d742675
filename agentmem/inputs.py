"""Validation of user-supplied arguments. Everything here is pure: it raises
:class:`~agentmem.errors.InvalidInput` before anything is written."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidInput
from .temporal import parse_timestamp
from .types import ROLES

__all__ = ["NewMessage", "check_id", "check_positive_int", "check_text", "validate_messages"]

_MESSAGE_KEYS = {"role", "content", "name", "timestamp", "metadata"}
MAX_ID_LENGTH = 256


@dataclass(frozen=True)
class NewMessage:
    """A validated message about to be stored."""

    role: str
    content: str
    timestamp: datetime
    name: str | None
    metadata: dict[str, Any]


def check_id(value: object, field: str) -> str:
    """A non-empty string identifier of at most 256 characters."""
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
    return value


def check_text(value: object, field: str) -> str:
    """A non-blank string."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(field, "must not be empty or blank")
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    return value


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
    call's), ``metadata`` (a JSON-serialisable dict kept with the turn).
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
        metadata = msg.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise InvalidInput(f"{where}.metadata", "must be a dict")
        try:
            metadata = json.loads(json.dumps(dict(metadata)))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}.metadata", f"must be JSON-serialisable ({exc})") from None
        out.append(NewMessage(role=role, content=content, timestamp=ts, name=name,
                              metadata=metadata))
    return out

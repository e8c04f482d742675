"""Search filters and namespace conditions of :class:`~agentmem.integrations.langgraph.
AgentMemStore`, following LangGraph's stores.

A filter maps value fields to wanted values: exact values, nested dicts, lists, and the
operators ``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte`` (LangGraph's in-memory
store). A key with dots addresses a nested value, as LangGraph's SQLite store reads
``$.a.b``: ``{"user.access-level": "admin"}`` matches ``{"user": {"access-level":
"admin"}}``. A value holding the dotted key itself (``{"user.access-level": ...}``) is
matched on that key first, as LangGraph's in-memory store does.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput

__all__ = ["OPERATORS", "check_filter", "matches", "namespace_matches", "value_at"]

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")

_MISSING = None  # what an absent field compares as (LangGraph: ``dict.get``)


def check_filter(flt: object, field: str = "filter") -> None:
    """Raise :class:`InvalidInput` for a filter that is not a dict or uses an unknown
    operator."""
    if not isinstance(flt, dict):
        raise InvalidInput(field, f"must be a dict, got {type(flt).__name__}")
    for k, v in flt.items():
        if isinstance(k, str) and k.startswith("$") and k not in OPERATORS:
            raise InvalidInput(f"{field}.{k}", f"unknown operator; use one of "
                                               f"{', '.join(OPERATORS)}")
        if isinstance(v, dict):
            check_filter(v, f"{field}.{k}")


def value_at(value: dict[str, Any], key: str) -> Any:
    """The field ``key`` of ``value``: the key itself when present, else the dotted path
    through nested dicts (None when any step is missing or not a dict)."""
    if key in value or "." not in key:
        return value.get(key)
    here: Any = value
    for part in key.split("."):
        if not isinstance(here, dict) or part not in here:
            return _MISSING
        here = here[part]
    return here


def _compare(item_value: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if any(isinstance(k, str) and k.startswith("$") for k in wanted):
            return all(_operator(item_value, op, arg) for op, arg in wanted.items())
        return isinstance(item_value, dict) and all(
            _compare(item_value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return isinstance(item_value, list) and len(item_value) == len(wanted) and all(
            _compare(a, b) for a, b in zip(item_value, wanted, strict=True))
    return bool(item_value == wanted)


def _operator(value: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return bool(value == arg)
    if op == "$ne":
        return bool(value != arg)
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool)
                  for x in (value, arg))
    if not numbers and not (isinstance(value, str) and isinstance(arg, str)):
        return False  # an order between unlike values: no match
    if op == "$gt":
        return bool(value > arg)
    if op == "$gte":
        return bool(value >= arg)
    if op == "$lt":
        return bool(value < arg)
    return bool(value <= arg)  # $lte (operators are checked up front)


def matches(value: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    """Whether an item's value passes the filter (no filter: every value)."""
    return not flt or all(_compare(value_at(value, k), v) for k, v in flt.items())


def namespace_matches(path: tuple[str, ...], match_type: str,
                      namespace: tuple[str, ...]) -> bool:
    """Whether ``namespace`` starts (``"prefix"``) or ends (``"suffix"``) with ``path``,
    ``"*"`` matching any label."""
    if len(namespace) < len(path):
        return False
    part = namespace[: len(path)] if match_type == "prefix" else (
        namespace[len(namespace) - len(path):])
    return all(p in ("*", n) for p, n in zip(path, part, strict=True))

"""LangGraph store ops and their results as JSON, for :class:`~agentmem.integrations.
langgraph.AgentMemStore` over a :class:`~agentmem.service.client.RemoteMemory`: the
client sends a batch to ``POST /v1/store`` (the request models are
:class:`~agentmem.service.wire.StoreRequest`'s) and the server answers the results.

Namespaces go as lists of strings, values as JSON objects, datetimes as ISO 8601.
Each result is decoded by its op's kind: a get's item (or null), a search's list of
items with scores, a listing's namespaces, a put's null.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)

from ..errors import BackendError, InvalidInput
from ..service import wire

__all__ = ["decode_op", "decode_results", "encode_op", "encode_result"]


def _value(value: object) -> Any:
    """``value`` as plain JSON (tuples become lists), or :class:`InvalidInput`."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput("value", f"must be JSON-serialisable ({exc})") from None


def encode_op(op: Op) -> dict[str, Any]:
    """One (already validated) LangGraph op as the JSON the route takes."""
    if isinstance(op, GetOp):
        return {"op": "get", "namespace": list(op.namespace), "key": op.key,
                "refresh_ttl": op.refresh_ttl}
    if isinstance(op, SearchOp):
        return {"op": "search", "namespace_prefix": list(op.namespace_prefix),
                "filter": _value(op.filter), "limit": op.limit, "offset": op.offset,
                "query": op.query, "refresh_ttl": op.refresh_ttl}
    if isinstance(op, PutOp):
        index = op.index if op.index is None or op.index is False else list(op.index)
        return {"op": "put", "namespace": list(op.namespace), "key": op.key,
                "value": _value(op.value), "index": index, "ttl": op.ttl}
    if isinstance(op, ListNamespacesOp):
        conditions = None if op.match_conditions is None else [
            {"match_type": c.match_type, "path": list(c.path)} for c in op.match_conditions]
        return {"op": "list", "match_conditions": conditions, "max_depth": op.max_depth,
                "limit": op.limit, "offset": op.offset}
    raise InvalidInput("op", f"unknown store operation {type(op).__name__}")


def decode_op(op: wire.StoreGet | wire.StoreSearch | wire.StorePut | wire.StoreList) -> Op:
    """The LangGraph op of a validated request model (on the server)."""
    if isinstance(op, wire.StoreGet):
        return GetOp(tuple(op.namespace), op.key, op.refresh_ttl)
    if isinstance(op, wire.StoreSearch):
        return SearchOp(tuple(op.namespace_prefix), op.filter, op.limit, op.offset,
                        op.query, op.refresh_ttl)
    if isinstance(op, wire.StorePut):
        return PutOp(tuple(op.namespace), op.key, op.value, op.index, op.ttl)
    conditions = None if op.match_conditions is None else tuple(
        MatchCondition(c.match_type, tuple(c.path))  # type: ignore[arg-type]
        for c in op.match_conditions)
    return ListNamespacesOp(conditions, op.max_depth, op.limit, op.offset)


def _item(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": list(item.namespace), "key": item.key, "value": item.value,
           "created_at": item.created_at.isoformat(),
           "updated_at": item.updated_at.isoformat()}
    if isinstance(item, SearchItem):
        out["score"] = item.score
    return out


def encode_result(result: Result) -> Any:
    """One op's result as JSON (on the server)."""
    if isinstance(result, Item):
        return _item(result)
    if isinstance(result, list):
        return [_item(r) if isinstance(r, Item) else list(r) for r in result]
    return None


def _decoded(op: Op, raw: Any) -> Result:
    if isinstance(op, PutOp):
        return None
    if isinstance(op, GetOp):
        if raw is None:
            return None
        return Item(value=raw["value"], key=raw["key"], namespace=tuple(raw["namespace"]),
                    created_at=datetime.fromisoformat(raw["created_at"]),
                    updated_at=datetime.fromisoformat(raw["updated_at"]))
    if isinstance(op, SearchOp):
        return [SearchItem(namespace=tuple(r["namespace"]), key=r["key"], value=r["value"],
                           created_at=datetime.fromisoformat(r["created_at"]),
                           updated_at=datetime.fromisoformat(r["updated_at"]),
                           score=r.get("score"))
                for r in raw]
    return [tuple(ns) for ns in raw]


def decode_results(ops: Sequence[Op], answer: dict[str, Any]) -> list[Result]:
    """The results of ``ops`` from the route's answer (on the client);
    :class:`BackendError` for an answer that is not the route's."""
    try:
        raw = answer["results"]
        if not isinstance(raw, list) or len(raw) != len(ops):
            raise ValueError(f"{len(ops)} results expected")
        return [_decoded(op, r) for op, r in zip(ops, raw, strict=True)]
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendError(f"the server's answer to a store batch is not agentmem's: "
                           f"{str(exc)[:200]}") from None

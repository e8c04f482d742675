"""The HTTP API's contract, shared by the server (:mod:`agentmem.service.app`) and
the clients (:class:`~agentmem.service.client.RemoteMemory`,
:class:`~agentmem.service.aio.AsyncMemory`).

Every call is ``POST /v1/<method>`` with a JSON object of the :class:`~agentmem.Memory`
method's arguments (the request models below, one per method) and answers with the
method's return value as JSON (the public dataclasses, dumped by pydantic; datetimes
as ISO 8601), except ``GET /v1/health`` and ``GET /v1/stats``, and ``export`` /
``import`` whose bodies are JSONL (the export format). User ids never go in a URL.

Errors answer with their status and ``{"error": {"type", "message", "field"}}``:
``type`` names the :mod:`agentmem.errors` class, which the clients raise again
(``field`` set for :class:`~agentmem.errors.InvalidInput`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .. import errors
from ..types import AddResult, Hit, MemoryStats, MemoryUnit, Turn

__all__ = [
    "API",
    "STATUS",
    "TOKEN_ENV",
    "AddRequest",
    "ContextRequest",
    "DeleteRequest",
    "DeleteSessionRequest",
    "ExportRequest",
    "ForgetUserRequest",
    "GetRequest",
    "SearchRequest",
    "StoreRequest",
    "StoreSettings",
    "TurnsRequest",
    "UnitsRequest",
    "error_body",
    "error_from",
    "RESPONSES",
]

#: the path prefix of every route
API = "/v1"
#: the environment variable ``agentmem serve`` and the clients read a token from
TOKEN_ENV = "AGENTMEM_TOKEN"

Time = str | datetime


class _Request(BaseModel):
    # strict: no "5" or 5.0 or true for an int, as Memory itself refuses them
    model_config = ConfigDict(extra="forbid", strict=True)


class AddRequest(_Request):
    """``POST /v1/add``: :meth:`Memory.add`."""

    messages: list[dict[str, Any]]
    user_id: str
    session_id: str
    timestamp: Time | None = None
    now: Time | None = None


class SearchRequest(_Request):
    """``POST /v1/search``: :meth:`Memory.search`, every option."""

    query: str
    user_id: str
    k: int = 5
    mode: str = "hybrid"
    candidates: int | None = None
    now: Time | None = None
    question_date: Time | None = None
    time_aware: bool = True
    kinds: list[str] | None = None
    include_forgotten: bool = False
    trace: bool = False
    session_id: str | list[str] | None = None
    since: Time | None = None
    until: Time | None = None
    roles: list[str] | None = None
    metadata: dict[str, Any] | None = None
    min_score: float = 0.0


class ContextRequest(_Request):
    """``POST /v1/context``: :meth:`Memory.context` (answers ``{"context": str}``)."""

    query: str
    user_id: str
    k: int = 5
    now: Time | None = None
    question_date: Time | None = None


class GetRequest(_Request):
    """``POST /v1/get``: :meth:`Memory.get`."""

    id: str


class DeleteRequest(_Request):
    """``POST /v1/delete``: :meth:`Memory.delete` (answers ``{"deleted": id}``). The
    server checks the unit's owner against the token's users."""

    id: str


class DeleteSessionRequest(_Request):
    """``POST /v1/delete_session``: answers ``{"deleted": count}``."""

    user_id: str
    session_id: str


class ForgetUserRequest(_Request):
    """``POST /v1/forget_user``: answers ``{"deleted": count}``."""

    user_id: str


class UnitsRequest(_Request):
    """``POST /v1/units``: :meth:`Memory.units`."""

    user_id: str


class TurnsRequest(_Request):
    """``POST /v1/turns``: :meth:`Memory.turns`."""

    user_id: str
    session_id: str | None = None


class ExportRequest(_Request):
    """``POST /v1/export``: the export file's JSONL as the body (``user_id``: one
    user's; None: all, only for a token that may act for every user)."""

    user_id: str | None = None


class StoreSettings(_Request):
    """The settings of the client's LangGraph store (``AgentMemStore``): the server
    runs the ops through a store built with these."""

    user_label: int | Literal["auto"] = "auto"
    fields: list[str] | Literal[False] | None = None
    mode: str = "hybrid"
    dims: int | None = None


class StoreGet(_Request):
    """LangGraph's ``GetOp``."""

    op: Literal["get"]
    namespace: list[str]
    key: str
    refresh_ttl: bool = True


class StoreSearch(_Request):
    """LangGraph's ``SearchOp``."""

    op: Literal["search"]
    namespace_prefix: list[str]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    query: str | None = None
    refresh_ttl: bool = True


class StorePut(_Request):
    """LangGraph's ``PutOp`` (``value`` None: a delete)."""

    op: Literal["put"]
    namespace: list[str]
    key: str
    value: dict[str, Any] | None
    index: Literal[False] | list[str] | None = None
    ttl: float | None = None


class StoreMatch(_Request):
    """LangGraph's ``MatchCondition`` of a namespace listing."""

    match_type: str
    path: list[str]


class StoreList(_Request):
    """LangGraph's ``ListNamespacesOp``."""

    op: Literal["list"]
    match_conditions: list[StoreMatch] | None = None
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


StoreOp = Annotated[StoreGet | StoreSearch | StorePut | StoreList, Field(discriminator="op")]


class StoreRequest(_Request):
    """``POST /v1/store``: a batch of LangGraph store ops, run in order through an
    ``AgentMemStore`` with ``settings`` over the server's memory. Answers ``{"dims":
    the embedding length, "results": [one per op]}``: an item (``namespace``, ``key``,
    ``value``, ``created_at``, ``updated_at``; ``score`` too in a search's list) or
    null for a get, a list of items for a search, a list of namespaces for a listing,
    null for a put."""

    settings: StoreSettings = StoreSettings()
    ops: list[StoreOp] = []


#: how each method's return value goes over the wire
RESPONSES: dict[str, TypeAdapter[Any]] = {
    "add": TypeAdapter(AddResult),
    "search": TypeAdapter(list[Hit]),
    "get": TypeAdapter(MemoryUnit),
    "units": TypeAdapter(list[MemoryUnit]),
    "turns": TypeAdapter(list[Turn]),
    "stats": TypeAdapter(MemoryStats),
}

#: the HTTP status of each error class (the first match in this order wins)
STATUS: tuple[tuple[type[errors.AgentMemError], int], ...] = (
    (errors.InvalidInput, 422),
    (errors.NotFound, 404),
    (errors.AccessDenied, 403),
    (errors.ConfigError, 500),
    (errors.BackendError, 503),
    (errors.LLMError, 502),
    (errors.AgentMemError, 500),
)


def error_body(exc: errors.AgentMemError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body an error is answered with."""
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    field = exc.field if isinstance(exc, errors.InvalidInput) else None
    message = exc.message if isinstance(exc, errors.InvalidInput) else str(exc)
    return status, {"error": {"type": type(exc).__name__, "message": message,
                              "field": field}}


def error_from(status: int, body: Any) -> errors.AgentMemError:
    """The error a client raises for an error response (an unknown ``type``, or a
    body that is not ours, gives the nearest class by status)."""
    info = body.get("error") if isinstance(body, dict) else None
    if not isinstance(info, dict):
        info = {"message": f"HTTP {status}: {str(body)[:200]}"}
    name, message = info.get("type"), str(info.get("message", ""))
    cls: type[errors.AgentMemError] | None = getattr(errors, name, None) if isinstance(
        name, str) and name in errors.__all__ else None
    if cls is None:
        cls = {401: errors.AccessDenied, 403: errors.AccessDenied, 404: errors.NotFound,
               413: errors.InvalidInput, 422: errors.InvalidInput}.get(
            status, errors.BackendError)
    if issubclass(cls, errors.InvalidInput):  # DataError's file stays on the server
        return errors.InvalidInput(str(info.get("field") or "request"), message)
    found: errors.AgentMemError = cls(message)
    return found

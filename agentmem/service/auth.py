"""Bearer-token auth of ``agentmem serve``: which users a request's token may act for,
and the error responses (401 for a missing or unknown token, 403 for a user the token
may not act for; both of type ``AccessDenied``)."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import JSONResponse
from starlette.types import Send

from ..errors import AccessDenied, AgentMemError, NotFound
from ..memory import Memory
from .wire import error_body

__all__ = ["Access", "Auth", "Tokens", "Unauthenticated", "bearer", "error_response",
           "owner", "refuse", "request_access"]

#: bearer token -> the user ids it may act for (None: every user)
Tokens = Mapping[str, frozenset[str] | None]


class Unauthenticated(AccessDenied):
    """No token, or an unknown one (answered 401; its wire type is ``AccessDenied``)."""


@dataclass(frozen=True)
class Access:
    """What the request's token may do: ``users`` it may act for (None: every user)."""

    users: frozenset[str] | None

    def check(self, user_id: str | None) -> None:
        """Raise :class:`AccessDenied` unless the token may act for ``user_id`` (None:
        the whole memory, only for a token for every user)."""
        if self.users is None:
            return
        if user_id is None:
            raise AccessDenied("this token may not act for every user")
        if user_id not in self.users:
            raise AccessDenied(f"this token may not act for user {user_id!r}")

    def sees(self, user_id: str) -> bool:
        """Whether the token may act for ``user_id``."""
        return self.users is None or user_id in self.users


def bearer(headers: Mapping[str, str] | None, tokens: Tokens) -> Access:
    """The access the ``Authorization: Bearer`` header (keys lower-case) grants;
    :class:`Unauthenticated` for a missing or unknown token. No tokens: every user."""
    if not tokens:
        return Access(None)
    scheme, _, token = (headers or {}).get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("this server needs a bearer token (Authorization: Bearer ...)")
    # every entry compared in constant time: no timing reveals a prefix of a token
    found = [users for known, users in tokens.items()
             if hmac.compare_digest(known.encode(), token.encode())]
    if not found:
        raise Unauthenticated("unknown token")
    return Access(found[0])


def request_access(request: Request) -> Access:
    """The dependency every route but health takes: the request's token's access (the
    app's tokens are in ``app.state.tokens``)."""
    tokens: Tokens = request.app.state.tokens
    return bearer(request.headers, tokens)


#: a route parameter that is the request's access
Auth = Annotated[Access, Depends(request_access)]


def _status_body(exc: AgentMemError) -> tuple[int, dict[str, object]]:
    status, body = error_body(exc)
    if isinstance(exc, Unauthenticated):
        status = 401
        body = {"error": {**body["error"], "type": "AccessDenied"}}
    return status, body


def error_response(exc: AgentMemError) -> JSONResponse:
    """The JSON response for an error (:func:`~agentmem.service.wire.error_body`; 401
    with ``WWW-Authenticate`` for :class:`Unauthenticated`)."""
    status, body = _status_body(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def refuse(exc: AgentMemError, send: Send) -> None:
    """Answer an error from raw ASGI (outside FastAPI's handlers)."""
    status, body = _status_body(exc)
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(content)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def owner(memory: Memory, id: str) -> str:
    """The user owning the unit or thought ``id``; :class:`NotFound` for neither, with
    the message a caller gets for an id of a user it may not see (nothing tells the
    two apart)."""
    try:
        return memory.get(id).user_id
    except NotFound:
        try:
            return memory.thought(id).user_id
        except NotFound:
            raise NotFound(hidden(id)) from None


def hidden(id: str) -> str:
    """The one message for an id that does not exist or is not the caller's."""
    return f"no memory with id {id!r}"

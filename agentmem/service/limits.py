"""The request size limit of ``agentmem serve``: a small ASGI middleware that refuses
a body over the limit (413, ``InvalidInput`` field ``body``), first by its
``Content-Length``, then while reading it (a chunked body), before the app sees it."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_IMPORT", "BodyLimit", "LoopbackOnly"]

#: the default largest request body, in bytes (8 MiB)
DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: the default largest import (an export file streamed to disk), in bytes (4 GiB)
DEFAULT_MAX_IMPORT = 4 * 1024 * 1024 * 1024
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class BodyLimit:
    """Refuse HTTP request bodies over ``max_body`` bytes with 413.

    The body is read whole (at most ``max_body`` bytes) before the app runs, then
    handed to it in one message, so a refused request never reaches an endpoint."""

    def __init__(self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY,
                 exempt: tuple[str, ...] = ()) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError(f"max_body must be a positive int, got {max_body!r}")
        self.app = app
        self.max_body = max_body
        #: paths whose endpoint streams its body under a limit of its own
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, send: Send) -> None:
        content = json.dumps({"error": {
            "type": "InvalidInput", "field": "body",
            "message": f"the request body is over the limit of {self.max_body} bytes"}}
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})


def _replay(first: list[Message], receive: Receive) -> Receive:
    """A ``receive`` giving ``first``, then what ``receive`` gives."""
    pending = list(first)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _loopback(host: str) -> bool:
    """Whether a ``Host`` / ``Origin`` host (with its port, maybe bracketed) is a
    loopback name."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else \
        host.rsplit(":", 1)[0]
    return name.lower() in _LOOPBACK_NAMES or name.startswith("127.")


class LoopbackOnly:
    """For a server without tokens: refuse (403) a request whose ``Host`` is not a
    loopback name (a DNS-rebinding page reaching 127.0.0.1 under its own name) or that
    carries an ``Origin`` of another host (a cross-site request from a browser)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin", b"").decode("latin-1")
            origin_host = origin.split("://", 1)[-1] if origin else ""
            if not _loopback(host) or (origin and not _loopback(origin_host)):
                content = json.dumps({"error": {
                    "type": "AccessDenied", "field": None, "message":
                    "this server has no token: it answers only loopback requests from "
                    "no other site"}}).encode()
                await send({"type": "http.response.start", "status": 403, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(content)).encode())]})
                await send({"type": "http.response.body", "body": content})
                return
        await self.app(scope, receive, send)

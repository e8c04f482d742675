"""The request size limit of ``agentmem serve``: a small ASGI middleware that refuses
a body over the limit (413, ``InvalidInput`` field ``body``), first by its
``Content-Length``, then while reading it (a chunked body), before the app sees it."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_MAX_BODY", "BodyLimit"]

#: the default largest request body, in bytes (8 MiB)
DEFAULT_MAX_BODY = 8 * 1024 * 1024


class BodyLimit:
    """Refuse HTTP request bodies over ``max_body`` bytes with 413.

    The body is read whole (at most ``max_body`` bytes) before the app runs, then
    handed to it in one message, so a refused request never reaches an endpoint."""

    def __init__(self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError(f"max_body must be a positive int, got {max_body!r}")
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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

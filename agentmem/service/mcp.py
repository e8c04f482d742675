"""agentmem's MCP tools (the official ``mcp`` SDK): ``remember``, ``recall`` and
``forget`` over one :class:`~agentmem.Memory`, served over stdio (``agentmem mcp``)
or streamable HTTP, mounted at ``/mcp`` on ``agentmem serve`` behind its tokens (a
token scoped to some users may only name those users in a tool call)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..errors import AccessDenied, AgentMemError, InvalidInput, NotFound
from ..memory import Memory
from .auth import Tokens, bearer, owner, refuse

__all__ = ["mcp_asgi", "mcp_server"]

_INSTRUCTIONS = """\
Long-term memory of conversations with users. Call `remember` to store what was said
(each message with a role: user or assistant), `recall` before answering a question
that may depend on earlier conversations (it returns the most relevant memories, dated,
best first), and `forget` to delete a memory by its id or, when the user asks for it,
everything stored about that user."""


def mcp_server(memory: Memory, *, user_id: str | None = None,
               tokens: Tokens | None = None) -> MCPServer:
    """The MCP server (tools ``remember``, ``recall``, ``forget``) over ``memory``.

    ``user_id``: the user every call acts for when a call names none (and the only one
    it may name). ``tokens``: as for :func:`~agentmem.service.app.create_app`; over
    HTTP, the bearer token of the request must allow the user named.
    """
    server = MCPServer(name="agentmem", version=__version__, instructions=_INSTRUCTIONS,
                       log_level="WARNING")
    table = dict(tokens or {})

    def who(ctx: Context[Any, Any], given: str | None) -> str:
        if user_id is not None and given not in (None, user_id):
            raise AccessDenied(f"this server acts for user {user_id!r} only")
        chosen = given or user_id
        if not chosen:
            raise InvalidInput("user_id", "name the user (this server has no default user)")
        if table:
            bearer(ctx.headers, table).check(chosen)
        return chosen

    @server.tool()
    def remember(
        messages: Annotated[list[dict[str, str]], Field(
            description='The messages to store, in order: [{"role": "user" | "assistant" '
                        '| "system", "content": "..."}], optionally with "timestamp" '
                        '(ISO 8601) and "name".')],
        session_id: Annotated[str, Field(
            description="The conversation these messages belong to (any stable id).")],
        ctx: Context[Any, Any],
        user_id: Annotated[str | None, Field(
            description="Whose memory this is.")] = None,
        timestamp: Annotated[str | None, Field(
            description="When the messages were said (ISO 8601); default now.")] = None,
    ) -> str:
        """Store a conversation turn (or several messages) in long-term memory, so it
        can be recalled later. Returns the ids of the stored memories as JSON."""
        with _told():
            result = memory.add(messages, user_id=who(ctx, user_id), session_id=session_id,
                                timestamp=timestamp)
        return json.dumps({"stored_messages": len(result.turn_ids),
                           "memory_ids": list(result.unit_ids)})

    @server.tool()
    def recall(
        query: Annotated[str, Field(description="What to look for, in plain words "
                                                "(e.g. the user's question).")],
        ctx: Context[Any, Any],
        user_id: Annotated[str | None, Field(description="Whose memory to search.")] = None,
        k: Annotated[int, Field(ge=1, le=100, description="How many memories (1-100).")] = 5,
        session_id: Annotated[str | None, Field(
            description="Only this conversation's memories.")] = None,
        since: Annotated[str | None, Field(
            description="Only memories dated at or after this time (ISO 8601).")] = None,
        until: Annotated[str | None, Field(
            description="Only memories dated before this time (ISO 8601).")] = None,
    ) -> str:
        """Search long-term memory for what is relevant to a query. Returns a JSON list
        of hits, best first: {"id", "date" (when it was said), "text", "score" (relevance
        0-1), "session_id"}. Use the dates to reason about time; use an id with
        `forget`."""
        with _told():
            hits = memory.search(query, user_id=who(ctx, user_id), k=k,
                                 session_id=session_id, since=since, until=until)
        return json.dumps([{"id": h.id, "date": h.timestamp.isoformat(), "text": h.text,
                            "score": round(h.score, 4), "session_id": h.session_id}
                           for h in hits], ensure_ascii=False)

    @server.tool()
    def forget(
        ctx: Context[Any, Any],
        memory_id: Annotated[str | None, Field(
            description="The id of one memory to delete (from `recall`).")] = None,
        user_id: Annotated[str | None, Field(description="Whose memory it is.")] = None,
        everything: Annotated[bool, Field(
            description="True: delete EVERYTHING stored about the user (only when the "
                        "user asks to be forgotten entirely).")] = False,
    ) -> str:
        """Delete one memory by its id (with the conversation turns it holds), or, with
        everything=true, every memory of the user. Returns what was deleted as JSON."""
        with _told():
            return _forget(ctx, memory_id, user_id, everything)

    def _forget(ctx: Context[Any, Any], memory_id: str | None, user_id: str | None,
                everything: bool) -> str:
        chosen = who(ctx, user_id)
        if everything:
            if memory_id is not None:
                raise InvalidInput("memory_id", "give a memory_id or everything=true, not both")
            return json.dumps({"forgot_user": chosen, "turns_deleted":
                               memory.forget_user(chosen)})
        if memory_id is None:
            raise InvalidInput("memory_id", "name the memory to delete (or everything=true)")
        if owner(memory, memory_id) != chosen:
            raise NotFound(f"no memory with id {memory_id!r} for user {chosen!r}")
        memory.delete(memory_id)
        return json.dumps({"deleted": memory_id})

    return server


class _Guarded:
    """An ASGI app behind the bearer tokens (a class, not a function, so that a
    Starlette route hands it the raw ASGI call)."""

    def __init__(self, app: ASGIApp, tokens: Tokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers") or []}
        try:
            bearer(headers, self.tokens)
        except AccessDenied as exc:
            await refuse(exc, send)
            return
        await self.app(scope, receive, send)


@contextlib.contextmanager
def _told() -> Iterator[None]:
    """An agentmem error as a tool error whose message the model sees."""
    try:
        yield
    except AgentMemError as exc:
        raise ToolError(f"{type(exc).__name__}: {exc}") from exc


def mcp_asgi(memory: Memory, tokens: Tokens
             ) -> tuple[ASGIApp, Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """(the streamable-HTTP MCP endpoint as an ASGI app behind ``tokens``, the context
    manager that runs its sessions: enter it in the HTTP app's lifespan)."""
    server = mcp_server(memory, tokens=tokens)
    security = None if tokens else TransportSecuritySettings(  # DNS rebinding, no token
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    server.streamable_http_app(json_response=True, transport_security=security)
    manager = server.session_manager
    endpoint = StreamableHTTPASGIApp(manager)

    guarded = _Guarded(endpoint, tokens)

    @contextlib.asynccontextmanager
    async def run() -> AsyncIterator[None]:
        async with manager.run():
            yield

    return guarded, run

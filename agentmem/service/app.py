"""The HTTP API over one :class:`~agentmem.Memory` (``agentmem serve``): a FastAPI app
whose routes, request models and response shapes are those of
:mod:`agentmem.service.wire`.

Every route is ``POST /v1/<method>`` except ``GET /v1/health`` (no auth) and
``GET /v1/stats``; ``POST /v1/store`` (:mod:`agentmem.service.store_route`) runs
LangGraph store ops when LangGraph is installed. Memory is synchronous and thread-safe
within one process: the endpoints are plain functions, run in FastAPI's threadpool.
Errors answer with :func:`~agentmem.service.wire.error_body`; a request FastAPI cannot
validate answers 422 ``InvalidInput`` naming the field (``k``, ``messages.0.role``), and
a body over ``max_body`` bytes 413 ``InvalidInput`` (field ``body``).

Auth: ``tokens`` maps each bearer token to the user ids it may act for (None: every
user). With no tokens, no auth. A missing or unknown token answers 401, a token acting
for another user 403, and a unit id owned by a user the token may not see 404 (its
existence is not revealed). ``stats``, ``import`` and ``export`` of the whole memory
need a token for every user.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..errors import AgentMemError, InvalidInput, NotFound
from ..memory import Memory
from .auth import Auth, Tokens, error_response, hidden, owner
from .limits import DEFAULT_MAX_BODY, DEFAULT_MAX_IMPORT, BodyLimit, LoopbackOnly
from .store_route import add_store_route
from .wire import (
    API,
    RESPONSES,
    AddRequest,
    ContextRequest,
    DeleteRequest,
    DeleteSessionRequest,
    ExportRequest,
    ForgetUserRequest,
    GetRequest,
    SearchRequest,
    TurnsRequest,
    UnitsRequest,
)

__all__ = ["DEFAULT_MAX_BODY", "create_app"]

log = logging.getLogger("agentmem")

def _json(method: str, value: Any) -> Response:
    return Response(RESPONSES[method].dump_json(value), media_type="application/json")


def _field(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def create_app(memory: Memory, *, tokens: Tokens | None = None,
               max_body: int = DEFAULT_MAX_BODY, mcp: bool = True,
               close: bool = False, max_import: int = DEFAULT_MAX_IMPORT,
               loopback_only: bool | None = None) -> FastAPI:
    """The HTTP API over ``memory`` (the caller closes it, unless ``close``).

    Args:
        memory: the memory served.
        tokens: bearer token -> the user ids it may act for (None: every user); None or
            empty: no auth.
        max_body: the largest request body accepted, in bytes (default 8 MiB).
        max_import: the largest export file ``/v1/import`` accepts (streamed to a
            temporary file; default 4 GiB).
        loopback_only: answer only requests naming a loopback host (``Host``) and
            coming from no other site (``Origin``), against DNS rebinding and
            cross-site requests from a browser (default: when there are no tokens).
        mcp: also serve the MCP tools (streamable HTTP) at ``/mcp``, behind the same
            tokens.
        close: close ``memory`` when the app shuts down (after the requests in flight
            are answered: uvicorn's graceful shutdown).
    """
    table: dict[str, frozenset[str] | None] = dict(tokens or {})

    mounted: Any = None
    run_sessions: Callable[[], contextlib.AbstractAsyncContextManager[None]] = \
        contextlib.nullcontext
    if mcp:
        from .mcp import mcp_asgi

        mounted, run_sessions = mcp_asgi(memory, table)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            async with run_sessions():
                yield
        finally:
            if close:
                await run_in_threadpool(memory.close)

    app = FastAPI(title="agentmem", version=__version__, lifespan=lifespan,
                  description="Long-term memory for chatbots: the HTTP API of "
                              "`agentmem serve` (see docs/service.md).")

    app.state.tokens = table

    @app.exception_handler(AgentMemError)
    async def _agentmem_error(_: Request, exc: AgentMemError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(NotImplementedError)
    async def _unsupported(_: Request, exc: NotImplementedError) -> JSONResponse:
        return JSONResponse({"error": {"type": "ConfigError", "field": None,
                                       "message": f"not supported: {exc}"}}, status_code=501)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering a request")
        return JSONResponse({"error": {"type": "AgentMemError", "field": None,
                                       "message": f"internal error ({type(exc).__name__})"}},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid"}
        field = "body" if first.get("type") == "json_invalid" else _field(
            first.get("loc", ("body",)))
        return JSONResponse({"error": {"type": "InvalidInput", "message": str(first.get(
            "msg", "invalid")), "field": field}}, status_code=422)

    @app.get(f"{API}/health")
    def health() -> dict[str, str]:
        """Liveness: no auth."""
        return {"status": "ok", "version": __version__}

    @app.post(f"{API}/add")
    def add(req: AddRequest, auth: Auth) -> Response:
        """Memory.add: store messages of one session."""
        auth.check(req.user_id)
        return _json("add", memory.add(req.messages, user_id=req.user_id,
                                       session_id=req.session_id, timestamp=req.timestamp,
                                       now=req.now))

    @app.post(f"{API}/search")
    def search(req: SearchRequest, auth: Auth) -> Response:
        """Memory.search, every option."""
        auth.check(req.user_id)
        options = req.model_dump(exclude={"query", "user_id"})
        return _json("search", memory.search(req.query, user_id=req.user_id, **options))

    @app.post(f"{API}/context")
    def context(req: ContextRequest, auth: Auth) -> dict[str, str]:
        """Memory.context: the relevant memories as a prompt block."""
        auth.check(req.user_id)
        return {"context": memory.context(req.query, user_id=req.user_id, k=req.k,
                                          now=req.now, question_date=req.question_date)}

    @app.post(f"{API}/get")
    def get(req: GetRequest, auth: Auth) -> Response:
        """Memory.get: one unit with its turns (404 for another user's)."""
        try:
            unit = memory.get(req.id)
        except NotFound:
            raise NotFound(hidden(req.id)) from None
        if not auth.sees(unit.user_id):
            raise NotFound(hidden(req.id))
        return _json("get", unit)

    @app.post(f"{API}/delete")
    def delete(req: DeleteRequest, auth: Auth) -> dict[str, str]:
        """Memory.delete: a unit or thought (404 for another user's)."""
        if not auth.sees(owner(memory, req.id)):
            raise NotFound(hidden(req.id))
        memory.delete(req.id)
        return {"deleted": req.id}

    @app.post(f"{API}/delete_session")
    def delete_session(req: DeleteSessionRequest, auth: Auth) -> dict[str, int]:
        """Memory.delete_session: answers the turns removed."""
        auth.check(req.user_id)
        return {"deleted": memory.delete_session(req.user_id, req.session_id)}

    @app.post(f"{API}/forget_user")
    def forget_user(req: ForgetUserRequest, auth: Auth) -> dict[str, int]:
        """Memory.forget_user: answers the turns removed."""
        auth.check(req.user_id)
        return {"deleted": memory.forget_user(req.user_id)}

    @app.post(f"{API}/units")
    def units(req: UnitsRequest, auth: Auth) -> Response:
        """Memory.units."""
        auth.check(req.user_id)
        return _json("units", memory.units(req.user_id))

    @app.post(f"{API}/turns")
    def turns(req: TurnsRequest, auth: Auth) -> Response:
        """Memory.turns."""
        auth.check(req.user_id)
        return _json("turns", memory.turns(req.user_id, session_id=req.session_id))

    @app.get(f"{API}/stats")
    def stats(auth: Auth) -> Response:
        """Memory.stats (a token for every user only)."""
        auth.check(None)
        return _json("stats", memory.stats())

    @app.post(f"{API}/export", response_class=FileResponse)
    def export(req: ExportRequest, auth: Auth) -> FileResponse:
        """Memory.export: the JSONL export as the body (all users: a token for every
        user only)."""
        auth.check(req.user_id)
        folder = tempfile.mkdtemp(prefix="agentmem-export-")
        try:
            path = Path(folder) / "export.jsonl"
            memory.export(path, user_id=req.user_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FileResponse(path, media_type="application/x-ndjson",
                            background=BackgroundTask(shutil.rmtree, folder, True))

    @app.post(f"{API}/import")
    async def import_(request: Request, auth: Auth) -> dict[str, int]:
        """Memory.import_ of the JSONL body (a token for every user only; validated
        whole first, nothing written on an error)."""
        auth.check(None)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/x-ndjson":  # also keeps cross-site form posts out
            raise InvalidInput("content-type", "send the export file as "
                                               f"application/x-ndjson, not {kind!r}")
        with tempfile.TemporaryDirectory(prefix="agentmem-import-") as folder:
            path = Path(folder) / "import.jsonl"
            size = 0
            with path.open("wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_import:
                        raise InvalidInput("body", f"the import is over the limit of "
                                                   f"{max_import} bytes")
                    await run_in_threadpool(fh.write, chunk)
            return {"imported": await run_in_threadpool(memory.import_, path)}

    add_store_route(app, memory)  # POST /v1/store: the LangGraph store (needs langgraph)
    if mounted is not None:
        app.router.add_route("/mcp", mounted, methods=["GET", "POST", "DELETE"],
                             include_in_schema=False)
    # an import streams to a file under its own limit; every other body is held whole
    app.add_middleware(BodyLimit, max_body=max_body, exempt=(f"{API}/import",))
    if not table if loopback_only is None else loopback_only:
        app.add_middleware(LoopbackOnly)
    return app

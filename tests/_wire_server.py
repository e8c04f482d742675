"""A throwaway, test-only STAND-IN for ``agentmem serve``: the routes of
:mod:`agentmem.service.wire` over a real :class:`~agentmem.Memory`, so the clients can
be tested before the real server (``agentmem.service.app``) lands. One token, no
per-user scoping. Not the product: delete once the clients' tests run on the real app.
"""

# no `from __future__ import annotations`: FastAPI reads the routes' annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from agentmem import Memory
from agentmem.errors import AccessDenied, AgentMemError, InvalidInput
from agentmem.service import wire


def stand_in_app(memory: Memory, token: str | None) -> FastAPI:
    def auth(request: Request) -> None:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            raise AccessDenied("a valid bearer token is required")

    app = FastAPI(dependencies=[Depends(auth)])

    @app.exception_handler(AgentMemError)
    def _error(_: Request, exc: AgentMemError) -> JSONResponse:
        status, body = wire.error_body(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return _error(_, InvalidInput(field, str(first["msg"])))

    def route(name: str, model: type[BaseModel], answer: Callable[[Any], Any]) -> None:
        def endpoint(req: model) -> Any:  # type: ignore[valid-type]
            result = getattr(memory, name)(**req.model_dump(exclude_unset=True))
            adapter = wire.RESPONSES.get(name)
            return JSONResponse(adapter.dump_python(result, mode="json") if adapter
                                else answer(result))
        app.post(f"{wire.API}/{name}")(endpoint)

    route("add", wire.AddRequest, asdict)
    route("search", wire.SearchRequest, list)
    route("context", wire.ContextRequest, lambda r: {"context": r})
    route("get", wire.GetRequest, asdict)
    route("units", wire.UnitsRequest, list)
    route("turns", wire.TurnsRequest, list)
    route("delete_session", wire.DeleteSessionRequest, lambda r: {"deleted": r})
    route("forget_user", wire.ForgetUserRequest, lambda r: {"deleted": r})

    @app.post(f"{wire.API}/delete")
    def delete(req: wire.DeleteRequest) -> dict[str, str]:
        memory.delete(req.id)
        return {"deleted": req.id}

    @app.post(f"{wire.API}/export")
    def export(req: wire.ExportRequest) -> Response:
        with tempfile.TemporaryDirectory() as d:
            memory.export(Path(d) / "x.jsonl", user_id=req.user_id)
            return Response((Path(d) / "x.jsonl").read_bytes(),
                            media_type="application/x-ndjson")

    @app.post(f"{wire.API}/import")
    async def import_(request: Request) -> dict[str, int]:
        body = await request.body()
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "x.jsonl").write_bytes(body)
            return {"imported": memory.import_(Path(d) / "x.jsonl")}

    @app.get(f"{wire.API}/stats")
    def stats() -> Any:
        return JSONResponse(wire.RESPONSES["stats"].dump_python(memory.stats(), mode="json"))

    @app.get(f"{wire.API}/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


@contextmanager
def serving(memory: Memory, port: int, token: str | None = "secret") -> Iterator[str]:
    """Serve the stand-in on 127.0.0.1:``port`` in a thread; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(stand_in_app(memory, token), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stand-in server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)

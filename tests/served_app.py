"""The real HTTP app (:func:`agentmem.service.app.create_app`) over a real
:class:`~agentmem.Memory`, served by uvicorn in a thread of the test process on
loopback, for the client tests that need the Memory behind the server at hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from agentmem import Memory
from agentmem.service.app import create_app
from agentmem.service.auth import Tokens


@contextmanager
def serving(memory: Memory, port: int, token: str | None = "secret",
            tokens: Tokens | None = None) -> Iterator[str]:
    """Serve ``memory`` on 127.0.0.1:``port`` in a thread (``token`` for every user,
    or the ``tokens`` table given); yields its URL."""
    table = tokens if tokens is not None else ({token: None} if token else None)
    app = create_app(memory, tokens=table, mcp=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)

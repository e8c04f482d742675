""":class:`AsyncMemory`: :class:`~agentmem.Memory`'s API as coroutines, over a local
Memory or a memory server.

- ``AsyncMemory.local(memory)`` runs the synchronous engine on a bounded
  :class:`~concurrent.futures.ThreadPoolExecutor` (``max_workers`` threads, 4 by
  default): the event loop never blocks on SQLite, Chroma or the embedder, and at most
  ``max_workers`` calls run at once (the rest wait their turn). It is not
  asynchronous I/O inside the engine.
- ``AsyncMemory.remote(url)`` speaks to ``agentmem serve`` over one pooled
  :class:`httpx.AsyncClient` (the contract is :mod:`agentmem.service.wire`).

Both offer the methods :class:`~agentmem.service.client.RemoteMemory` does, with
Memory's names, arguments and return types (``add``, ``search``, ``context``, ``get``,
``delete``, ``delete_session``, ``forget_user``, ``units``, ``turns``, ``export``,
``import_``, ``stats``, ``health``), and ``async with`` / :meth:`AsyncMemory.aclose`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import httpx

from ..errors import AgentMemError, InvalidInput
from ..inputs import check_id, check_positive_int
from ..memory import Memory
from ..types import AddResult, Hit, MemoryStats, MemoryUnit, Turn
from . import _http, wire

__all__ = ["AsyncMemory"]


class _Backend(Protocol):
    """Where an :class:`AsyncMemory`'s calls go."""

    async def call(self, name: str, **arguments: Any) -> Any:
        """Memory's method ``name`` with these keyword arguments."""
        ...

    async def aclose(self) -> None:
        """Release the backend's threads or connections."""
        ...


class _Local:
    """A Memory on a bounded thread pool."""

    def __init__(self, memory: Memory, max_workers: int) -> None:
        self.memory = memory
        self.pool = ThreadPoolExecutor(max_workers=max_workers,
                                       thread_name_prefix="agentmem-async")
        self.closed = False

    async def call(self, name: str, **arguments: Any) -> Any:
        if name == "store":
            raise InvalidInput("memory", "store_batch is the server's route; over a "
                                         "local Memory use AgentMemStore(memory)")
        if name == "health":
            await self.call("stats")  # raises when the memory is closed
            return {"status": "ok"}
        method = getattr(self.memory, name)
        if self.closed:
            raise AgentMemError("this AsyncMemory is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, functools.partial(method, **arguments))

    async def aclose(self) -> None:
        """Wait for the calls running on the pool, then stop it (the memory stays
        open: its owner closes it)."""
        self.closed = True
        await asyncio.to_thread(self.pool.shutdown, True)


class _Remote:
    """A memory server over one :class:`httpx.AsyncClient`."""

    def __init__(self, url: str, token: str | None, timeout: float,
                 transport: httpx.AsyncBaseTransport | None) -> None:
        self.url = _http.check_url(url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not timeout > 0:
            raise InvalidInput("timeout", f"must be a number of seconds > 0, got {timeout!r}")
        self.client = httpx.AsyncClient(base_url=self.url, headers=_http.headers(token),
                                        timeout=timeout, transport=transport)

    async def _send(self, call: _http.Call, content_type: str = "application/json"
                    ) -> httpx.Response:
        try:
            return await self.client.request(call.method, call.path, content=call.content,
                                             headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise _http.unreachable(self.url, exc) from exc

    async def call(self, name: str, **arguments: Any) -> Any:
        if name == "export":
            return await self._export(**arguments)
        if name == "import_":
            return await self._import(**arguments)
        return _http.decode(name, await self._send(_http.request(name, **arguments)))

    async def _export(self, path: str | Path, user_id: str | None) -> int:
        where = _http.export_path(path)
        if user_id is not None:
            user_id = check_id(user_id, "user_id")
        call = _http.request("export", user_id=user_id)
        counter = _http.RecordCounter()
        try:
            async with self.client.stream(call.method, call.path, content=call.content,
                                          headers={"Content-Type": "application/json"}
                                          ) as r:
                if r.status_code >= 400:
                    await r.aread()
                    _http.raise_for(r)
                with _http.export_file(where) as fh:
                    async for chunk in r.aiter_bytes():
                        fh.write(counter.feed(chunk))
        except httpx.HTTPError as exc:
            raise _http.unreachable(self.url, exc) from exc
        return counter.done()

    async def _import(self, path: str | Path,
                      progress: Callable[[int, int], None] | None) -> int:
        body = await asyncio.to_thread(_http.import_body, path)
        n: int = _http.decode("import", await self._send(
            _http.Call("POST", f"{wire.API}/import", body), _http.JSONL))
        if progress is not None:
            progress(n, n)
        return n

    async def aclose(self) -> None:
        await self.client.aclose()


class AsyncMemory:
    """Memory's API as coroutines; build one with :meth:`local` or :meth:`remote`."""

    def __init__(self, backend: _Backend, *, description: str) -> None:
        self._backend = backend
        self._description = description

    @classmethod
    def local(cls, memory: Memory, *, max_workers: int = 4) -> AsyncMemory:
        """``memory``'s API on a bounded thread pool of ``max_workers`` threads (the
        synchronous engine in worker threads, not asynchronous I/O). :meth:`aclose`
        stops the pool; ``memory`` stays open (its owner closes it)."""
        if not isinstance(memory, Memory):
            raise InvalidInput("memory", f"must be an agentmem Memory, got "
                                         f"{type(memory).__name__}")
        return cls(_Local(memory, check_positive_int(max_workers, "max_workers")),
                   description=f"local {memory!r}")

    @classmethod
    def remote(cls, url: str, *, token: str | None = None, timeout: float = 30.0,
               transport: httpx.AsyncBaseTransport | None = None) -> AsyncMemory:
        """An ``agentmem serve`` server's API over one pooled :class:`httpx.AsyncClient`;
        the arguments are :class:`~agentmem.service.client.RemoteMemory`'s."""
        backend = _Remote(url, token, timeout, transport)
        return cls(backend, description=backend.url)

    async def add(self, messages: Sequence[dict[str, Any]], *, user_id: str,
                  session_id: str, timestamp: str | datetime | None = None,
                  now: str | datetime | None = None) -> AddResult:
        """:meth:`Memory.add <agentmem.Memory.add>`."""
        result: AddResult = await self._backend.call(
            "add", messages=messages, user_id=user_id, session_id=session_id,
            timestamp=timestamp, now=now)
        return result

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int = 5,
        mode: str = "hybrid",
        candidates: int | None = None,
        now: str | datetime | None = None,
        question_date: str | datetime | None = None,
        time_aware: bool = True,
        kinds: Sequence[str] | None = None,
        include_forgotten: bool = False,
        trace: bool = False,
        session_id: str | Sequence[str] | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        roles: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_score: float = 0.0,
    ) -> list[Hit]:
        """:meth:`Memory.search <agentmem.Memory.search>`, every option and filter."""
        hits: list[Hit] = await self._backend.call(
            "search", query=query, user_id=user_id, k=k, mode=mode, candidates=candidates,
            now=now, question_date=question_date, time_aware=time_aware, kinds=kinds,
            include_forgotten=include_forgotten, trace=trace, session_id=session_id,
            since=since, until=until, roles=roles, metadata=metadata, min_score=min_score)
        return hits

    async def context(self, query: str, *, user_id: str, k: int = 5,
                      now: str | datetime | None = None,
                      question_date: str | datetime | None = None) -> str:
        """:meth:`Memory.context <agentmem.Memory.context>`."""
        text: str = await self._backend.call("context", query=query, user_id=user_id, k=k,
                                             now=now, question_date=question_date)
        return text

    async def get(self, id: str) -> MemoryUnit:
        """:meth:`Memory.get <agentmem.Memory.get>`."""
        unit: MemoryUnit = await self._backend.call("get", id=id)
        return unit

    async def units(self, user_id: str) -> list[MemoryUnit]:
        """:meth:`Memory.units <agentmem.Memory.units>`."""
        found: list[MemoryUnit] = await self._backend.call("units", user_id=user_id)
        return found

    async def turns(self, user_id: str, *, session_id: str | None = None) -> list[Turn]:
        """:meth:`Memory.turns <agentmem.Memory.turns>`."""
        found: list[Turn] = await self._backend.call("turns", user_id=user_id,
                                                     session_id=session_id)
        return found

    async def delete(self, id: str) -> None:
        """:meth:`Memory.delete <agentmem.Memory.delete>`."""
        await self._backend.call("delete", id=id)

    async def delete_session(self, user_id: str, session_id: str) -> int:
        """:meth:`Memory.delete_session <agentmem.Memory.delete_session>`."""
        n: int = await self._backend.call("delete_session", user_id=user_id,
                                          session_id=session_id)
        return n

    async def forget_user(self, user_id: str) -> int:
        """:meth:`Memory.forget_user <agentmem.Memory.forget_user>`."""
        n: int = await self._backend.call("forget_user", user_id=user_id)
        return n

    async def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """:meth:`Memory.export <agentmem.Memory.export>` to the local file ``path``."""
        n: int = await self._backend.call("export", path=path, user_id=user_id)
        return n

    async def import_(self, path: str | Path, *,
                      progress: Callable[[int, int], None] | None = None) -> int:
        """:meth:`Memory.import_ <agentmem.Memory.import_>` of a local file (remote:
        ``progress`` is called once, at the end; local: from a worker thread)."""
        n: int = await self._backend.call("import_", path=path, progress=progress)
        return n

    async def stats(self) -> MemoryStats:
        """:meth:`Memory.stats <agentmem.Memory.stats>`."""
        found: MemoryStats = await self._backend.call("stats")
        return found

    async def store_batch(self, ops: Sequence[Mapping[str, Any]],
                          settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """:meth:`RemoteMemory.store_batch
        <agentmem.service.client.RemoteMemory.store_batch>` (remote only)."""
        found: dict[str, Any] = await self._backend.call(
            "store", ops=list(ops), settings=dict(settings or {}))
        return found

    async def health(self) -> dict[str, Any]:
        """The server's health answer (local: ``{"status": "ok"}`` while the memory
        is open)."""
        found: dict[str, Any] = await self._backend.call("health")
        return found

    async def aclose(self) -> None:
        """Release the thread pool or the connection pool."""
        await self._backend.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncMemory({self._description})"

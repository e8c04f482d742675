""":class:`RemoteMemory`: :class:`~agentmem.Memory`'s API over HTTP, for an
``agentmem serve`` server (the contract is :mod:`agentmem.service.wire`).

It offers the methods the server does: ``add``, ``search`` (every option),
``context``, ``get``, ``delete``, ``delete_session``, ``forget_user``, ``units``,
``turns``, ``export``, ``import_`` and ``stats``, with Memory's names, arguments and
return types, plus ``health``. Methods the server does not offer (``respond``,
``add_thoughts``, ``maintain``, ``summarize``, ``rank``, ``ranking``, ``strategy``,
``reindex``, ...) are not on it: calling them is an :class:`AttributeError`, never a
silent local stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from ..errors import InvalidInput
from ..inputs import check_id
from ..types import AddResult, Hit, MemoryStats, MemoryUnit, Turn
from . import _http, wire
from .aio import AsyncMemory

__all__ = ["RemoteMemory"]


class RemoteMemory:
    """A memory server's :class:`~agentmem.Memory` API, over one pooled
    :class:`httpx.Client` (safe to share between threads).

    Args:
        url: the server's base URL, e.g. ``"http://127.0.0.1:8765"``.
        token: the bearer token (default: the ``AGENTMEM_TOKEN`` environment
            variable; no ``Authorization`` header when neither is set).
        timeout: seconds to wait for a connection or an answer.
        transport: an httpx transport to send through instead of the network
            (e.g. ``httpx.WSGITransport``), for embedding and tests.

    Errors come back as the server raised them (:mod:`agentmem.errors`: an
    :class:`~agentmem.errors.InvalidInput` with its field, ``NotFound``, ...); a
    refused token is :class:`~agentmem.errors.AccessDenied`; a server that does not
    answer is :class:`~agentmem.errors.BackendError` naming the URL.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = _http.check_url(url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not timeout > 0:
            raise InvalidInput("timeout", f"must be a number of seconds > 0, got {timeout!r}")
        self._client = httpx.Client(base_url=self.url, headers=_http.headers(token),
                                    timeout=timeout, transport=transport)
        self._token, self._timeout = token, float(timeout)

    # -- the wire --------------------------------------------------------------------

    def _send(self, call: _http.Call, *, content_type: str = "application/json"
              ) -> httpx.Response:
        try:
            return self._client.request(call.method, call.path, content=call.content,
                                        headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise _http.unreachable(self.url, exc) from exc

    def _call(self, name: str, **arguments: Any) -> Any:
        return _http.decode(name, self._send(_http.request(name, **arguments)))

    # -- Memory's API ----------------------------------------------------------------

    def add(self, messages: Sequence[dict[str, Any]], *, user_id: str, session_id: str,
            timestamp: str | datetime | None = None,
            now: str | datetime | None = None) -> AddResult:
        """:meth:`Memory.add <agentmem.Memory.add>` on the server."""
        result: AddResult = self._call("add", messages=messages, user_id=user_id,
                                       session_id=session_id, timestamp=timestamp, now=now)
        return result

    def search(
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
        """:meth:`Memory.search <agentmem.Memory.search>` on the server, every option
        and filter included."""
        hits: list[Hit] = self._call(
            "search", query=query, user_id=user_id, k=k, mode=mode, candidates=candidates,
            now=now, question_date=question_date, time_aware=time_aware, kinds=kinds,
            include_forgotten=include_forgotten, trace=trace, session_id=session_id,
            since=since, until=until, roles=roles,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else metadata,
            min_score=min_score)
        return hits

    def context(self, query: str, *, user_id: str, k: int = 5,
                now: str | datetime | None = None,
                question_date: str | datetime | None = None) -> str:
        """:meth:`Memory.context <agentmem.Memory.context>`: the reader block."""
        text: str = self._call("context", query=query, user_id=user_id, k=k, now=now,
                               question_date=question_date)
        return text

    def get(self, id: str) -> MemoryUnit:
        """:meth:`Memory.get <agentmem.Memory.get>`; raises
        :class:`~agentmem.errors.NotFound`."""
        unit: MemoryUnit = self._call("get", id=id)
        return unit

    def units(self, user_id: str) -> list[MemoryUnit]:
        """:meth:`Memory.units <agentmem.Memory.units>`."""
        found: list[MemoryUnit] = self._call("units", user_id=user_id)
        return found

    def turns(self, user_id: str, *, session_id: str | None = None) -> list[Turn]:
        """:meth:`Memory.turns <agentmem.Memory.turns>`."""
        found: list[Turn] = self._call("turns", user_id=user_id, session_id=session_id)
        return found

    def delete(self, id: str) -> None:
        """:meth:`Memory.delete <agentmem.Memory.delete>`; raises
        :class:`~agentmem.errors.NotFound`."""
        self._call("delete", id=id)

    def delete_session(self, user_id: str, session_id: str) -> int:
        """:meth:`Memory.delete_session <agentmem.Memory.delete_session>`: the number of
        turns removed."""
        n: int = self._call("delete_session", user_id=user_id, session_id=session_id)
        return n

    def forget_user(self, user_id: str) -> int:
        """:meth:`Memory.forget_user <agentmem.Memory.forget_user>`: the number of
        turns removed."""
        n: int = self._call("forget_user", user_id=user_id)
        return n

    def export(self, path: str | Path, *, user_id: str | None = None) -> int:
        """:meth:`Memory.export <agentmem.Memory.export>` of the server's memory into
        the local file ``path`` (mode 0600, named only once complete); returns the
        records written. ``user_id=None`` exports every user (only for a token that
        may act for all)."""
        where = _http.export_path(path)
        if user_id is not None:
            user_id = check_id(user_id, "user_id")
        call = _http.request("export", user_id=user_id)
        counter = _http.RecordCounter()
        try:
            with self._client.stream(call.method, call.path, content=call.content,
                                     headers={"Content-Type": "application/json"}) as r:
                if r.status_code >= 400:
                    r.read()
                    _http.raise_for(r)
                with _http.export_file(where) as fh:
                    for chunk in r.iter_bytes():
                        fh.write(counter.feed(chunk))
        except httpx.HTTPError as exc:
            raise _http.unreachable(self.url, exc) from exc
        return counter.done()

    def import_(self, path: str | Path, *,
                progress: Callable[[int, int], None] | None = None) -> int:
        """:meth:`Memory.import_ <agentmem.Memory.import_>` of a local export file
        into the server's memory (validated there whole; one transaction). Returns
        the records read. ``progress`` is called once, ``(n, n)``, when the server
        has finished (it reports no progress while it works)."""
        body = _http.import_body(path)
        n: int = _http.decode("import", self._send(
            _http.Call("POST", f"{wire.API}/import", body), content_type=_http.JSONL))
        if progress is not None:
            progress(n, n)
        return n

    def stats(self) -> MemoryStats:
        """:meth:`Memory.stats <agentmem.Memory.stats>` of the server's memory."""
        found: MemoryStats = self._call("stats")
        return found

    def store_batch(self, ops: Sequence[Mapping[str, Any]],
                    settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/store``: a batch of LangGraph store ops in their JSON form (see
        :class:`~agentmem.service.wire.StoreRequest`), run on the server by an
        ``AgentMemStore`` with ``settings``; answers ``{"dims", "results"}``.
        :class:`~agentmem.integrations.langgraph.AgentMemStore` calls it when given a
        RemoteMemory."""
        found: dict[str, Any] = self._call("store", ops=list(ops),
                                           settings=dict(settings or {}))
        return found

    def asynchronous(self) -> AsyncMemory:
        """An :meth:`AsyncMemory.remote <agentmem.service.aio.AsyncMemory.remote>` for
        the same server, token and timeout (its own connection pool: the caller
        closes it)."""
        return AsyncMemory.remote(self.url, token=self._token, timeout=self._timeout)

    def health(self) -> dict[str, Any]:
        """The server's ``GET /v1/health`` answer (a JSON object)."""
        found: dict[str, Any] = self._call("health")
        return found

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool (the server's memory stays open)."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteMemory({self.url!r})"

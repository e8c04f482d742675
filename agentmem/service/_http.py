"""What the sync and async clients share (:class:`~agentmem.service.client.RemoteMemory`,
:class:`~agentmem.service.aio.AsyncMemory`): the request of each method (built and
checked with :mod:`~agentmem.service.wire`'s models), the decoding of its answer, the
errors, and the export file written from a response body. No I/O on the network here:
the clients send what :func:`request` builds with their own httpx client."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import BaseModel, ValidationError

from ..errors import AgentMemError, BackendError, InvalidInput
from ..inputs import check_path
from . import wire

__all__ = ["Call", "RecordCounter", "check_url", "decode", "export_file", "export_path",
           "headers", "import_body", "raise_for", "request", "unreachable"]

#: the request model of each ``POST /v1/<method>`` that takes JSON
REQUESTS: dict[str, type[BaseModel]] = {
    "add": wire.AddRequest, "search": wire.SearchRequest, "context": wire.ContextRequest,
    "get": wire.GetRequest, "delete": wire.DeleteRequest,
    "delete_session": wire.DeleteSessionRequest, "forget_user": wire.ForgetUserRequest,
    "units": wire.UnitsRequest, "turns": wire.TurnsRequest, "export": wire.ExportRequest,
    "store": wire.StoreRequest,
}
#: the methods answered on ``GET``
GETS = ("stats", "health")
JSONL = "application/x-ndjson"


@dataclass(frozen=True)
class Call:
    """One HTTP request: its method, path under the base URL, and JSON body."""

    method: str
    path: str
    content: bytes | None = None


def check_url(url: object) -> str:
    """The server's base URL, without a trailing slash."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInput("url", f"must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def headers(token: str | None) -> dict[str, str]:
    """The headers of every request: the bearer token (``token``, else the
    :data:`~agentmem.service.wire.TOKEN_ENV` variable; none when neither is set)."""
    if token is None:
        token = os.environ.get(wire.TOKEN_ENV) or None
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise InvalidInput("token", "must be a non-blank string (or None)")
    return {"Authorization": f"Bearer {token}"} if token else {}


def request(name: str, **arguments: Any) -> Call:
    """The request of the Memory method ``name`` called with these (keyword)
    arguments; arguments the wire model refuses raise :class:`InvalidInput` naming
    the field, before anything is sent."""
    if name in GETS:
        return Call("GET", f"{wire.API}/{name}")
    model = REQUESTS[name]
    try:  # strict, as on the server: no "5" or True for k, as Memory refuses them
        body = model.model_validate({k: _plain(v) for k, v in arguments.items()})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "request"
        raise InvalidInput(field, first["msg"]) from None
    return Call("POST", f"{wire.API}/{name}",
                body.model_dump_json(exclude_defaults=True).encode())


def _plain(value: Any) -> Any:
    """Tuples as lists and mappings as dicts (what JSON would make of them), so that
    the strict models take any sequence Memory takes."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def raise_for(response: httpx.Response) -> None:
    """Raise the :mod:`agentmem.errors` error of an error response (read already)."""
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise wire.error_from(response.status_code, body)


def decode(name: str, response: httpx.Response) -> Any:
    """The return value of method ``name`` from its (successful, read) response."""
    raise_for(response)
    try:
        body = response.json()
        if name in wire.RESPONSES:
            return wire.RESPONSES[name].validate_python(body)
        if name == "context":
            return _typed(body["context"], str)
        if name == "delete":
            return None
        if name in ("delete_session", "forget_user"):
            return _typed(body["deleted"], int)
        if name == "import":
            return _typed(body["imported"], int)
        if name in ("health", "store"):
            return _typed(body, dict)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise BackendError(f"the server's answer to {name} is not agentmem's: "
                           f"{str(exc)[:200]}") from None
    raise AssertionError(name)  # pragma: no cover


def _typed(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def unreachable(url: str, exc: httpx.HTTPError) -> AgentMemError:
    """The error for a request that got no answer (refused, timed out, cut)."""
    return BackendError(f"cannot reach the agentmem server at {url}: "
                        f"{type(exc).__name__}: {exc}")


def import_body(path: object) -> bytes:
    """The bytes of an export file to import (a missing file or a folder raises
    :class:`InvalidInput` for ``path``, as :meth:`Memory.import_` does)."""
    where = check_path(path, "path")
    if not where.exists():
        raise InvalidInput("path", f"no such file: {str(where)!r}")
    if where.is_dir():
        raise InvalidInput("path", f"{str(where)!r} is a folder, not an export file")
    try:
        return where.read_bytes()
    except OSError as exc:
        raise InvalidInput("path", f"cannot read {str(where)!r}: {exc.strerror or exc}"
                           ) from exc


def export_path(path: object) -> Path:
    """The checked target of an export (its folder must exist, as for
    :meth:`Memory.export`)."""
    where = check_path(path, "path")
    if where.is_dir():
        raise InvalidInput("path", f"{str(where)!r} is a folder; give a file name")
    if not where.parent.is_dir():
        raise InvalidInput("path", f"no such folder: {str(where.parent)!r}")
    return where


@contextlib.contextmanager
def export_file(path: Path) -> Iterator[IO[bytes]]:
    """A file (mode 0600) named ``path`` only once the block completes; removed
    when it raises. A write failure raises :class:`BackendError`."""
    partial = path.with_name(path.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(partial, path)
    except OSError as exc:
        raise BackendError(f"cannot write the export {str(path)!r}: "
                           f"{exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


class RecordCounter:
    """Counts the JSONL records (non-empty lines) of a body read in chunks."""

    def __init__(self) -> None:
        self.count = 0
        self._open = False  # the last chunk ended inside a line

    def feed(self, chunk: bytes) -> bytes:
        """Count ``chunk``'s records; returns it."""
        for line in chunk.split(b"\n")[:-1]:
            if line.strip() or self._open:
                self.count += 1
            self._open = False
        tail = chunk.rsplit(b"\n", 1)[-1]
        self._open = self._open or bool(tail.strip())
        return chunk

    def done(self) -> int:
        """The count, with a last line that has no newline."""
        return self.count + (1 if self._open else 0)


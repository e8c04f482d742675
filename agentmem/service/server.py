"""Running ``agentmem serve``: the tokens from the options, the loopback rule, and
uvicorn with a graceful shutdown (SIGTERM/SIGINT: stop accepting, finish the requests
in flight, then close the memory)."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from pathlib import Path

from ..errors import ConfigError, InvalidInput
from ..memory import Memory
from .auth import Tokens
from .limits import DEFAULT_MAX_BODY
from .wire import TOKEN_ENV

__all__ = ["is_loopback", "load_tokens", "serve"]


def load_tokens(token: str | None = None, tokens_file: str | Path | None = None, *,
                env: bool = True) -> dict[str, frozenset[str] | None]:
    """The token table: ``token`` (else ``$AGENTMEM_TOKEN`` when ``env``) for every
    user, plus a JSON file ``{token: [user ids] | null}`` (null: every user)."""
    table: dict[str, frozenset[str] | None] = {}
    single = token if token is not None else (os.environ.get(TOKEN_ENV) if env else None)
    if single is not None:
        if not single.strip():
            raise InvalidInput("--token", "must not be empty")
        table[single.strip()] = None
    if tokens_file is not None:
        try:
            data = json.loads(Path(tokens_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput("--tokens-file", f"cannot read {tokens_file}: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput("--tokens-file", "must be a JSON object {token: [user ids] or null}")
        for key, users in data.items():
            if not key.strip():
                raise InvalidInput("--tokens-file", "a token must not be empty")
            if users is not None and not (isinstance(users, list) and users and all(
                    isinstance(u, str) and u for u in users)):
                raise InvalidInput(f"--tokens-file: {key[:4]}...",
                                   "users must be a non-empty list of user ids, or null")
            table[key.strip()] = None if users is None else frozenset(users)
    return table


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: seconds a SIGTERM waits for open connections (an MCP stream, say) to end before
#: they are closed: under systemd's default 90 s stop timeout
GRACE_S = 25


def serve(memory: Memory, *, host: str = "127.0.0.1", port: int = 8765,
          tokens: Tokens | None = None, allow_remote: bool = False,
          max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning") -> None:
    """Serve ``memory`` over HTTP (the API and ``/mcp``) until SIGTERM or SIGINT, then
    finish the requests in flight and close the memory. Without tokens, only a loopback
    ``host`` unless ``allow_remote`` (else :class:`ConfigError`)."""
    import uvicorn

    from .app import create_app

    try:
        if not tokens and not is_loopback(host) and not allow_remote:
            raise ConfigError(f"refusing to serve on {host} without a token: give --token "
                              f"(or ${TOKEN_ENV}) or --tokens-file, or --allow-remote")
        app = create_app(memory, tokens=tokens, max_body=max_body, close=True,
                         loopback_only=not tokens and not allow_remote)
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                timeout_graceful_shutdown=GRACE_S, access_log=False)
        where = f"http://{host}:{port}"
        if tokens:
            print(f"agentmem: serving {memory!r} on {where} (API {where}/v1, MCP "
                  f"{where}/mcp); auth on: {len(tokens)} token(s)", file=sys.stderr,
                  flush=True)
        else:
            print(f"agentmem: serving {memory!r} on {where} (API {where}/v1, MCP "
                  f"{where}/mcp); WARNING: auth off (no token): anyone who can reach "
                  f"this address can read and write every user's memories",
                  file=sys.stderr, flush=True)
        uvicorn.Server(config).run()
    finally:
        memory.close()  # uvicorn re-raises the signal after its shutdown: the app's
        # lifespan closed the memory already

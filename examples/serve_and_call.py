"""Memory as a service: start ``agentmem serve``, call it with ``RemoteMemory`` and
``AsyncMemory.remote``, stop it (docs/cli.md, ``agentmem serve``).

    python examples/serve_and_call.py

The server runs as a subprocess on a free loopback port over a temporary folder, with
a bearer token; SIGTERM stops it (it finishes the requests in flight and closes the
memory).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from agentmem.service.aio import AsyncMemory
from agentmem.service.client import RemoteMemory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(folder: str, token: str) -> tuple[subprocess.Popen[str], str]:
    """``agentmem --path FOLDER serve --port P --token T``, once it answers health."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AGENTMEM_TOKEN": token}  # the token stays off the command line
    server = subprocess.Popen(
        [sys.executable, "-m", "agentmem", "--path", folder, "serve", "--port", str(port)],
        env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # loading the embedder takes a few seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read() if server.stderr else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the server did not start within 120 s")


def stop(server: subprocess.Popen[str]) -> int:
    """SIGTERM, then wait for it to exit; returns the exit code (``-SIGTERM`` after a
    clean shutdown: the server re-raises the signal once it has closed the memory)."""
    server.send_signal(signal.SIGTERM)
    try:
        server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
    return server.returncode


async def one_async_search(url: str, token: str) -> None:
    async with AsyncMemory.remote(url, token=token) as amem:
        hits = await amem.search("Where is the trip going?", user_id="alice", k=1)
        print(f"async: [{hits[0].timestamp:%Y-%m-%d}] score {hits[0].score:.3f} "
              f"{hits[0].text.splitlines()[0]}")


def main() -> None:
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as folder:
        server, url = start(folder, token)
        try:
            print(f"serving {folder} on {url}")
            with RemoteMemory(url, token=token) as mem:
                mem.add([{"role": "user", "content": "I adopted a grey cat called Miso."},
                         {"role": "assistant", "content": "Lovely name!"}],
                        user_id="alice", session_id="s1", timestamp="2024-01-05T09:00")
                mem.add([{"role": "user", "content": "We fly to Kyoto with my sister "
                                                     "in April."},
                         {"role": "assistant", "content": "Enjoy the cherry blossoms."}],
                        user_id="alice", session_id="s2", timestamp="2024-02-10T18:30")
                print(f"stored {len(mem.turns('alice'))} turns")
                for query in ("What is my cat called?", "Who comes on the trip?"):
                    print(f"Q: {query}")
                    for i, hit in enumerate(mem.search(query, user_id="alice", k=2), 1):
                        print(f"  {i}. [{hit.timestamp:%Y-%m-%d %H:%M}] score "
                              f"{hit.score:.3f} {hit.text.splitlines()[0]}")
            asyncio.run(one_async_search(url, token))
        finally:
            code = stop(server)
        if code not in (0, -signal.SIGTERM):
            raise SystemExit(f"the server failed to stop cleanly (exit code {code})")
        print("server stopped cleanly (SIGTERM)")


if __name__ == "__main__":
    main()

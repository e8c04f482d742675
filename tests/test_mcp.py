"""The MCP tools (remember, recall, forget) through the ``mcp`` package's own client:
over stdio (``agentmem mcp``) and over streamable HTTP (``agentmem serve``'s /mcp)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from service_helpers import Server


def _text(result: Any) -> str:
    assert not result.is_error, result.content
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def _exercise(session: ClientSession, user: str) -> None:
    await session.initialize()
    names = {t.name for t in (await session.list_tools()).tools}
    assert {"remember", "recall", "forget"} <= names
    stored = json.loads(_text(await session.call_tool("remember", {
        "user_id": user, "session_id": "s1", "timestamp": "2023-05-20T10:00:00",
        "messages": [{"role": "user", "content": "I moved to Lisbon for a bakery job."},
                     {"role": "assistant", "content": "Congratulations!"}]})))
    assert stored["stored_messages"] == 2
    hits = json.loads(_text(await session.call_tool("recall", {
        "user_id": user, "query": "Where does the user work?", "k": 2})))
    assert hits and "Lisbon" in hits[0]["text"] and hits[0]["date"].startswith("2023-05-20")
    assert json.loads(_text(await session.call_tool("forget", {
        "user_id": user, "memory_id": hits[0]["id"]}))) == {"deleted": hits[0]["id"]}
    after = json.loads(_text(await session.call_tool("recall", {
        "user_id": user, "query": "Where does the user work?"})))
    assert all(h["id"] != hits[0]["id"] for h in after)
    gone = json.loads(_text(await session.call_tool("forget", {
        "user_id": user, "everything": True})))
    assert gone["forgot_user"] == user


def test_mcp_over_stdio(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agentmem", "--path", str(tmp_path / "mem"), "mcp"],
        env={"HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(sys.path)})

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await _exercise(s, "alice")

    anyio.run(main)


@pytest.fixture
def server(tmp_path: Path) -> Any:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tok-all": None, "tok-a": ["a"]}))
    srv = Server(tmp_path / "mem", "--tokens-file", str(tokens))
    yield srv
    srv.stop()


def test_mcp_over_http_with_token(server: Server) -> None:
    async def session_with(token: str | None, user: str) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
                streamable_http_client(f"{server.url}/mcp", http_client=http) as (r, w), \
                ClientSession(r, w) as s:
            await _exercise(s, user)

    anyio.run(session_with, "tok-all", "bob")
    anyio.run(session_with, "tok-a", "a")
    refused = httpx2.post(f"{server.url}/mcp", json={})
    assert refused.status_code == 401

    async def scoped_for_other() -> Any:
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer tok-a"},
                                      timeout=60) as http, \
                streamable_http_client(f"{server.url}/mcp", http_client=http) as (r, w), \
                ClientSession(r, w) as s:
            await s.initialize()
            return await s.call_tool("recall", {"user_id": "bob", "query": "x"})

    result = anyio.run(scoped_for_other)
    assert result.is_error and "may not act for user 'bob'" in str(result.content)

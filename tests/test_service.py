"""``agentmem serve``: a real server process on loopback, driven with httpx."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_helpers import Server

from agentmem import Memory
from agentmem.service.wire import RESPONSES

ALL, ONLY_A = "tok-all", "tok-a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    tokens = root / "tokens.json"
    tokens.write_text(json.dumps({ALL: None, ONLY_A: ["a"]}))
    srv = Server(root / "mem", "--tokens-file", str(tokens))
    yield srv
    srv.stop()


def post(srv: Server, method: str, body: object, token: str | None = ALL) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{srv.url}/v1/{method}", json=body, headers=headers, timeout=60)


def test_health_and_openapi(server: Server) -> None:
    health = httpx.get(f"{server.url}/v1/health").json()
    assert health["status"] == "ok" and health["version"]
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    for method in ("add", "search", "context", "get", "delete", "delete_session",
                   "forget_user", "units", "turns", "export", "import", "stats", "health"):
        assert f"/v1/{method}" in paths


def test_add_then_search(server: Server) -> None:
    added = post(server, "add", {"user_id": "a", "session_id": "s1", "timestamp":
                                 "2023-05-20T10:00:00", "messages": [
        {"role": "user", "content": "I adopted a grey cat called Miso."},
        {"role": "assistant", "content": "Lovely name."}]})
    assert added.status_code == 200, added.text
    result = RESPONSES["add"].validate_python(added.json())
    assert result.user_id == "a" and len(result.turn_ids) == 2
    found = post(server, "search", {"query": "what pet?", "user_id": "a", "k": 3,
                                    "session_id": "s1", "min_score": 0.0})
    assert found.status_code == 200, found.text
    hits = RESPONSES["search"].validate_python(found.json())
    assert hits and "Miso" in hits[0].text and hits[0].id in result.unit_ids
    context = post(server, "context", {"query": "what pet?", "user_id": "a"}).json()
    assert "Miso" in context["context"]
    turns = RESPONSES["turns"].validate_python(post(server, "turns", {"user_id": "a"}).json())
    assert [t.content for t in turns][:1] == ["I adopted a grey cat called Miso."]


def test_bad_input_names_the_field(server: Server) -> None:
    bad_k = post(server, "search", {"query": "x", "user_id": "a", "k": 0})
    assert bad_k.status_code == 422
    assert bad_k.json()["error"]["type"] == "InvalidInput"
    assert bad_k.json()["error"]["field"] == "k"
    bad_role = post(server, "add", {"user_id": "a", "session_id": "s9",
                                    "messages": [{"role": "bot", "content": "x"}]})
    assert bad_role.status_code == 422
    assert "role" in bad_role.json()["error"]["field"]
    missing = post(server, "search", {"user_id": "a"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "query"
    assert post(server, "turns", {"user_id": "a", "session_id": "s9"}).json() == []


def test_auth_refused(server: Server) -> None:
    for token in (None, "wrong"):
        r = post(server, "search", {"query": "x", "user_id": "a"}, token=token)
        assert r.status_code == 401 and r.json()["error"]["type"] == "AccessDenied"
    assert httpx.get(f"{server.url}/v1/stats").status_code == 401


def test_scoped_token(server: Server) -> None:
    added = post(server, "add", {"user_id": "b", "session_id": "s", "messages": [
        {"role": "user", "content": "My secret is the blue door."}]}).json()
    unit = added["unit_ids"][0]
    denied = post(server, "search", {"query": "secret", "user_id": "b"}, token=ONLY_A)
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "AccessDenied"
    hidden = post(server, "get", {"id": unit}, token=ONLY_A)
    assert hidden.status_code == 404 and hidden.json()["error"]["type"] == "NotFound"
    assert post(server, "delete", {"id": unit}, token=ONLY_A).status_code == 404
    assert post(server, "get", {"id": unit}).status_code == 200  # still there
    assert httpx.get(f"{server.url}/v1/stats", headers={
        "Authorization": f"Bearer {ONLY_A}"}).status_code == 403
    assert post(server, "export", {}, token=ONLY_A).status_code == 403
    assert post(server, "search", {"query": "secret", "user_id": "a"},
                token=ONLY_A).status_code == 200


def test_export_import_stats(server: Server, tmp_path: Path) -> None:
    post(server, "add", {"user_id": "c", "session_id": "s", "messages": [
        {"role": "user", "content": "I play the cello."}]})
    exported = post(server, "export", {"user_id": "c"})
    assert exported.status_code == 200
    lines = [json.loads(x) for x in exported.text.splitlines()]
    assert lines[0]["type"] == "agentmem-export"
    assert post(server, "forget_user", {"user_id": "c"}).json() == {"deleted": 1}
    auth = {"Authorization": f"Bearer {ALL}"}
    plain = httpx.post(f"{server.url}/v1/import", content=exported.content,
                       headers={**auth, "Content-Type": "text/plain"}, timeout=60)
    assert plain.status_code == 422 and plain.json()["error"]["field"] == "content-type"
    back = httpx.post(f"{server.url}/v1/import", content=exported.content, headers={
        **auth, "Content-Type": "application/x-ndjson"}, timeout=60)
    assert back.status_code == 200 and back.json()["imported"] == len(lines)
    stats = RESPONSES["stats"].validate_python(httpx.get(f"{server.url}/v1/stats", headers={
        "Authorization": f"Bearer {ALL}"}).json())
    assert stats.users >= 1


def test_body_over_the_limit(server: Server) -> None:
    big = {"user_id": "a", "session_id": "s", "messages": [
        {"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    r = post(server, "add", big)
    assert r.status_code == 413
    assert r.json()["error"] == {"type": "InvalidInput", "field": "body",
                                 "message": r.json()["error"]["message"]}


@pytest.mark.slow
def test_sigterm_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    srv = Server(path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                try:
                    r = client.post(f"{srv.url}/v1/add", json={
                        "user_id": "w", "session_id": "s", "messages": [
                            {"role": "user", "content": f"note number {i}"}]})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acknowledged.extend(r.json()["turn_ids"])
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < 5:
        threading.Event().wait(0.1)
    err = srv.stop()  # one SIGTERM: finish the requests in flight, close, exit
    stop.set()
    thread.join(timeout=60)
    # uvicorn re-raises the signal once shut down
    assert srv.proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    with Memory(path) as mem:
        stored = {t.id for t in mem.turns("w")}
    assert set(acknowledged) <= stored


def test_review_findings_on_the_server(server: Server) -> None:
    """An independent review of issue 19 found these; each failed before its fix."""
    # strict request models: what Memory refuses locally is refused here too
    for bad in ({"k": "5"}, {"k": True}, {"k": 5.0}):
        r = post(server, "search", {"query": "q", "user_id": "a", **bad})
        assert r.status_code == 422 and r.json()["error"]["field"] == "k", (bad, r.text)
    # malformed JSON names the body, not a position in it
    r = httpx.post(f"{server.url}/v1/search", content=b'{"query": ', headers={
        "Authorization": f"Bearer {ALL}", "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    # an id of another user and an id that does not exist answer the same
    theirs = post(server, "add", {"user_id": "b", "session_id": "s", "messages": [
        {"role": "user", "content": "secret of b"}]}).json()["unit_ids"][0]
    answers = [post(server, route, {"id": i}, token=ONLY_A).json()
               for route in ("get", "delete") for i in (theirs, "no-such-id")]
    assert {a["error"]["type"] for a in answers} == {"NotFound"}
    assert len({a["error"]["message"].replace(theirs, "ID").replace("no-such-id", "ID")
                for a in answers}) == 1
    # an import bigger than the request limit streams to disk (then fails validation,
    # writing nothing) instead of being refused whole
    big = b'{"not": "an export"}\n' * (9 * 1024 * 1024 // 20)
    r = httpx.post(f"{server.url}/v1/import", content=big, headers={
        "Authorization": f"Bearer {ALL}", "Content-Type": "application/x-ndjson"},
        timeout=120)
    assert r.status_code == 422, r.text[:300]


def test_a_server_without_tokens_answers_only_loopback_requests(tmp_path: Path) -> None:
    """Against DNS rebinding and cross-site requests from a browser (review of
    issue 19): a Host that is not a loopback name, or an Origin of another site, is
    refused; the server's own loopback address is answered."""
    srv = Server(tmp_path / "mem")
    try:
        ok = httpx.post(f"{srv.url}/v1/turns", json={"user_id": "a"})
        assert ok.status_code == 200, ok.text
        for headers in ({"Host": "evil.example"}, {"Origin": "http://evil.example"},
                        {"Origin": "null"}):
            r = httpx.post(f"{srv.url}/v1/turns", json={"user_id": "a"}, headers=headers)
            assert r.status_code == 403 and r.json()["error"]["type"] == "AccessDenied", \
                (headers, r.text)
    finally:
        srv.stop()

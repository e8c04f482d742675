"""The ``agentmem`` command, run as a subprocess (``python -m agentmem``) on a real
memory on disk: SQLite, Chroma and the packaged embedder, no mocks. Each run that
embeds loads the model (seconds), so each test chains several commands on one memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import conversation

ALICE = conversation()  # (session_id, timestamp, messages) x 2


def agentmem(*args: str, input: str | None = None, path: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentmem [--path PATH] ARGS`` and return what it did."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEM_")}
    base["HF_HUB_OFFLINE"] = "1"
    cmd = [sys.executable, "-m", "agentmem", *(["--path", str(path)] if path else []), *args]
    return subprocess.run(cmd, input=input if input is not None else "", capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=300, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done).stdout)


def failed(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Exit ``code``, one ``agentmem: error:`` line naming ``words``, no traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("agentmem: error: "), done.stderr
    for word in words:
        assert word in line, line


def test_help_documents_commands_and_exit_codes() -> None:
    text = ok(agentmem("--help")).stdout
    for command in ("add", "search", "get", "delete", "forget-user", "export", "import",
                    "reindex", "maintain", "stats"):
        assert f"    {command} " in text
    assert "AGENTMEM_PATH" in text and "./memdata" in text
    assert "exit codes:" in text and "130" in text
    add = ok(agentmem("add", "--help")).stdout
    assert '"messages"' in add and "JSONL" in add and "json:" in add


def test_bad_input_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    mem = tmp_path / "mem"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user", "content": "hi"},\n {"role": "user"', encoding="utf-8")
    failed(agentmem("add", str(bad), "--user", "a", "--session", "s", path=mem), 2,
           "bad.json", "line 2", "not valid JSON")
    lines = [{"user_id": "a", "session_id": "s", "messages": [{"role": "user", "content": "x"}]},
             {"user_id": "a", "session_id": "s", "messages": [{"role": "user"}]}]
    failed(agentmem("add", "-", input="\n".join(json.dumps(x) for x in lines), path=mem), 2,
           "<stdin>", "line 2: messages[0].content", "is required")
    failed(agentmem("add", "-", input='[{"role": "user", "content": "x"}]', path=mem), 2,
           "--user", "is required")
    failed(agentmem("stats", path=mem), 1, "no memory at")
    assert not mem.exists()


def test_add_search_get_delete_forget(tmp_path: Path) -> None:
    mem = tmp_path / "mem"
    (sid, when, messages), (sid2, when2, messages2) = ALICE
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(messages), encoding="utf-8")
    assert "added 4 messages" in ok(agentmem(
        "add", str(chat), "--user", "alice", "--session", sid, "--timestamp", when,
        path=mem)).stdout

    # stdin, JSONL batches: alice's second session (two lines, grouped) and bob's
    lines = [{"user_id": "alice", "session_id": sid2, "timestamp": when2,
              "messages": messages2[:1]},
             {"user_id": "alice", "session_id": sid2, "messages": messages2[1:]},
             {"user_id": "bob", "session_id": "b1", "timestamp": "2023-07-01T09:00:00",
              "messages": [{"role": "user", "content": "I play the cello in an orchestra."}]}]
    done = agentmem("--json", "add", "-", "--progress",
                    input="\n".join(json.dumps(x) for x in lines), path=mem)
    added = as_json(done)
    assert [(r["user_id"], r["session_id"], len(r["turn_ids"])) for r in added] == [
        ("alice", sid2, 2), ("bob", "b1", 1)]
    assert "adding" in done.stderr  # the progress bar, forced on a pipe

    # a bad line anywhere: nothing from the good lines before it is written
    bad = [lines[2], {**lines[2], "messages": [{"role": "bot", "content": "hi"}]}]
    failed(agentmem("add", "-", input="\n".join(json.dumps(x) for x in bad), path=mem), 2,
           "line 2: messages[0].role", "unknown role 'bot'")

    table = ok(agentmem("search", "Which pet did I adopt?", "--user", "alice", path=mem)).stdout
    header, first = table.splitlines()[:2]
    assert header.split() == ["#", "SCORE", "KIND", "DATE", "SESSION", "ID", "TEXT"]
    assert "Miso" in first and "2023-06-02 18:30" in first

    hits = as_json(agentmem("search", "Where did I move to?", "--user", "alice", "-k", "2",
                            "--json", path=mem))
    assert len(hits) == 2
    assert set(hits[0]) == {"id", "kind", "user_id", "session_id", "text", "timestamp",
                            "score", "store", "scores", "turn_ids", "retention", "strength"}
    top = hits[0]
    assert "Lisbon" in top["text"] and top["session_id"] == sid
    assert top["timestamp"] == "2023-05-20T10:00:00" and top["retention"] is None

    # issue 18's filters and min_score
    only = as_json(agentmem("--json", "search", "Where did I move to?", "--user", "alice",
                            "--session", sid2, "--role", "assistant", path=mem))
    assert only and {h["session_id"] for h in only} == {sid2}
    assert as_json(agentmem("--json", "search", "pet", "--user", "alice", "--until",
                            when, path=mem)) == []
    assert as_json(agentmem("--json", "search", "pet", "--user", "alice", "--meta",
                            "lang=en", path=mem)) == []
    assert all(h["score"] >= 0.99 for h in as_json(agentmem(
        "--json", "search", "Where did I move to?", "--user", "alice", "--min-score", "0.99",
        path=mem)))
    failed(agentmem("search", "pet", "--user", "alice", "--meta", "oops", path=mem), 2,
           "--meta")

    unit = as_json(agentmem("--json", "get", top["id"], path=mem))
    assert unit["id"] == top["id"] and unit["user_id"] == "alice"
    assert [t["id"] for t in unit["turns"]] == top["turn_ids"]
    assert unit["turns"][0]["content"] == messages[0]["content"]

    failed(agentmem("delete", top["id"], "no-such-id", path=mem), 1, "no-such-id")
    assert as_json(agentmem("--json", "delete", top["id"], path=mem)) == {"deleted": [top["id"]]}

    failed(agentmem("forget-user", "bob", path=mem), 2, "--yes")
    assert as_json(agentmem("forget-user", "bob", "--yes", "--json", path=mem)) == {
        "user_id": "bob", "turns_removed": 1}

    stats = as_json(agentmem("--json", "stats", path=mem))
    # alice: 4 + 2 turns, less the 2 of the deleted round; bob gone; no bad line written
    assert (stats["users"], stats["sessions"], stats["turns"]) == (1, 2, 4)
    assert stats["granularity"] == "round" and stats["pending_index_repairs"] == 0


def test_export_import_reindex_maintain(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    batches = [{"user_id": "alice", "session_id": s, "timestamp": t, "messages": m}
               for s, t, m in ALICE]
    data = tmp_path / "alice.json"
    data.write_text(json.dumps(batches), encoding="utf-8")
    # the memory from $AGENTMEM_PATH; --quiet wins over --progress
    done = ok(agentmem("--granularity", "turn", "--quiet", "--progress", "add", str(data),
                       env={"AGENTMEM_PATH": str(first)}))
    assert "adding" not in done.stderr
    assert (first / "agentmem.db").is_file()

    dump, again = tmp_path / "dump.jsonl", tmp_path / "again.jsonl"
    assert as_json(agentmem("--json", "export", str(dump), path=first))["records"] == len(
        dump.read_text(encoding="utf-8").splitlines())
    done = agentmem("--progress", "import", str(dump), path=second)
    assert "imported" in ok(done).stdout and "indexing" in done.stderr
    ok(agentmem("export", str(again), path=second))
    assert again.read_bytes() == dump.read_bytes()  # lossless, granularity kept
    failed(agentmem("import", str(dump), path=second), 2, "dump.jsonl", "already exists")

    assert as_json(agentmem("--json", "reindex", path=second)) == {"units": 6, "thoughts": 0}
    hits = as_json(agentmem("--json", "search", "grey cat", "--user", "alice", "-k", "1",
                            "--mode", "dense", path=second))
    assert "Miso" in hits[0]["text"] and hits[0]["kind"] == "turn"

    result = as_json(agentmem("--json", "maintain", "--now", "2023-06-03T18:30:00",
                              "--user", "alice", path=second))
    # S=1, one day a unit: exp(-t) < 0.05 after 3 days, so the first session fades
    assert result["checked"] == 6 and len(result["archived"]) == 4
    assert all(r < 0.05 for r in result["retention"].values())



def test_a_null_batch_timestamp_takes_the_option() -> None:
    from agentmem.cli.batches import read_batches

    text = ('{"user_id": "u", "session_id": "s", "timestamp": null, '
            '"messages": [{"role": "user", "content": "hi"}]}')
    [batch] = read_batches(text, "<test>", timestamp="2023-05-20T10:00:00")
    assert batch.timestamp == "2023-05-20T10:00:00"
    [batch] = read_batches(text, "<test>")
    assert batch.timestamp is None   # dated now when added

"""The ``agentmem`` argument parser: global options, the subcommands and their help
texts (exit codes, input formats and JSON shapes are documented here for ``--help``)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from .. import __version__
from ..types import GRANULARITIES, ROLES, SEARCH_MODES

__all__ = ["COMMANDS", "DEFAULT_PATH", "build_parser"]

DEFAULT_PATH = "./memdata"
#: the subcommands, in the order --help lists them
COMMANDS: tuple[str, ...] = ("add", "search", "get", "delete", "forget-user", "export",
                             "import", "reindex", "maintain", "stats", "serve", "mcp")

_DESCRIPTION = """\
Local long-term memory for chatbots, from the shell: add conversations, search them,
inspect, delete, back up and restore a memory (SQLite + Chroma on disk)."""

_EPILOG = """\
where the memory is:
  --path DIR (default $AGENTMEM_PATH, else ./memdata) holds the SQLite file and the
  Chroma folder; --url (default $AGENTMEM_URL) uses a SQLAlchemy database instead of
  the SQLite file, and --chroma-host/--chroma-port a Chroma server instead of the
  folder (with --url and neither --path nor --chroma-host, vectors are kept in memory
  and rebuilt on each run). Only add and import create a memory.

tables, JSON, progress:
  tables by default; --json (before or after the command) prints one JSON document
  on stdout, its shape given in each command's --help. Progress bars (add, import,
  reindex of a large memory) go to stderr when it is a terminal.

exit codes:
  0    success
  1    not found (an id, no memory at the path), declined, or a backend/I-O failure
  2    bad usage or invalid input (nothing was written)
  130  interrupted (Ctrl-C)
errors print one line on stderr: "agentmem: error: ...".

Run `agentmem COMMAND --help` for a command's options."""

_ADD_DESCRIPTION = """\
Add messages from FILE (JSON or JSONL; - reads stdin). The whole input is validated
before the first write: on an error nothing is added (exit 2).

accepted input:
  [{"role": "user", "content": "..."}, ...]
      a JSON array of messages (or one message object): one batch for --user and
      --session; --timestamp dates the messages without a "timestamp" (default: now).
      A message has role (user|assistant|system) and content, optionally name,
      timestamp and metadata (an object).
  {"user_id": "alice", "session_id": "s1", "timestamp": "...", "messages": [...]}
      a batch object, or a JSON array of them; --user/--session/--timestamp fill in
      the keys a batch leaves out.
  JSONL
      one message per line (all lines are one batch, as for an array), or one batch
      object per line. An object with "messages" is a batch, else a message; one
      input holds one kind. Consecutive batches of a session are added together.

json: [{"user_id", "session_id", "turn_ids": [...], "unit_ids": [...]}], one per
  add call."""



def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= 36500:
        raise argparse.ArgumentTypeError(f"must be a number of days in (0, 36500], got {text}")
    return value


def _output_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--json, --quiet and --progress; accepted before and after the command."""
    group = parser.add_argument_group("output")
    group.add_argument("--json", action="store_true", default=default,
                       help="print JSON for scripts instead of tables")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="no progress bars")
    group.add_argument("--progress", action="store_true", default=default,
                       help="progress bars on stderr even when it is not a terminal")


def build_parser() -> argparse.ArgumentParser:
    """The ``agentmem`` argument parser (global options, then one subcommand)."""
    parser = argparse.ArgumentParser(
        prog="agentmem", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"agentmem {__version__}")
    where = parser.add_argument_group("memory location")
    where.add_argument("--path", metavar="DIR",
                       help=f"the memory's folder (default: $AGENTMEM_PATH, else {DEFAULT_PATH})")
    where.add_argument("--url", help="a SQLAlchemy database URL instead of the SQLite file "
                                     "(default: $AGENTMEM_URL)")
    where.add_argument("--chroma-host", metavar="HOST",
                       help="a Chroma server instead of the Chroma folder")
    where.add_argument("--chroma-port", metavar="PORT", type=int, default=8000,
                       help="the Chroma server's port (default: 8000)")
    where.add_argument("--granularity", choices=GRANULARITIES,
                       help="the unit a new memory indexes (default: round); an existing "
                            "memory keeps its own")
    decay = parser.add_argument_group(
        "forgetting (MemoryBank decay; not stored with the memory: repeat on every call)")
    decay.add_argument("--decay", action="store_true",
                       help="rank by retention, reinforce what search returns, hide archived "
                            "units (implied by the options below and by maintain)")
    decay.add_argument("--decay-unit", metavar="DAYS", type=_days,
                       help="the time unit of the curve, in days (default: 1)")
    decay.add_argument("--decay-weight", metavar="W", type=float,
                       help="how much retention counts in ranking, 0..1 (default: 0.3)")
    decay.add_argument("--decay-threshold", metavar="R", type=float,
                       help="maintain archives units with retention below R (default: 0.05)")
    _output_options(parser, False)
    common = argparse.ArgumentParser(add_help=False)
    _output_options(common, argparse.SUPPRESS)

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None
                ) -> argparse.ArgumentParser:
        assert name in COMMANDS
        return sub.add_parser(name, help=help, description=description or help,
                              parents=[common],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("add", "add messages from a JSON or JSONL file (- for stdin)",
                _ADD_DESCRIPTION)
    p.add_argument("file", metavar="FILE", help="the input file, or - for stdin")
    p.add_argument("--user", metavar="USER", help="the user of a list of messages")
    p.add_argument("--session", metavar="SESSION", help="the session of a list of messages")
    p.add_argument("--timestamp", metavar="TIME",
                   help="when the messages were said (ISO 8601; default: now)")

    p = command("search", "the memories of a user most relevant to a query",
                "The K memory units (and thoughts) of USER most relevant to QUERY, best "
                "first.\n\njson: [{id, kind, user_id, session_id, text, timestamp, score, "
                "store, scores,\n  turn_ids, retention, strength}] (retention, strength: null "
                "without --decay)")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--user", metavar="USER", required=True)
    p.add_argument("-k", type=int, default=5, help="how many results (default: 5)")
    p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid",
                   help="retrievers to use (default: hybrid)")
    p.add_argument("--now", metavar="TIME",
                   help="the query's current time, for 'last week' etc. (default: now)")
    p.add_argument("--kind", action="append", metavar="KIND",
                   help="only units of this kind (repeatable: round, turn, session, fact, "
                        "thought, summary ...)")
    p.add_argument("--include-forgotten", action="store_true",
                   help="with --decay: archived units too")
    p.add_argument("--session", action="append", metavar="SESSION",
                   help="only this session's memories (repeatable)")
    p.add_argument("--since", metavar="TIME", help="only memories dated at or after TIME")
    p.add_argument("--until", metavar="TIME", help="only memories dated before TIME")
    p.add_argument("--role", action="append", choices=ROLES,
                   help="only memories with a turn of this role (repeatable)")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE",
                   help="only memories with a turn whose metadata has KEY at VALUE (JSON, "
                        "else a string; a key repeated: any of its values)")
    p.add_argument("--min-score", type=float, default=0.0, metavar="S",
                   help="leave out hits scoring below S (a relevance in [0, 1])")

    p = command("get", "show one memory unit (or thought) with its turns",
                "Show the memory unit, or the thought, with this ID.\n\n"
                "json: a unit {id, kind, user_id, session_id, text, timestamp, store, key,\n"
                "  turns: [{id, session_id, position, role, name, content, timestamp, "
                "metadata}]}\n  or a thought {id, kind: \"thought\", user_id, session_id, "
                "text, timestamp,\n  head, relation, tail, status, replaced_by, "
                "source_turn_ids}")
    p.add_argument("id", metavar="ID")

    p = command("delete", "delete memory units or thoughts (and the turns they hold)",
                "Delete memory units or thoughts, with the turns they hold and the other units "
                "built from those turns.\nEvery ID is checked first: one unknown ID deletes "
                "nothing (exit 1).\n\njson: {deleted: [id]}")
    p.add_argument("ids", metavar="ID", nargs="+")

    p = command("forget-user", "remove every trace of a user (asks first)",
                "Remove every trace of USER from every store and index. Asks for "
                "confirmation on a terminal;\nelsewhere it needs --yes (exit 2 without). "
                "An unknown user removes nothing (exit 0).\n\n"
                "json: {user_id, turns_removed}")
    p.add_argument("user", metavar="USER")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")

    p = command("export", "write the memory (or one user's part) as JSONL",
                "Write the memory, or one user's part, as a lossless JSONL export "
                "(- writes it to stdout).\n\njson: {path, user_id, records}")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--user", metavar="USER", help="only this user")

    p = command("import", "load a JSONL export (- for stdin)",
                "Load a JSONL export, validated whole first (one transaction), then index "
                "it.\nA new memory takes the file's granularity. Ids already present: exit "
                "2, nothing written.\n\njson: {path, records}")
    p.add_argument("file", metavar="FILE")

    command("reindex", "rebuild every index (lexical, dense, thought LSH) from SQL",
            "Rebuild every index (lexical, dense vectors, thought LSH buckets) from SQL, the "
            "source of truth.\n\njson: {units, thoughts} (the counts indexed)")

    p = command("maintain", "archive the units whose retention has faded (MemoryBank forgetting)",
                "Archive every unit (of USER, or of every user) whose retention exp(-t/S) at "
                "--now is below\nthe decay threshold (see the global --decay-* options). "
                "Archived units stay stored;\nsearch leaves them out when run with --decay."
                "\n\njson: {checked, archived: [id], retention: {id: retention}}")
    p.add_argument("--now", metavar="TIME", help="the current time (default: now, UTC)")
    p.add_argument("--user", metavar="USER", help="only this user")

    command("stats", "counts, settings and storage size",
            "Counts of users, sessions, turns, units and thoughts; settings; storage size."
            "\n\njson: every field of agentmem.MemoryStats: {users, sessions, turns, "
            "units: {kind: n},\n  embeddings_cached, pending_index_repairs, granularity, "
            "embedder, storage_bytes,\n  database_url, llm, llm_usage, thoughts: "
            "{status: n}, llm_failures}")
    p = command("serve", "serve the memory over HTTP (JSON API and MCP tools)",
                "Serve the memory over HTTP until SIGTERM/SIGINT (requests in flight are "
                "finished,\nthen the memory is closed): the JSON API at /v1 (OpenAPI at "
                "/openapi.json) and the\nMCP tools (streamable HTTP) at /mcp. With a token "
                "every request but /v1/health needs\n'Authorization: Bearer TOKEN'; "
                "without one, only a loopback --host unless --allow-remote.")
    p.add_argument("--host", default="127.0.0.1", help="the address to bind (default: "
                                                        "127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="the port (default: 8765)")
    p.add_argument("--token", help="the bearer token every request needs (default: "
                                   "$AGENTMEM_TOKEN)")
    p.add_argument("--tokens-file", metavar="FILE",
                   help='JSON {token: [user ids] or null}: tokens scoped to users (null: '
                        'every user)')
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host without a token")
    p.add_argument("--max-body", type=int, default=8 * 1024 * 1024, metavar="BYTES",
                   help="the largest request body (default: 8 MiB)")

    p = command("mcp", "serve the memory's MCP tools over stdio",
                "Serve the MCP tools remember, recall and forget over stdio (for an MCP "
                "client that\nstarts this command).")
    p.add_argument("--user", metavar="USER",
                   help="the user the tools act for (default: each call names its user)")
    return parser

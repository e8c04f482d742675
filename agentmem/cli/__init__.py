"""The ``agentmem`` command (also ``python -m agentmem``): a memory on disk, from the shell.

::

    agentmem [--path DIR | --url URL] [--json] [--quiet] COMMAND ...

    agentmem add chat.json --user alice --session s1 --timestamp 2023-05-20T10:00
    agentmem search "Where does Alice live?" --user alice -k 5
    agentmem --json get 9f0c...            # the unit (or thought) with that id
    agentmem delete 9f0c... 41aa...
    agentmem forget-user alice --yes
    agentmem export backup.jsonl && agentmem --path ./other import backup.jsonl
    agentmem reindex | maintain --now 2023-07-01 | stats

Where the memory is: ``--path DIR`` (default ``$AGENTMEM_PATH``, else ``./memdata``)
holds the SQLite file and the Chroma folder. ``--url`` (default ``$AGENTMEM_URL``) uses
any SQLAlchemy database instead of the SQLite file; ``--chroma-host`` /
``--chroma-port`` a Chroma server instead of the folder. Only ``add`` and ``import``
create a memory; the other commands fail (exit 1) when there is none at the path. A
memory keeps its granularity (``--granularity`` when it is created, ``round`` by
default; an import into a new memory takes the file's). The forgetting curve is not
stored: give the same ``--decay*`` options on every call (``maintain`` always uses
them, with the defaults of :class:`~agentmem.stores.Decay`).

Input of ``add`` (a file, or ``-`` for stdin), JSON or JSONL, told apart by content:

- a JSON array of messages ``{"role", "content", ["name", "timestamp", "metadata"]}``,
  or one message object: one batch, needs ``--user`` and ``--session``
  (``--timestamp`` dates the messages that have no timestamp; default: now);
- a batch object ``{"user_id", "session_id", "timestamp", "messages": [...]}``, or a
  JSON array of them (the options fill in missing ``user_id``, ``session_id`` and
  ``timestamp``);
- JSONL: one message per line (all lines: one batch, as for an array), or one batch
  object per line. An object is a batch when it has ``messages``; one input holds one
  kind only. Consecutive batches of one session are added together.

The whole input is validated before the first write: a bad one exits 2 with a
one-line message naming the file, line (or array element) and field, and writes
nothing.

Output: tables for people; ``--json`` (before or after the command) prints one JSON
document on stdout:

- ``add``: ``[{user_id, session_id, turn_ids, unit_ids}]``, one per add call;
- ``search``: ``[{id, kind, user_id, session_id, text, timestamp, score, store,
  scores, turn_ids, retention, strength}]``, best first (``retention`` and
  ``strength``: null unless ``--decay``);
- ``get``: a unit ``{id, kind, user_id, session_id, text, timestamp, store, key,
  turns: [{id, session_id, position, role, name, content, timestamp, metadata}]}`` or
  a thought ``{id, kind: "thought", user_id, session_id, text, timestamp, head,
  relation, tail, status, replaced_by, source_turn_ids}``;
- ``delete``: ``{deleted: [id]}``; ``forget-user``: ``{user_id, turns_removed}``;
- ``export``: ``{path, user_id, records}``; ``import``: ``{path, records}``;
- ``reindex``: ``{units, thoughts}``; ``maintain``: ``{checked, archived: [id],
  retention: {id: retention}}``; ``stats``: every field of
  :class:`~agentmem.types.MemoryStats`.

Timestamps are ISO 8601. Progress bars (``add``, ``import``; ``reindex`` for large
memories) go to stderr when it is a terminal; ``--quiet`` turns them off and
``--progress`` shows them anyway.

Exit codes: 0 success; 1 not found (an id, no memory at the path), declined, or the
language model failed; 2 bad usage, invalid input, or the environment refused (a backend
or I/O failure: a full disk, a lock held, a read-only or corrupt file, an unreachable
server; nothing half-written); 130 interrupted (Ctrl-C).
Errors print one line, ``agentmem: error: ...``, on stderr.

Modules: :mod:`~agentmem.cli.parser` (options and help texts), :mod:`~agentmem.cli.app`
(the commands, exit codes), :mod:`~agentmem.cli.batches` (reading ``add`` input),
:mod:`~agentmem.cli.output` (JSON shapes and tables).
"""

from .app import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from .parser import build_parser

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

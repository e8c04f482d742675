"""The ``agentmem`` command: one function per subcommand, opening the memory, progress
bars, and the mapping of errors to exit codes (documented in :mod:`agentmem.cli`; the
parser is in :mod:`agentmem.cli.parser`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO, cast

import sqlalchemy as sa
from tqdm import tqdm

from ..errors import (
    AgentMemError,
    BackendError,
    ConfigError,
    DataError,
    InvalidInput,
    NotFound,
)
from ..inputs import check_id, check_path, check_positive_int, check_text
from ..memory import Memory
from ..storage.database import DB_FILENAME
from ..stores import Decay
from ..transfer import read_jsonl
from ..types import GRANULARITIES, MemoryUnit, Thought
from . import output as out
from .batches import read_batches
from .parser import COMMANDS, DEFAULT_PATH, build_parser

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "UsageError", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1  # not found, declined, the language model failed
EXIT_USAGE = 2  # bad usage, invalid input, or the environment refused (a backend or
# I/O failure: a full disk, a lock held, a read-only or corrupt file); nothing half-written
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad usage the parser cannot see (exit 2)."""


# -- opening the memory -----------------------------------------------------------------


def _location(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(path, url): the options, then the environment, then ./memdata (no default
    folder with a URL). InvalidInput, naming the option or variable, for a value that
    is not valid Unicode text (e.g. an undecodable byte)."""
    url = args.url or os.environ.get("AGENTMEM_URL") or None
    path = args.path or os.environ.get("AGENTMEM_PATH") or (None if url else DEFAULT_PATH)
    if url is not None:
        check_text(url, "--url" if args.url else "$AGENTMEM_URL")
    if path is not None:
        check_path(path, "--path" if args.path else "$AGENTMEM_PATH")
    if args.chroma_host is not None:
        check_text(args.chroma_host, "--chroma-host")
    return path, url


def _is_new(args: argparse.Namespace) -> bool:
    """Whether no memory exists yet where the options point (False when unknown: a
    database URL)."""
    path, url = _location(args)
    return url is None and path is not None and not (Path(path) / DB_FILENAME).is_file()


def _decay(args: argparse.Namespace, force: bool) -> Decay | None:
    """The forgetting curve the --decay* options ask for (or ``force``), else None."""
    given = (args.decay_unit, args.decay_weight, args.decay_threshold)
    if not (force or args.decay or any(v is not None for v in given)):
        return None
    base = Decay()
    return Decay(unit=timedelta(days=args.decay_unit) if args.decay_unit else base.unit,
                 weight=base.weight if args.decay_weight is None else args.decay_weight,
                 threshold=base.threshold if args.decay_threshold is None
                 else args.decay_threshold)


def _open(args: argparse.Namespace, *, create: bool = False, granularity: str | None = None,
          decay: bool = False) -> Memory:
    """The memory the options name; NotFound when there is none and ``create`` is off."""
    path, url = _location(args)
    if not create and _is_new(args):
        raise NotFound(f"no memory at {path!r} (add or import creates one; choose the folder "
                       "with --path or $AGENTMEM_PATH)")
    return Memory(path, url=url, chroma_host=args.chroma_host, chroma_port=args.chroma_port,
                  granularity=granularity or args.granularity, decay=_decay(args, decay))


# -- input, output, progress ------------------------------------------------------------


def _read_text(name: str) -> tuple[str, str]:
    """(text, name for messages) of a file, or of stdin for ``-``."""
    if name == "-":
        return sys.stdin.read(), "<stdin>"
    check_path(name, "file")
    try:
        return Path(name).read_text(encoding="utf-8"), name
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _input_file(name: str) -> Iterator[tuple[Path, str]]:
    """(path, name for messages) of an input file; stdin (``-``) goes to a temporary file."""
    if name != "-":
        if not check_path(name, "file").is_file():
            raise UsageError(f"cannot read {name}: no such file")
        yield Path(name), name
        return
    with tempfile.TemporaryDirectory(prefix="agentmem-") as tmp:
        path = Path(tmp) / "stdin.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            shutil.copyfileobj(sys.stdin, fh)
        yield path, "<stdin>"


def _emit(args: argparse.Namespace, data: object, text: str) -> None:
    """``data`` as JSON with --json, else ``text``, on stdout."""
    if args.json:
        out.write_json(data, sys.stdout)
    else:
        print(text)


class _NotATerminal:
    """stderr as agentmem's internal progress bars see it: not a terminal, so they
    stay off (tqdm's ``disable=None``); everything written still gets through."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _library_bars_off(on: bool = True) -> Iterator[TextIO]:
    """Inside, agentmem's own progress bars stay off (the command draws its own, or
    --quiet); yields the real stderr for the command's bars."""
    real = sys.stderr
    if not on or isinstance(real, _NotATerminal):
        yield real
        return
    with contextlib.redirect_stderr(cast(TextIO, _NotATerminal(real))):
        yield real


def _bar(args: argparse.Namespace, stream: TextIO, *, total: int, desc: str, unit: str
         ) -> tqdm[Any]:
    shown = not args.quiet and (args.progress or stream.isatty())
    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not shown,
                dynamic_ncols=True)


# -- the commands -----------------------------------------------------------------------


def _add(args: argparse.Namespace) -> int:
    text, source = _read_text(args.file)
    batches = read_batches(text, source, user_id=args.user, session_id=args.session,
                           timestamp=args.timestamp)
    results = []
    with _open(args, create=True) as mem, _library_bars_off() as err, _bar(
            args, err, total=sum(len(b.messages) for b in batches), desc="adding",
            unit="msg") as bar:
        for b in batches:
            results.append(mem.add(list(b.messages), user_id=b.user_id,
                                   session_id=b.session_id, timestamp=b.timestamp))
            bar.update(len(b.messages))
    sessions = {(r.user_id, r.session_id) for r in results}
    turns = sum(len(r.turn_ids) for r in results)
    _emit(args, [out.add_json(r) for r in results],
          f"added {turns} messages to {len(sessions)} session(s) of "
          f"{len({u for u, _ in sessions})} user(s)")
    return EXIT_OK


def _search(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        hits = mem.search(args.query, user_id=args.user, k=args.k, mode=args.mode,
                          now=args.now, kinds=args.kind,
                          include_forgotten=args.include_forgotten,
                          session_id=args.session, since=args.since, until=args.until,
                          roles=args.role, metadata=_meta(args.meta),
                          min_score=args.min_score)
    _emit(args, [out.hit_json(h) for h in hits], out.hits_table(hits))
    return EXIT_OK


def _meta(pairs: list[str] | None) -> dict[str, Any] | None:
    """``--meta KEY=VALUE`` options as a metadata filter: a value is read as JSON when
    it parses (``1``, ``true``), else kept as a string; a repeated key takes ``$in``."""
    if not pairs:
        return None
    values: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput("--meta", f"expected KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        values.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else {"$in": v} for k, v in values.items()}


def _lookup(mem: Memory, id: str) -> MemoryUnit | Thought:
    """The unit, else the thought, with this id; NotFound when neither."""
    with contextlib.suppress(NotFound):
        return mem.get(id)
    try:
        return mem.thought(id)
    except NotFound:
        raise NotFound(f"no memory unit or thought with id {id!r}") from None


def _get(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        found = _lookup(mem, args.id)
    if isinstance(found, Thought):
        _emit(args, out.thought_json(found), out.thought_table(found))
    else:
        _emit(args, out.unit_json(found), out.unit_table(found))
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    ids = list(dict.fromkeys(args.ids))
    with _open(args) as mem:
        for i in ids:  # every id is known before the first deletion
            _lookup(mem, i)
        for i in ids:
            with contextlib.suppress(NotFound):  # gone with an earlier one (same turns)
                mem.delete(i)
    _emit(args, {"deleted": ids}, f"deleted {len(ids)} memor{'y' if len(ids) == 1 else 'ies'}")
    return EXIT_OK


def _confirmed(question: str) -> bool:
    """Ask on the terminal; UsageError when there is none to ask on."""
    if not sys.stdin.isatty():
        raise UsageError(f"{question}: pass --yes to confirm")
    sys.stderr.write(f"{question}? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _forget_user(args: argparse.Namespace) -> int:
    if not args.yes and not _confirmed(
            f"forget-user removes every memory of {args.user!r}, in every store"):
        print("agentmem: aborted, nothing removed", file=sys.stderr)
        return EXIT_FAILURE
    with _open(args) as mem:
        removed = mem.forget_user(args.user)
    _emit(args, {"user_id": args.user, "turns_removed": removed},
          f"forgot user {args.user!r}: {removed} turn(s) removed")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        if args.file != "-":
            if not check_path(args.file, "file").resolve().parent.is_dir():
                raise UsageError(f"cannot write {args.file}: no such folder")
            if Path(args.file).is_dir():
                raise UsageError(f"cannot write {args.file}: it is a folder")
            count = mem.export(args.file, user_id=args.user)
            _emit(args, {"path": args.file, "user_id": args.user, "records": count},
                  f"exported {count} records to {args.file}")
            return EXIT_OK
        with tempfile.TemporaryDirectory(prefix="agentmem-") as tmp:
            path = Path(tmp) / "export.jsonl"
            count = mem.export(path, user_id=args.user)
            with path.open(encoding="utf-8") as fh:
                shutil.copyfileobj(fh, sys.stdout)
    if not args.quiet:
        print(f"exported {count} records", file=sys.stderr)
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    with _input_file(args.file) as (path, source):
        try:  # read and validated once, before the memory is opened (or created)
            records = read_jsonl(path)
        except DataError:
            raise
        except InvalidInput as exc:
            raise DataError(source, exc.field, exc.message) from None
        held = records.header.get("granularity")
        if args.granularity and held != args.granularity:
            raise UsageError(f"{source} holds {held!r} units, not --granularity "
                             f"{args.granularity!r}")
        granularity = held if _is_new(args) and held in GRANULARITIES else None
        with _open(args, create=True, granularity=granularity) as mem, \
                _library_bars_off() as err:
            bars: list[tqdm[Any]] = []

            def progress(done: int, total: int) -> None:
                if not bars:
                    bars.append(_bar(args, err, total=total, desc="indexing", unit="unit"))
                bars[0].update(done - bars[0].n)

            try:
                count = mem.import_records(records, progress=progress)
            except InvalidInput as exc:  # e.g. ids already here: nothing was written
                raise DataError(source, exc.field, exc.message) from None
            finally:
                for bar in bars:
                    bar.close()
    _emit(args, {"path": args.file, "records": count},
          f"imported {count} records from {source}")
    return EXIT_OK


def _reindex(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        mem.reindex()
        stats = mem.stats()
    units, thoughts = sum(stats.units.values()), sum(stats.thoughts.values())
    _emit(args, {"units": units, "thoughts": thoughts},
          f"reindexed {units} unit(s) and {thoughts} thought(s)")
    return EXIT_OK


def _maintain(args: argparse.Namespace) -> int:
    with _open(args, decay=True) as mem:
        result = mem.maintain(now=args.now, user_id=args.user)
    text = f"checked {result.checked} unit(s), archived {len(result.archived)}"
    if result.archived:
        text += "\n\n" + out.render_table(
            ["RETENTION", "ID"], [[f"{result.retention[i]:.4f}", i] for i in result.archived])
    _emit(args, out.maintenance_json(result), text)
    return EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    with _open(args) as mem:
        stats = mem.stats()
    _emit(args, out.stats_json(stats), out.stats_table(stats))
    return EXIT_OK


def _needs_serve_extra() -> None:
    """ConfigError naming the extra when the server's packages are missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "mcp") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"serving needs {', '.join(missing)}: pip install "
                          "'agentmem-local[serve]'")


def _serve(args: argparse.Namespace) -> int:
    _needs_serve_extra()
    from ..service.server import load_tokens, serve

    tokens = load_tokens(args.token, args.tokens_file)
    check_positive_int(args.max_body, "--max-body")
    serve(_open(args, create=True), host=args.host, port=args.port, tokens=tokens,
          allow_remote=args.allow_remote, max_body=args.max_body)
    return EXIT_OK


def _mcp(args: argparse.Namespace) -> int:
    _needs_serve_extra()
    from ..service.mcp import mcp_server

    if args.user is not None:
        check_id(args.user, "--user")
    with _open(args, create=True) as mem:
        mcp_server(mem, user_id=args.user).run()
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": _add, "search": _search, "get": _get, "delete": _delete,
    "forget-user": _forget_user, "export": _export, "import": _import,
    "reindex": _reindex, "maintain": _maintain, "stats": _stats, "serve": _serve,
    "mcp": _mcp}
assert set(_COMMANDS) == set(COMMANDS)


# -- entry point ------------------------------------------------------------------------


def _error(message: str) -> None:
    """``agentmem: error: ...`` on stderr, on one line."""
    flat = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"agentmem: error: {flat}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = build_parser().parse_args(argv)
    run = _COMMANDS[args.command]
    try:
        with _library_bars_off(args.quiet):
            return run(args)
    except (InvalidInput, ConfigError, UsageError, BackendError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except AgentMemError as exc:  # NotFound, LLMError, "this Memory is closed"
        _error(str(exc))
        return EXIT_FAILURE
    except sa.exc.SQLAlchemyError as exc:
        _error(f"database: {str(exc).splitlines()[0]}")
        return EXIT_USAGE
    except UnicodeDecodeError as exc:  # an input file or stdin
        _error(f"the input is not UTF-8 text ({exc.reason})")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `agentmem search ... | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        _error(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nagentmem: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

"""Where an export is written: the check of its path, one read snapshot of the
database for all its records, and a file that gets its name only once complete
(written unnamed with Linux's ``O_TMPFILE`` and linked in place, or written to
``<path>.partial`` and renamed). :func:`agentmem.transfer.export_jsonl` uses them."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from .errors import InvalidInput


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _check_export_path(path: Path) -> None:
    """InvalidInput unless ``path`` can name a new file in an existing folder."""
    folder = path.parent
    if path.is_dir():
        raise InvalidInput("path", f"{str(path)!r} is a folder; give a file name in it")
    if not folder.is_dir():
        raise InvalidInput("path", f"the folder {str(folder)!r} does not exist"
                           if not folder.exists() else f"{str(folder)!r} is not a folder")


@contextlib.contextmanager
def _read_snapshot(conn: sa.Connection) -> Iterator[None]:
    """Every read on ``conn`` inside the block sees one snapshot of the database.

    SQLite: an explicit read transaction (pysqlite runs each SELECT in its own
    otherwise; in WAL mode writers go on, unseen). Other databases: one transaction at
    REPEATABLE READ (PostgreSQL takes its snapshot at the first query)."""
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if getattr(dbapi, "in_transaction", False):  # already inside one
            yield
            return
        conn.exec_driver_sql("BEGIN")
    else:
        conn.execution_options(isolation_level="REPEATABLE READ")
    try:
        yield
    finally:
        conn.rollback()  # read only: nothing to keep


def _open_unnamed(folder: Path) -> int | None:
    """A file descriptor of a new file without a name in ``folder`` (Linux O_TMPFILE),
    or None where the system or the file system does not support one."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None
        raise


@contextlib.contextmanager
def _sealed_file(path: Path, partial: Path) -> Iterator[TextIO]:
    """A text file that appears at ``path`` only once the block completes.

    Unnamed (O_TMPFILE) where possible: a kill leaves nothing; else ``partial``,
    renamed at the end. On an error nothing is left (an older ``path`` is kept)."""
    fd = _open_unnamed(path.parent)
    named = fd is None
    if fd is None:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                     | getattr(os, "O_NOFOLLOW", 0), 0o600)  # never through a planted link
    try:
        with open(fd, "w", encoding="utf-8", closefd=False) as fh:
            yield fh
        os.fsync(fd)
        if named:
            os.replace(partial, path)
        else:
            _link_in_place(fd, path, partial)
    except BaseException:
        if named:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _link_in_place(fd: int, path: Path, partial: Path) -> None:
    """Give the unnamed file ``fd`` the name ``path`` (replacing any file there)."""
    source = f"/proc/self/fd/{fd}"
    # a directory fd makes os.link use linkat(AT_SYMLINK_FOLLOW): the file, not the link
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:  # a new name: atomic, and the file never has another name
            os.link(source, path.name, dst_dir_fd=folder)
        except FileExistsError:
            # an existing file: link beside it, then rename over it (a kill in between
            # leaves the complete export as <path>.partial; the next export removes it)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial.name, dir_fd=folder)
            os.link(source, partial.name, dst_dir_fd=folder)
            try:
                os.replace(partial.name, path.name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial.name, dir_fd=folder)
                raise
        os.fsync(folder)  # the new name is durable
    finally:
        os.close(folder)

"""One process per embedded memory folder, enforced by an OS file lock.

Embedded Chroma keeps each folder's index in the memory of the process that opened it:
a second process on the same folder never sees the vectors the first one adds. So the
embedded default belongs to one process. The lock is ``flock(2)`` on the folder itself
(it works on a read-only mount, needs no extra file, and the kernel releases it when the
process dies, however it dies). Memories opened on the same folder inside one process
share the lock (Chroma shares the index inside a process too); a forked child is
another process. Read-only openers (a read-only mount) share the folder with each
other: their lock is shared, never the writer's exclusive one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import BackendError

__all__ = ["FolderLock"]

_HELD: dict[str, tuple[int, int]] = {}  # resolved folder -> (fd, openers in this process)
_GUARD = threading.Lock()


def _forget_in_child() -> None:
    """A forked child shares the parent's lock descriptor but is another process: it
    must lock anew (and be refused while the parent holds the folder)."""
    global _GUARD
    _GUARD = threading.Lock()
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


class FolderLock:
    """An exclusive lock on a memory folder for this process, until :meth:`release`."""

    def __init__(self, path: Path, *, shared: bool = False) -> None:
        self.key = str(Path(path).resolve())
        self._released = False
        with _GUARD:
            held = _HELD.get(self.key)
            if held is not None:
                _HELD[self.key] = (held[0], held[1] + 1)
                return
            fd = _lock(path, self.key, shared=shared)
            _HELD[self.key] = (fd, 1)

    def last(self) -> bool:
        """Whether this is the only open memory on the folder in this process."""
        with _GUARD:
            held = _HELD.get(self.key)
            return not self._released and held is not None and held[1] == 1

    def release(self) -> bool:
        """Give the lock back (once the last memory on the folder in this process
        closes). True when this was the last one: the folder is free."""
        if self._released:
            return False
        self._released = True
        with _GUARD:
            if self.key not in _HELD:  # taken before a fork: the parent's to release
                return False
            fd, count = _HELD[self.key]
            if count > 1:
                _HELD[self.key] = (fd, count - 1)
                return False
            del _HELD[self.key]
            os.close(fd)  # closing the descriptor releases the flock
            return True


def _lock(path: Path, key: str, *, shared: bool) -> int:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no enforcement
        return os.open(os.devnull, os.O_RDONLY)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError as exc:
        raise BackendError(f"cannot open the memory folder {key!r}: {exc}") from exc
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BackendError(
            f"the memory folder {key!r} is open in another process. The embedded "
            "default (SQLite + embedded Chroma under one folder) serves one process: its "
            "Chroma index lives in that process's memory. For several worker processes "
            "use Memory(url='postgresql+psycopg://...', chroma_host=...) (see "
            "docs/architecture.md, deployment modes), or close the other process first."
        ) from None
    except OSError as exc:  # a filesystem without flock: no enforcement, say so
        os.close(fd)
        raise BackendError(f"cannot lock the memory folder {key!r}: {exc}") from exc
    return fd

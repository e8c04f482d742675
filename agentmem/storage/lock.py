"""One process per embedded memory folder, enforced by an OS file lock.

Embedded Chroma keeps each folder's index in the memory of the process that opened it:
a second process on the same folder never sees the vectors the first one adds. So the
embedded default belongs to one process. The lock is ``flock(2)`` on the folder itself
(it works on a read-only mount, needs no extra file, and the kernel releases it when the
process dies, however it dies). Memories opened on the same folder inside one process
share the lock (Chroma shares the index inside a process too).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import BackendError

__all__ = ["FolderLock"]

_HELD: dict[str, tuple[int, int]] = {}  # resolved folder -> (fd, openers in this process)
_GUARD = threading.Lock()


class FolderLock:
    """An exclusive lock on a memory folder for this process, until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.key = str(Path(path).resolve())
        self._released = False
        with _GUARD:
            held = _HELD.get(self.key)
            if held is not None:
                _HELD[self.key] = (held[0], held[1] + 1)
                return
            fd = _lock(path, self.key)
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
            fd, count = _HELD[self.key]
            if count > 1:
                _HELD[self.key] = (fd, count - 1)
                return False
            del _HELD[self.key]
            os.close(fd)  # closing the descriptor releases the flock
            return True


def _lock(path: Path, key: str) -> int:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no enforcement
        return os.open(os.devnull, os.O_RDONLY)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError as exc:
        raise BackendError(f"cannot open the memory folder {key!r}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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

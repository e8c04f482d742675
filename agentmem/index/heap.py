"""Keeping freed memory out of embedded Chroma's files.

Chroma's HNSW index (hnswlib) takes its buffers from ``malloc`` and writes them to
disk whole, unused capacity included (``data_level0.bin``, ``length.bin``). That
capacity holds whatever the process freed there before: freed text from the tokenizer,
the database layer or the application. Seen here: after other threads had freed
buffers holding a marker word, it appeared thousands of times in a new collection's
``data_level0.bin`` (``tests/test_deletion.py``). That breaks the promise that deleted
text leaves no trace on disk, and that Chroma never holds text.

While agentmem calls into an embedded Chroma, :func:`fresh_allocations` turns on
glibc's ``M_PERTURB``: every allocation then starts filled with one constant byte
instead of old contents. It is a process-wide malloc setting. It is on only for the
duration of those calls (nested and concurrent calls are counted) and off otherwise.
On other C libraries (macOS, musl) it does nothing. A Chroma server allocates in its
own process, out of agentmem's reach.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["fresh_allocations"]

_M_PERTURB = -6  # glibc's mallopt parameter number
_FILL = 0x5A     # freed bytes become 0x5A; allocated bytes start as its complement 0xA5


def _load_mallopt() -> Callable[[int, int], int] | None:
    try:  # "glibc 2.36" on glibc; absent or an error elsewhere
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
    except (AttributeError, ValueError, OSError):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt  # type: ignore[no-any-return]


_mallopt = _load_mallopt()
_lock = threading.Lock()
_depth = 0


@contextmanager
def fresh_allocations() -> Iterator[None]:
    """Within the block, new allocations hold no previously freed data (glibc)."""
    global _depth
    if _mallopt is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _mallopt(_M_PERTURB, _FILL)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _mallopt(_M_PERTURB, 0)

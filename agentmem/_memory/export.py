"""``export`` and ``import_`` in the :class:`~agentmem.Memory` facade; the JSONL format
itself is :mod:`agentmem.transfer`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import transfer
from ..errors import InvalidInput
from ..inputs import check_id, check_path

if TYPE_CHECKING:
    from ..memory import Memory


def export(memory: Memory, path: str | Path, *, user_id: str | None = None) -> int:
    """:meth:`Memory.export`."""
    memory._check_open()
    path = check_path(path, "path")
    if user_id is not None:
        user_id = check_id(user_id, "user_id")
    with memory.db.connect() as conn:
        return transfer.export_jsonl(conn, path, user_id=user_id,
                                     granularity=memory.store.granularity,
                                     embedder=memory.embedder.name)


def import_(memory: Memory, path: str | Path, *,
            progress: Callable[[int, int], None] | None = None) -> int:
    """:meth:`Memory.import_`."""
    memory._check_open()
    return import_records(memory, transfer.read_jsonl(check_path(path, "path")),
                          progress=progress)


def import_records(memory: Memory, records: transfer._Records, *,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """:meth:`Memory.import_` of records :func:`agentmem.transfer.read_jsonl` has read
    (and validated)."""
    memory._check_open()
    if records.header.get("granularity") != memory.store.granularity:
        raise InvalidInput(
            "granularity",
            f"the file holds {records.header.get('granularity')!r} units; this memory "
            f"uses {memory.store.granularity!r}: import into a Memory created with "
            f"granularity={records.header.get('granularity')!r}",
        )
    # the imported thoughts' buckets, before the transaction that writes them
    buckets = memory.thought_store.buckets_for([t["text"] for t in records.thoughts])
    with memory._lock, memory.thought_store.lock:
        with memory.db.begin() as conn:
            count = transfer.import_records(conn, records, insert_units=memory._insert_units,
                                            thought_buckets=buckets)
        memory.thought_store.evict({t["user_id"] for t in records.thoughts})
        memory._sync_index(progress=progress)
    return count

"""``export`` and ``import_`` through the engine; the JSONL format itself is
:mod:`agentmem.transfer`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from .. import transfer
from ..errors import InvalidInput
from . import indexing
from .engine import Engine, WriteTx

__all__ = ["export", "import_records"]


class ThoughtHost(Protocol):
    """What an import needs of the thoughts' strategy (their buckets, their index)."""

    def buckets_for(self, texts: list[str]) -> list[list[int]]:
        """LSH bucket ids of these texts."""
        ...

    def evict(self, user_ids: set[str]) -> None:
        """Drop these users' in-memory thought indexes."""
        ...


class Exports(Protocol):
    """A strategy, as export and import see it."""

    name: str

    def export(self, conn: Any, user_id: str | None) -> Iterable[dict[str, Any]]:
        """Its own records."""
        ...

    def guard(self) -> Any:
        """The lock held around the import."""
        ...

    def import_(self, tx: WriteTx, records: Sequence[dict[str, Any]]) -> None:
        """Its own records back."""
        ...


def export(engine: Engine, strategies: Sequence[Exports], path: Path, *,
           user_id: str | None, granularity: str) -> int:
    """:meth:`Memory.export`: the core records, then each strategy's own."""
    def extra(conn: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        for s in strategies:
            for record in s.export(conn, user_id):
                yield s.name, record

    with engine.db.connect() as conn:
        return transfer.export_jsonl(conn, path, user_id=user_id, granularity=granularity,
                                     embedder=engine.embedder.name, extra=extra)


def import_records(engine: Engine, granularity: str, thoughts: ThoughtHost,
                   strategies: Sequence[Exports], records: transfer.Records, *,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """:meth:`Memory.import_` of records :func:`agentmem.transfer.read_jsonl` has read
    (and validated): one transaction (the core records, then each strategy's own),
    then the index work."""
    if records.header.get("granularity") != granularity:
        raise InvalidInput(
            "granularity",
            f"the file holds {records.header.get('granularity')!r} units; this memory "
            f"uses {granularity!r}: import into a Memory created with "
            f"granularity={records.header.get('granularity')!r}",
        )
    by_name = {s.name: s for s in strategies}
    extra: dict[str, list[dict[str, Any]]] = {}
    for name, record in records.extra:
        if name not in by_name:
            raise InvalidInput("strategy", f"the file holds records of the {name!r} "
                                           "strategy, which this memory does not have: "
                                           "open it with that strategy to import them")
        extra.setdefault(name, []).append(record)
    # the imported thoughts' buckets, before the transaction that writes them
    buckets = thoughts.buckets_for([t["text"] for t in records.thoughts])
    with engine.write(sync=False, hold=[s.guard() for s in strategies]) as tx:
        count = transfer.import_records(
            tx.conn, records, insert_units=lambda conn, user, session, store, drafts:
            indexing.insert_units(engine, conn, user, session, store, drafts),
            thought_buckets=buckets)
        for name, own in extra.items():
            by_name[name].import_(tx, own)
        tx.on_commit(lambda: thoughts.evict({t["user_id"] for t in records.thoughts}))
        tx.on_commit(lambda: engine.sync(progress=progress))
    return count

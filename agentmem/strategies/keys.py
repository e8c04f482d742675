"""Fact-augmented key expansion (LongMemEval) as a strategy: after each write, the LLM
extracts facts / keyphrases / a summary from the new units (outside the write lock),
and the units are indexed under that text merged with (or replacing) their own, or
get key rows or fact units of their own."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from .._core.engine import Engine, WriteTx
from .._core.indexing import dated_events
from ..embed import content_hash
from ..errors import InvalidInput
from ..storage import repository as repo
from ..storage.schema import units
from ..stores.base import UnitDraft
from ..stores.episodic import EpisodicStore
from ..stores.expansion import KeyExpander, KeyExpansion
from ..temporal import find_time_ranges
from .base import AfterWrite, Strategy, WriteBatch

__all__ = ["Keys"]

log = logging.getLogger("agentmem")


class Keys(Strategy):
    """Key expansion with ``config`` (:class:`~agentmem.stores.KeyExpansion`); needs
    the memory's LLM. A failed extraction leaves the unit indexed by its text."""

    name = "keys"
    label = "key expansion"
    requires_llm = "keys: fact-augmented key expansion needs an LLM (llm=...)"
    rewrites_keys = True
    expander: KeyExpander

    def __init__(self, config: KeyExpansion) -> None:
        if not isinstance(config, KeyExpansion):
            raise InvalidInput("keys", "must be a KeyExpansion (or None)")
        self.config = config

    def open(self, engine: Engine) -> None:
        """The expander (its cache of expansions is in SQL)."""
        super().open(engine)
        assert engine.llm is not None
        self.expander = KeyExpander(engine.llm, engine.db, max_tokens=self.config.max_tokens)

    def on_write(self, tx: WriteTx, batch: WriteBatch) -> AfterWrite | None:
        """After the commit: expand the units this write derived (those the strategies
        before this one inserted: the episodic units)."""
        drafts = list(tx.added)
        return lambda: self.expand(batch.user_id, batch.session_id, drafts)

    def expand(self, user_id: str, session_id: str, drafts: Sequence[UnitDraft]) -> None:
        """Fact-augmented keys for new units: the LLM runs outside the write lock; the
        keys are then stored (or, in ``separate`` mode, added as key rows), indexed
        lexically, and embedded by the index sync. A unit replaced meanwhile (a round
        completed by a later add) is skipped."""
        try:
            found = self.expander.expand([(d.text, content_hash(d.text), d.timestamp)
                                          for d in drafts])
        except Exception as exc:  # a broken LLM never aborts an ingestion
            log.warning("key expansion failed for %d units (indexed without it): %r",
                        len(drafts), exc)
            self.expander.failures += len(drafts)
            found = [None] * len(drafts)
        keyed = {d.id: key for d, e in zip(drafts, found, strict=True)
                 if (key := self.config.key(d.key or d.text, e)) is not None}
        if not keyed:
            self.engine.sync()
            return
        with self.engine.write() as tx:
            alive = set(tx.conn.execute(sa.select(units.c.id).where(
                units.c.id.in_(list(keyed)))).scalars())
            keyed = {i: k for i, k in keyed.items() if i in alive}
            if self.config.mode in ("merge", "replace"):
                set_keys(tx, keyed)
            else:  # separate: one key row per unit; values: one unit per fact
                kind = "key" if self.config.mode == "separate" else "fact"
                tx.insert_units(user_id, session_id, EpisodicStore.name, [
                    UnitDraft(id=uuid.uuid4().hex, kind=kind, text=text,
                              timestamp=d.timestamp, position=d.position,
                              turns=d.turns, parent_id=d.id)
                    for d in drafts if d.id in keyed
                    for text in (keyed[d.id].split("\n") if kind == "fact"
                                 else [keyed[d.id]])])

    def stats(self, conn: Any) -> dict[str, int]:
        """``llm_failures``: units whose extraction failed."""
        return {"llm_failures": self.expander.failures}


def set_keys(tx: WriteTx, keyed: dict[str, str]) -> None:
    """Store expanded keys, re-index them lexically, queue them for embedding, and
    add the dates the keys mention (an extracted fact may spell out a date) to the
    units' events."""
    conn, lexical = tx.conn, tx.engine.lexical
    rows = conn.execute(sa.select(units.c.id, units.c.user_id, units.c.lex_rowid,
                                  units.c.text, units.c.timestamp)
                        .where(units.c.id.in_(list(keyed)))).all()
    for r in rows:
        known = {(e.start, e.end) for e in find_time_ranges(r.text, r.timestamp)}
        repo.insert_unit_events(conn, r.user_id, [
            (r.id, e) for e in dated_events(keyed[r.id], None, r.timestamp)
            if (e.start, e.end) not in known])
    rowids: list[int | None] = [None] * len(rows)
    if lexical:
        lexical.delete(conn, [r.lex_rowid for r in rows if r.lex_rowid is not None])
        rowids = list(lexical.add(conn, [(r.user_id, keyed[r.id]) for r in rows]))
    for r, rowid in zip(rows, rowids, strict=True):
        conn.execute(sa.update(units).where(units.c.id == r.id).values(
            key=keyed[r.id], key_hash=content_hash(keyed[r.id]), lex_rowid=rowid,
            dense_pending=True))

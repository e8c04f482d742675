"""Episodic memory (LongMemEval's value designs) as a strategy: the turns written are
grouped into units (``turn``, ``round`` or ``session``), each indexed under its text
and the turns before it; a deletion rebuilds the keys that held deleted turns as
context."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from .._core.engine import Engine, WriteTx
from ..embed import content_hash
from ..embed.cache import PARTS
from ..errors import InvalidInput
from ..storage import repository as repo
from ..storage.schema import turns, unit_turns, units
from ..stores.episodic import CONTEXT_VECTORS, EpisodicStore, render_context, render_turns
from ..types import GRANULARITIES, Turn
from .base import AfterWrite, DeleteScope, Strategy, WriteBatch

__all__ = ["DEFAULT_CONTEXT_TURNS", "DEFAULT_CONTEXT_VECTORS", "Episodic"]

DEFAULT_CONTEXT_TURNS = 2
#: a new memory's keys: text and context embedded apart and composed (docs/retrieval.md)
DEFAULT_CONTEXT_VECTORS = "composed"


class Episodic(Strategy):
    """Units from turns. ``granularity`` (``"turn"``, ``"round"``: default,
    ``"session"``) and ``context_turns`` (default 2) are fixed when the memory is
    created; None takes the stored value (or the default for a new memory)."""

    name = "episodic"
    store: EpisodicStore

    def __init__(self, granularity: str | None = None, context_turns: int | None = None,
                 context_vectors: str | None = None) -> None:
        if granularity is not None and granularity not in GRANULARITIES:
            raise InvalidInput(
                "granularity", f"must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
            )
        if context_turns is not None and (isinstance(context_turns, bool) or not isinstance(
                context_turns, int) or context_turns < 0):
            raise InvalidInput("context_turns", f"must be an int >= 0, got {context_turns!r}")
        if context_vectors is not None and context_vectors not in CONTEXT_VECTORS:
            raise InvalidInput("context_vectors", f"must be one of "
                               f"{', '.join(CONTEXT_VECTORS)}, got {context_vectors!r}")
        self._wanted = (granularity, context_turns, context_vectors)

    @property
    def granularity(self) -> str:
        """The unit the memory indexes (``turn``, ``round`` or ``session``)."""
        return self.store.granularity

    def open(self, engine: Engine) -> None:
        """Settle the granularity, context turns and context vectors (a memory made
        before context turns existed keeps indexing without them, one made before
        composed keys keeps concatenating)."""
        super().open(engine)
        made = engine.db.get_meta("granularity") is not None
        granularity, context_turns, context_vectors = self._wanted
        self.store = EpisodicStore(
            engine.settle("granularity", granularity, "round"),
            context_turns=int(engine.settle(
                "context_turns", None if context_turns is None else str(context_turns),
                "0" if made and engine.db.get_meta("context_turns") is None
                else str(DEFAULT_CONTEXT_TURNS))),
            context_vectors=engine.settle(
                "context_vectors", context_vectors,
                "concatenated" if made and engine.db.get_meta("context_vectors") is None
                else DEFAULT_CONTEXT_VECTORS))

    def on_write(self, tx: WriteTx, batch: WriteBatch) -> AfterWrite | None:
        """Derive the new units (an open round is re-derived with its reply)."""
        tail = repo.session_tail(tx.conn, batch.user_id, batch.session_id, self.store.name,
                                 self.store.tail_size())
        derivation = self.store.derive(tail, batch.turns)
        tx.replace_units(batch.user_id, batch.session_id, self.store.name,
                         derivation.new_units, derivation.replaced_unit_ids)
        return None

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """Rebuild the keys of the units that held deleted turns as context."""
        if scope.whole_user:
            return ()
        return rekey_neighbours(tx, self.store, scope.turn_ids, set(scope.unit_ids))


def rekey_neighbours(tx: WriteTx, store: EpisodicStore, turn_ids: Sequence[str],
                     dropped: set[str]) -> list[str]:
    """The units that follow deleted turns were indexed with those turns as context
    (``context_turns``): their keys are rebuilt from the turns that remain, so no
    deleted text stays in their key, lexical row or vector. Returns the replaced keys'
    hashes (the caller erases those nothing uses any more)."""
    window = store.context_turns
    if not window or not turn_ids:
        return []
    conn, lexical = tx.conn, tx.engine.lexical
    doomed = set(turn_ids)
    sessions_hit = {(r.user_id, r.session_id) for r in conn.execute(
        sa.select(turns.c.user_id, turns.c.session_id).where(turns.c.id.in_(list(doomed))))}
    old_hashes: list[str] = []
    for user_id, session_id in sessions_hit:
        ordered = repo.user_turns(conn, user_id, session_id=session_id)
        place = {t.id: i for i, t in enumerate(ordered)}
        kept = [t for t in ordered if t.id not in doomed]
        kept_place = {t.id: i for i, t in enumerate(kept)}
        rows = conn.execute(
            sa.select(units.c.id, units.c.text, units.c.key, units.c.key_hash,
                      units.c.lex_rowid, units.c.user_id)
            .where(units.c.user_id == user_id, units.c.session_id == session_id,
                   units.c.store == store.name, units.c.parent_id.is_(None),
                   units.c.key.is_not(None))).all()
        firsts = repo.load_turns(conn, [r.id for r in rows if r.id not in dropped])
        for r in rows:
            first = min(firsts.get(r.id, []), key=lambda t: t.position, default=None)
            if first is None or first.id not in kept_place:
                continue
            before = ordered[max(0, place[first.id] - window):place[first.id]]
            if not doomed & {t.id for t in before}:
                continue
            # the context key, alone or after an LLM expansion of the unit's own text
            # (key merging: "<expansion>\n<text><separator><context>"), compared with
            # its separators read as newlines (the same length); a turn rendered before
            # record separators were spaced out may hold one raw: both are recognised
            raw = "\n".join(f"{t.name or t.role}: {t.content}" for t in before)
            flat = r.key.replace(PARTS, "\n")
            olds = {f"{r.text}\n{ctx}".replace(PARTS, "\n")
                    for ctx in (render_turns(before), raw)}
            if not any(flat == o or flat.endswith("\n" + o) for o in olds):
                continue  # an expansion that replaced the key: no context in it
            old = next(iter(olds))  # the same length either way
            now = kept[max(0, kept_place[first.id] - window):kept_place[first.id]]
            context = render_context(_by_unit(conn, now, store.name), window,
                                     store.separator)
            fresh = f"{r.text}{store.separator}{context}" if now else r.text
            key = r.key[: len(r.key) - len(old)] + fresh
            key = None if key == r.text else key
            rowid: int | None = None
            if lexical:
                if r.lex_rowid is not None:
                    lexical.delete(conn, [r.lex_rowid])
                [rowid] = lexical.add(conn, [(r.user_id, key or r.text)])
            conn.execute(sa.update(units).where(units.c.id == r.id).values(
                key=key, key_hash=content_hash(key) if key else None, lex_rowid=rowid,
                dense_pending=True, index_error=None))
            if r.key_hash:
                old_hashes.append(r.key_hash)
    return old_hashes


def _by_unit(conn: sa.Connection, ordered: Sequence[Turn], store: str
             ) -> list[list[Turn]]:
    """Consecutive ``ordered`` turns grouped by the ``store``'s unit (not a derived
    row) holding them: a composed key's context has one part per unit."""
    owner: dict[str, str] = {}
    ids = [t.id for t in ordered]
    for i in range(0, len(ids), 500):
        owner.update((r.turn_id, r.unit_id) for r in conn.execute(
            sa.select(unit_turns.c.turn_id, unit_turns.c.unit_id)
            .join(units, units.c.id == unit_turns.c.unit_id)
            .where(unit_turns.c.turn_id.in_(ids[i : i + 500]), units.c.store == store,
                   units.c.parent_id.is_(None))))
    groups: list[list[Turn]] = []
    last: str | None = None
    for t in ordered:
        unit = owner.get(t.id, t.id)
        if groups and unit == last:
            groups[-1].append(t)
        else:
            groups.append([t])
        last = unit
    return groups

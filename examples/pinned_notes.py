"""A memory strategy in one file: pinned notes that always rank first for their user.

    HF_HUB_OFFLINE=1 .venv/bin/python examples/pinned_notes.py

The strategy keeps its notes in a table of its own (created on open), recalls a user's
notes for every search, puts them first with a ranking stage, erases them with
``forget_user``, carries them in ``export`` / ``import_`` and counts them in
``stats()``. It plugs in with one line::

    mem = Memory(path, strategies=[PinnedNotes()])

and is reached again with ``mem.strategy(PinnedNotes)``. ``docs/strategies.md`` walks
through it; ``tests/test_pinned_notes.py`` tests it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from agentmem import Hit, InvalidInput, Memory
from agentmem.ext import (
    Candidates,
    DeleteScope,
    Engine,
    RecallQuery,
    Stage,
    Strategy,
    TimeRange,
    WriteTx,
    check_id,
    check_text,
    parse_timestamp,
    utcnow,
)

_meta = sa.MetaData()
notes = sa.Table(
    "pinned_notes", _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


class PinFirst:
    """Ranking stage: the pinned notes recalled for the query come first, newest first,
    scored above every other candidate; the rest keep their order."""

    name = "pin_first"
    position = 95  # after the built-in stages (time-aware moves are at 80)

    def __init__(self, source: str) -> None:
        self.source = source

    def run(self, c: Candidates) -> list[tuple[str, float]]:
        found = c.recalled.get(self.source)
        if found is None:
            return c.order
        top = max((s for _, s in c.order), default=0.0)
        pinned = [(i, top + 1.0 + s) for i, s in found.scores.items()]
        return pinned + [(i, s) for i, s in c.order if i not in found.scores]


class PinnedNotes(Strategy):
    """Notes a user (or the application) pins: always the first hits of that user's
    searches, in every mode, unless ``kinds`` leaves out ``"pinned"``."""

    name = "pinned"

    def open(self, engine: Engine) -> None:
        super().open(engine)
        if not engine.read_only:  # in a write: one process creates it, the others wait
            with engine.write(sync=False) as tx:
                _meta.create_all(tx.conn)

    def pin(self, user_id: str, text: str) -> str:
        """Pin ``text`` for ``user_id``; returns the note's id."""
        user_id = check_id(user_id, "user_id")
        note = uuid.uuid4().hex
        with self.engine.write() as tx:
            tx.conn.execute(sa.insert(notes).values(
                id=note, user_id=user_id, text=check_text(text, "text"),
                created_at=utcnow()))
        return note

    def unpin(self, note_id: str) -> bool:
        """Remove a note; False when there was none."""
        with self.engine.write(scrub=True) as tx:
            gone = tx.conn.execute(sa.delete(notes).where(notes.c.id == note_id)).rowcount
        return bool(gone)

    # -- search: recall, a stage, hits ------------------------------------------------

    def recall(self, query: RecallQuery, vector: Any) -> Mapping[str, float]:
        if query.kinds is not None and "pinned" not in query.kinds:
            return {}
        with self.engine.db.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.created_at)
                                .where(notes.c.user_id == query.user_id)
                                .order_by(notes.c.created_at.desc())).all()
        # newest first: a score that falls with age (the stage adds the offset)
        return {r.id: 1.0 / (n + 1) for n, r in enumerate(rows)}

    def stages(self) -> Sequence[Stage]:
        return (PinFirst(self.name),)

    def in_period(self, conn: Any, ids: Sequence[str], period: TimeRange) -> set[str]:
        return set()  # notes are timeless: the time-aware stage leaves them alone

    def load_hits(self, conn: Any, scored: Sequence[tuple[str, float]], user_id: str,
                  raw: Mapping[str, float]) -> dict[str, Hit]:
        rows = {r.id: r for r in conn.execute(sa.select(notes).where(
            notes.c.id.in_([i for i, _ in scored]), notes.c.user_id == user_id))}
        return {i: Hit(id=i, kind="pinned", user_id=user_id, session_id="",
                       text=rows[i].text, timestamp=rows[i].created_at, score=s,
                       store=self.name, scores={self.name: raw[i]})
                for i, s in scored if i in rows}

    # -- deletion and stats -----------------------------------------------------------

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        if scope.whole_user:
            tx.conn.execute(sa.delete(notes).where(notes.c.user_id == scope.user_id))
        return ()

    def delete_own(self, tx: WriteTx, id: str) -> Sequence[str] | None:
        done = tx.conn.execute(sa.delete(notes).where(notes.c.id == id)).rowcount
        return () if done else None

    # -- export / import --------------------------------------------------------------

    def export(self, conn: Any, user_id: str | None) -> Iterable[dict[str, Any]]:
        q = sa.select(notes).order_by(notes.c.created_at, notes.c.id)
        for r in conn.execute(q if user_id is None else q.where(notes.c.user_id == user_id)):
            yield {"id": r.id, "user_id": r.user_id, "text": r.text,
                   "created_at": r.created_at.isoformat()}

    def import_(self, tx: WriteTx, records: Sequence[dict[str, Any]]) -> None:
        rows = []
        for n, r in enumerate(records):
            if not all(isinstance(r.get(k), str) for k in ("id", "user_id", "text",
                                                           "created_at")):
                raise InvalidInput(f"pinned[{n}]", "needs string id, user_id, text and "
                                                   "created_at")
            rows.append({**r, "created_at": parse_timestamp(r["created_at"],
                                                             field=f"pinned[{n}].created_at")})
        if rows:
            tx.conn.execute(sa.insert(notes), rows)

    def stats(self, conn: Any) -> dict[str, int]:
        return {"notes": int(conn.execute(sa.select(sa.func.count())
                                          .select_from(notes)).scalar_one())}


def main() -> None:
    with Memory(strategies=[PinnedNotes()]) as mem:          # the one line
        mem.add([{"role": "user", "content": "I moved to Lisbon last spring."},
                 {"role": "assistant", "content": "Lisbon is lovely."}],
                user_id="alice", session_id="s1", timestamp="2024-04-02T10:00:00")
        mem.strategy(PinnedNotes).pin("alice", "Alice is allergic to peanuts.")
        for hit in mem.search("Where does Alice live?", user_id="alice", k=3):
            print(f"{hit.kind:8} {hit.score:6.3f}  {hit.text}")
        print(mem.stats().strategies["pinned"])


if __name__ == "__main__":
    main()

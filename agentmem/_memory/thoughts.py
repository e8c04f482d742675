"""Think-in-Memory in the :class:`~agentmem.Memory` facade: post-thinking after an
add, thoughts added directly, listed and audited, and thought hits for search."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import InvalidInput, NotFound
from ..inputs import check_id
from ..storage import repository as repo
from ..storage.schema import units
from ..stores import Exchange, ThoughtChange, ThoughtDraft, ThoughtStore
from ..stores.thoughts import check_draft
from ..temporal import parse_timestamp, utcnow
from ..types import THOUGHT_STATUSES, Hit, MemoryEvent, Thought, Turn

if TYPE_CHECKING:
    from ..memory import Memory

log = logging.getLogger("agentmem")


def exchanges(previous: Turn | None, new_turns: Sequence[Turn]) -> list[Exchange]:
    """Question/response pairs completed by ``new_turns``: each non-user turn right
    after a user turn (``previous`` is the session's turn before the new ones)."""
    out: list[Exchange] = []
    before = previous
    for t in new_turns:
        if before is not None and before.role == "user" and t.role != "user":
            out.append(Exchange(turns=(before, t)))
        before = t
    return out


def post_think(memory: Memory, user_id: str, exchanges: Sequence[Exchange]) -> None:
    """TiM's post-thinking: thoughts from each new question/response pair (one LLM
    batch, outside the write lock), inserted with their provenance. Turns deleted
    meanwhile are left out of the provenance; an exchange whose turns are all gone
    adds nothing."""
    thinker = memory.thought_store.thinker
    if not exchanges or thinker is None:
        return
    try:
        drafts = [d for found in thinker.think(exchanges) for d in found]
    except Exception as exc:  # a broken LLM never aborts an ingestion
        log.warning("post-thinking failed for %d exchanges (skipped): %r",
                    len(exchanges), exc)
        thinker.count_failures(len(exchanges))
        return
    if not drafts:
        return
    with memory._lock:
        with memory.db.connect() as conn:
            alive = repo.existing_turn_ids(
                conn, user_id, sorted({t for d in drafts for t in d.source_turn_ids}))
        drafts = [replace(d, source_turn_ids=tuple(t for t in d.source_turn_ids
                                                   if t in alive))
                  for d in drafts if alive.intersection(d.source_turn_ids)]
        memory.thought_store.add(user_id, drafts, utcnow())


def add_thoughts(memory: Memory, thoughts: Sequence[ThoughtDraft | dict[str, Any]], *,
                 user_id: str, timestamp: str | datetime | None = None
                 ) -> list[ThoughtChange]:
    """:meth:`Memory.add_thoughts`."""
    memory._check_open()
    user_id = check_id(user_id, "user_id")
    if isinstance(thoughts, (str, dict)) or not isinstance(thoughts, Sequence):
        raise InvalidInput("thoughts", "must be a list of thoughts")
    when = utcnow() if timestamp is None else parse_timestamp(timestamp)
    drafts = [check_draft(t, f"thoughts[{i}]", when) for i, t in enumerate(thoughts)]
    wanted = sorted({t for d in drafts for t in d.source_turn_ids})
    with memory._lock:
        if wanted:
            with memory.db.connect() as conn:
                missing = set(wanted) - repo.existing_turn_ids(conn, user_id, wanted)
            if missing:
                i = next(i for i, d in enumerate(drafts)
                         if missing.intersection(d.source_turn_ids))
                raise InvalidInput(f"thoughts[{i}].source_turn_ids",
                                   f"no turn {sorted(missing)[0]!r} of user {user_id!r}")
        return memory.thought_store.add(user_id, drafts, utcnow())


def thoughts(memory: Memory, user_id: str, *, status: str | Sequence[str] = "active"
             ) -> list[Thought]:
    """:meth:`Memory.thoughts`."""
    memory._check_open()
    user_id = check_id(user_id, "user_id")
    wanted = (status,) if isinstance(status, str) else tuple(status)
    if not wanted or any(s not in THOUGHT_STATUSES for s in wanted):
        raise InvalidInput("status", f"must be among {', '.join(THOUGHT_STATUSES)}, "
                                     f"got {status!r}")
    return memory.thought_store.listing(user_id, wanted)


def thought(memory: Memory, id: str) -> Thought:
    """:meth:`Memory.thought`."""
    memory._check_open()
    id = check_id(id, "id")
    with memory.db.connect() as conn:
        found = ThoughtStore.load(conn, [id])
    if id not in found:
        raise NotFound(f"no thought with id {id!r}")
    return found[id]


def history(memory: Memory, id: str) -> list[MemoryEvent]:
    """:meth:`Memory.history`."""
    memory._check_open()
    id = check_id(id, "id")
    with memory.db.connect() as conn:
        if not ThoughtStore.load(conn, [id]) and conn.execute(
                sa.select(units.c.id).where(units.c.id == id)).first() is None:
            raise NotFound(f"no thought or memory unit with id {id!r}")
        return ThoughtStore.history(conn, id)


def thought_hits(conn: sa.Connection, head: Sequence[tuple[str, float]],
                 user_id: str, cosines: dict[str, float]) -> dict[str, Hit]:
    """Hits for active thoughts (of kind ``thought``), with their provenance turns."""
    if not head:
        return {}
    found = ThoughtStore.load(conn, [i for i, _ in head], user_id=user_id)
    wanted = sorted({t for th in found.values() for t in th.source_turn_ids})
    by_id = {t.id: t for t in repo.load_turns_by_id(conn, wanted)} if wanted else {}
    out: dict[str, Hit] = {}
    for tid, score in head:
        th = found.get(tid)
        if th is None or th.status != "active":
            continue
        src = sorted((by_id[t] for t in th.source_turn_ids if t in by_id),
                     key=lambda t: (t.timestamp, t.session_id, t.position))
        out[tid] = Hit(id=th.id, kind="thought", user_id=th.user_id,
                       session_id=th.session_id or (src[0].session_id if src else ""),
                       text=th.text, timestamp=th.timestamp, score=float(score),
                       store=ThoughtStore.name, turns=tuple(src),
                       scores={"dense": cosines[tid]})
    return out

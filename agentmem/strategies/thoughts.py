"""Think-in-Memory as a strategy: thoughts (relation triples) in LSH buckets, written
by post-thinking after each exchange (with an LLM) or added directly, recalled with
the query's vector and fused with the units' ranking by reciprocal rank; deleted with
the turns they came from."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from .._core.engine import Engine, WriteTx
from ..errors import ConfigError, InvalidInput, NotFound
from ..inputs import check_id
from ..ranking import FuseRecalled, RecallQuery, Stage
from ..storage import repository as repo
from ..storage.schema import thoughts, units
from ..stores.thinking import Exchange, Thinker, ThoughtDraft
from ..stores.thoughts import ThoughtChange, ThoughtConfig, ThoughtStore, check_draft
from ..temporal import parse_timestamp, utcnow
from ..types import THOUGHT_STATUSES, Hit, MemoryEvent, Thought, TimeRange, Turn
from .base import AfterWrite, DeleteScope, Strategy, WriteBatch

__all__ = ["Thoughts", "exchanges"]

log = logging.getLogger("agentmem")


def _lsh_meta(config: ThoughtConfig) -> str:
    return json.dumps({"buckets": config.buckets, "tables": config.tables,
                       "seed": config.seed}, sort_keys=True)


def _weight(value: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value < float("inf"):
        raise InvalidInput(field, f"must be a number >= 0, got {value!r}")
    return float(value)


class Thoughts(Strategy):
    """TiM's thought store with ``config`` (:class:`~agentmem.stores.ThoughtConfig`;
    None: the defaults, no post-thinking) and the ``weight`` of its ranking in the
    reciprocal-rank fusion with the units'."""

    name = "thoughts"
    label = "post-thinking"
    store: ThoughtStore

    def __init__(self, config: ThoughtConfig | None = None, *, weight: float = 1.0) -> None:
        self.weight = _weight(weight, "thought_weight")
        if config is not None and not isinstance(config, ThoughtConfig):
            raise InvalidInput("thoughts", "must be a ThoughtConfig (or None)")
        self.config = config
        self.post_think = False

    def open(self, engine: Engine) -> None:
        """Settle the LSH parameters; re-hash the thoughts should the projections
        drawn from the stored seed have changed."""
        super().open(engine)
        config = self.config or ThoughtConfig()
        self.post_think = bool(self.config is not None and config.post_think and engine.llm)
        stored_lsh = engine.db.get_meta("thought_lsh")
        if self.config is not None and stored_lsh not in (None, _lsh_meta(config)):
            raise ConfigError(
                "thoughts: this memory's thought buckets were made with "
                + ", ".join(f"{k}={v}" for k, v in json.loads(stored_lsh).items())
                + "; open it with those (or without ThoughtConfig's LSH fields set "
                  "otherwise), or export it and import into a new memory")
        lsh = json.loads(engine.settle("thought_lsh", None, _lsh_meta(config)))
        config = replace(config, **lsh)
        self.store = ThoughtStore(
            engine.db, engine.embedder, config,
            Thinker(engine.llm, max_tokens=config.max_tokens) if engine.llm else None)
        digest = self.store.hasher.digest()
        if engine.db.get_meta("thought_projections") not in (None, digest) and \
                not engine.read_only:
            log.warning("the thought LSH projections changed: re-hashing thoughts")
            self.store.rebuild()
        engine.db.set_meta("thought_projections", digest)

    # -- writing ----------------------------------------------------------------------

    def on_write(self, tx: WriteTx, batch: WriteBatch) -> AfterWrite | None:
        """With post-thinking: the new question/response pairs, thought about after
        the commit."""
        if not self.post_think:
            return None
        pos = batch.turns[0].position
        previous = repo.turn_at(tx.conn, batch.user_id, batch.session_id, pos - 1) \
            if pos else None
        pairs = exchanges(previous, batch.turns)
        return lambda: self.think(batch.user_id, pairs)

    def think(self, user_id: str, pairs: Sequence[Exchange]) -> None:
        """TiM's post-thinking: thoughts from each new question/response pair (one LLM
        batch, outside the write lock), inserted with their provenance. Turns deleted
        meanwhile are left out of the provenance; an exchange whose turns are all gone
        adds nothing."""
        thinker = self.store.thinker
        if not pairs or thinker is None:
            return
        try:
            drafts = [d for found in thinker.think(pairs) for d in found]
        except Exception as exc:  # a broken LLM never aborts an ingestion
            log.warning("post-thinking failed for %d exchanges (skipped): %r",
                        len(pairs), exc)
            thinker.count_failures(len(pairs))
            return
        if not drafts:
            return
        with self.engine.lock:
            with self.engine.db.connect() as conn:
                alive = repo.existing_turn_ids(
                    conn, user_id, sorted({t for d in drafts for t in d.source_turn_ids}))
            drafts = [replace(d, source_turn_ids=tuple(t for t in d.source_turn_ids
                                                       if t in alive))
                      for d in drafts if alive.intersection(d.source_turn_ids)]
            self.store.add(user_id, drafts, utcnow())

    def add(self, items: Sequence[ThoughtDraft | dict[str, Any]], *, user_id: str,
            timestamp: str | datetime | None = None) -> list[ThoughtChange]:
        """:meth:`Memory.add_thoughts`."""
        self.engine.check_open()
        user_id = check_id(user_id, "user_id")
        if isinstance(items, (str, dict)) or not isinstance(items, Sequence):
            raise InvalidInput("thoughts", "must be a list of thoughts")
        when = utcnow() if timestamp is None else parse_timestamp(timestamp)
        drafts = [check_draft(t, f"thoughts[{i}]", when) for i, t in enumerate(items)]
        wanted = sorted({t for d in drafts for t in d.source_turn_ids})
        with self.engine.lock:
            if wanted:
                with self.engine.db.connect() as conn:
                    missing = set(wanted) - repo.existing_turn_ids(conn, user_id, wanted)
                if missing:
                    i = next(i for i, d in enumerate(drafts)
                             if missing.intersection(d.source_turn_ids))
                    raise InvalidInput(f"thoughts[{i}].source_turn_ids",
                                       f"no turn {sorted(missing)[0]!r} of user {user_id!r}")
            return self.store.add(user_id, drafts, utcnow())

    # -- reading ----------------------------------------------------------------------

    def listing(self, user_id: str, *, status: str | Sequence[str] = "active"
                ) -> list[Thought]:
        """:meth:`Memory.thoughts`."""
        self.engine.check_open()
        user_id = check_id(user_id, "user_id")
        wanted = (status,) if isinstance(status, str) else tuple(status)
        if not wanted or any(s not in THOUGHT_STATUSES for s in wanted):
            raise InvalidInput("status", f"must be among {', '.join(THOUGHT_STATUSES)}, "
                                         f"got {status!r}")
        return self.store.listing(user_id, wanted)

    def get(self, id: str) -> Thought:
        """:meth:`Memory.thought`."""
        self.engine.check_open()
        id = check_id(id, "id")
        with self.engine.db.connect() as conn:
            found = ThoughtStore.load(conn, [id])
        if id not in found:
            raise NotFound(f"no thought with id {id!r}")
        return found[id]

    def history(self, id: str) -> list[MemoryEvent]:
        """:meth:`Memory.history`."""
        self.engine.check_open()
        id = check_id(id, "id")
        with self.engine.db.connect() as conn:
            if not ThoughtStore.load(conn, [id]) and conn.execute(
                    sa.select(units.c.id).where(units.c.id == id)).first() is None:
                raise NotFound(f"no thought or memory unit with id {id!r}")
            return ThoughtStore.history(conn, id)

    # -- search -----------------------------------------------------------------------

    def recall(self, query: RecallQuery, vector: np.ndarray | None) -> Mapping[str, float]:
        """The user's active thoughts nearest the query's vector (cosine), unless the
        query's kinds leave thoughts out or the weight is 0 (thoughts asked alone
        still are)."""
        kinds = query.kinds
        wanted = kinds == frozenset({"thought"}) or (
            self.weight > 0 and (kinds is None or "thought" in kinds))
        if not wanted or vector is None:
            return {}
        if query.filters is None:
            return dict(self.store.recall(query.user_id, vector, query.n))
        with self.engine.db.connect() as conn:  # filtered before the top n
            allowed = ThoughtStore.in_filter(conn, query.user_id, query.filters)
        if not allowed:
            return {}
        # every active thought compared (exact), then those in scope kept
        found = self.store.recall(query.user_id, vector, self.store.size(query.user_id),
                                  exact=True)
        return dict([f for f in found if f[0] in allowed][: query.n])

    def in_period(self, conn: Any, ids: Sequence[str], period: TimeRange) -> set[str]:
        """Thoughts dated inside ``period``."""
        return ThoughtStore.in_period(conn, list(ids), period)

    def load_hits(self, conn: Any, scored: Sequence[tuple[str, float]], user_id: str,
                  raw: Mapping[str, float]) -> dict[str, Hit]:
        """Hits for active thoughts (of kind ``thought``), with their provenance
        turns."""
        if not scored:
            return {}
        found = ThoughtStore.load(conn, [i for i, _ in scored], user_id=user_id)
        wanted = sorted({t for th in found.values() for t in th.source_turn_ids})
        by_id = {t.id: t for t in repo.load_turns_by_id(conn, wanted)} if wanted else {}
        out: dict[str, Hit] = {}
        for tid, score in scored:
            th = found.get(tid)
            if th is None or th.status != "active":
                continue
            src = sorted((by_id[t] for t in th.source_turn_ids if t in by_id),
                         key=lambda t: (t.timestamp, t.session_id, t.position))
            out[tid] = Hit(id=th.id, kind="thought", user_id=th.user_id,
                           session_id=th.session_id or (src[0].session_id if src else ""),
                           text=th.text, timestamp=th.timestamp, score=float(score),
                           store=ThoughtStore.name, turns=tuple(src),
                           scores={"dense": raw[tid]})
        return out

    def stages(self) -> Sequence[Stage]:
        """The thoughts' ranking fused with the units' (after decay)."""
        return (FuseRecalled(self.name, self.weight, name="fuse_thoughts"),)

    # -- deleting ---------------------------------------------------------------------

    def guard(self) -> AbstractContextManager[Any]:
        """The thought store's lock: no user index is rebuilt from a half-deleted
        state."""
        return self.store.lock

    def on_delete(self, tx: WriteTx, scope: DeleteScope) -> Sequence[str]:
        """The thoughts that drew on the deleted turns (all the user's, for a whole
        user); their users' in-memory indexes are dropped after the commit."""
        if scope.whole_user:
            assert scope.user_id is not None
            hashes, _ = ThoughtStore.purge(tx.conn, ThoughtStore.of_user(tx.conn,
                                                                         scope.user_id))
            owners: set[str] = {scope.user_id}
        else:
            hashes, owners = self.store.forget_turns(tx.conn, scope.turn_ids, utcnow())
        tx.on_commit(lambda: self.store.evict(owners))
        return hashes

    def delete_own(self, tx: WriteTx, id: str) -> Sequence[str] | None:
        """Purge a thought (with its history and what was merged into it)."""
        if not ThoughtStore.load(tx.conn, [id]):
            return None
        hashes, owners = self.store.delete(tx.conn, [id], utcnow())
        tx.on_commit(lambda: self.store.evict(owners))
        return hashes

    def buckets_for(self, texts: list[str]) -> list[list[int]]:
        """The LSH bucket ids of these texts (an import's thoughts)."""
        return self.store.buckets_for(texts)

    def evict(self, user_ids: set[str]) -> None:
        """Drop these users' in-memory thought indexes (rebuilt on next use)."""
        self.store.evict(user_ids)

    def reindex(self) -> None:
        """Re-hash every thought into its LSH buckets."""
        self.store.rebuild()

    def stats(self, conn: Any) -> dict[str, int]:
        """Thoughts by status, and the post-thinking exchanges that failed."""
        by_status = dict(conn.execute(sa.select(thoughts.c.status, sa.func.count())
                                      .group_by(thoughts.c.status)).all())
        return {**{str(k): int(v) for k, v in by_status.items()},
                "llm_failures": self.store.thinker.failures if self.store.thinker else 0}


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

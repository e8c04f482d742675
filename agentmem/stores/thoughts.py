"""Think-in-Memory (TiM): a per-user memory of thoughts kept in LSH buckets, with
insert, forget and merge.

A thought is a relation ``(head, relation, tail)`` with a sentence stating it. SQL
holds every thought (active, merged or forgotten), its provenance (the turns it came
from), its LSH bucket ids and an audit log of every operation; vectors are the
embedding cache's rows for the thought's text. Recall hashes the query with the same
seeded projections, collects the active thoughts of its buckets (every table, ``probes``
buckets each) and ranks them by cosine.

Insertion of a new thought, against the user's active thoughts:

1. **merge** — a near duplicate (datasketch MinHash LSH over the text's word shingles
   finds it, it has the same head entity, a cosine >= ``merge_cosine`` and the same
   tail or one tail's words inside the other's; or the same head and relation with
   such a tail) becomes one new thought whose provenance is the union; the merged one is
   kept with status ``merged``. The LLM writes the merged text when one is configured,
   otherwise the newest text wins. An identical text only gains provenance.
2. **forget** — a thought with the same head and relation but a different tail is
   superseded, however similar the texts, by the newer of the two (a knowledge
   update: "lives in Lisbon" after "lives in Porto"); it is kept with status
   ``forgotten`` and ``replaced_by`` set.
   Ambiguous cases — same head, another relation, cosine >= ``ambiguous_cosine``, in
   the query's LSH candidates — go to the LLM's forget prompt when one is configured
   and are both kept otherwise.
3. otherwise **insert**.

Only :meth:`ThoughtStore.purge` (``Memory.delete`` / ``Memory.forget_user``) removes
rows. Every operation is logged in ``memory_log``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..embed import CachedEmbedder, content_hash
from ..index.lsh import AngularLSH
from ..storage import repository as repo
from ..storage.schema import thought_sources, thoughts
from ..types import MemoryEvent, SearchFilter, Thought, TimeRange
from . import thought_rows
from .thinking import Thinker, ThoughtDraft
from .thought_config import ThoughtChange, ThoughtConfig
from .thought_config import check_draft as check_draft  # re-exported
from .thought_index import _nested, _UserIndex
from .thought_index import normalise as normalise  # re-exported
from .thought_index import shingles as shingles  # re-exported
from .thought_rows import _CHUNK

__all__ = ["ThoughtChange", "ThoughtConfig", "ThoughtStore"]

log = logging.getLogger("agentmem")

_CACHED_USERS = 256  # in-memory user indexes kept (least recently used go first)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ThoughtStore:
    """TiM's thought memory over SQL (source of truth) and in-memory LSH indexes
    (built per user on first use from the stored buckets and cached vectors).
    Thread-safe: writes are serialised by :attr:`lock`, which a caller deleting
    thoughts in its own transaction holds until it has called :meth:`evict`."""

    name = "thoughts"

    def __init__(self, db: Any, embedder: CachedEmbedder, config: ThoughtConfig,
                 thinker: Thinker | None = None) -> None:
        self.db = db
        self.embedder = embedder
        self.config = config
        self.params = config.lsh(embedder.dim)
        self.thinker = thinker
        self._users: OrderedDict[str, _UserIndex] = OrderedDict()
        self.lock = threading.RLock()
        self.hasher = AngularLSH(self.params)

    # -- the in-memory indexes ------------------------------------------------------

    def _index(self, user_id: str) -> _UserIndex:
        # a loaded index is returned without the lock, so that a search never waits
        # for a write (which may be waiting for the LLM); the index has its own lock
        found = self._users.get(user_id)
        if found is not None:
            with suppress(KeyError):  # evicted meanwhile: this copy still answers
                self._users.move_to_end(user_id)
            return found
        with self.lock:
            found = self._users.get(user_id)
            if found is not None:
                return found
            with self.db.connect() as conn:
                rows = conn.execute(
                    sa.select(thoughts.c.id, thoughts.c.text, thoughts.c.buckets)
                    .where(thoughts.c.user_id == user_id, thoughts.c.status == "active")
                    .order_by(thoughts.c.seq)).all()
            index = _UserIndex(self.params, self.hasher, self.config.merge_jaccard)
            if rows:
                vectors = self.embedder.embed_stored([r.text for r in rows])
                index.add([r.id for r in rows], vectors,
                          np.array([r.buckets for r in rows], dtype=np.int64),
                          [r.text for r in rows])
            self._users[user_id] = index
            while len(self._users) > _CACHED_USERS:
                self._users.popitem(last=False)
            return index

    def evict(self, user_ids: Iterable[str] | None = None) -> None:
        """Drop in-memory indexes (all, or these users'); rebuilt on next use."""
        with self.lock:
            if user_ids is None:
                self._users.clear()
            for u in user_ids or ():
                self._users.pop(u, None)

    def buckets_for(self, texts: Sequence[str]) -> list[list[int]]:
        """The LSH bucket ids of these texts' vectors (embedded, or from the cache)."""
        if not texts:
            return []
        return [[int(b) for b in c] for c in self.hasher.hash(self.embedder.embed_stored(texts))]

    # -- recall ---------------------------------------------------------------------

    def recall(self, user_id: str, vector: np.ndarray, n: int,
               probes: int | None = None, *, exact: bool = False) -> list[tuple[str, float]]:
        """Up to ``n`` active thoughts of ``user_id`` as (id, cosine), best first:
        among the candidates of the query's LSH buckets, or among all of them when the
        user has fewer than ``exact_below`` (or ``exact``)."""
        index = self._index(user_id)
        if not len(index.lsh) or n < 1:
            return []
        if exact or len(index.lsh) < self.config.exact_below:
            return [(str(i), s) for i, s in index.lsh.exact(vector, k=n)]
        return [(str(i), s) for i, s in index.lsh.query(
            vector, k=n, probes=probes or self.config.probes)]

    def size(self, user_id: str) -> int:
        """How many active thoughts ``user_id`` has in the recall index (at least 1)."""
        return max(1, len(self._index(user_id).lsh))

    # -- reading --------------------------------------------------------------------

    @staticmethod
    def load(conn: sa.Connection, ids: Sequence[str], user_id: str | None = None
             ) -> dict[str, Thought]:
        """Thoughts by id (of ``user_id`` only, when given), with their provenance."""
        return thought_rows.load(conn, ids, user_id)

    def listing(self, user_id: str, statuses: Sequence[str] = ("active",)
                ) -> list[Thought]:
        """``user_id``'s thoughts with these statuses, oldest first."""
        with self.db.connect() as conn:
            ids = list(conn.execute(
                sa.select(thoughts.c.id).where(thoughts.c.user_id == user_id,
                                               thoughts.c.status.in_(list(statuses)))
                .order_by(thoughts.c.timestamp, thoughts.c.seq)
            ).scalars())
            found = self.load(conn, ids)
        return [found[i] for i in ids]

    @staticmethod
    def history(conn: sa.Connection, memory_id: str) -> list[MemoryEvent]:
        """The audit log of one thought, oldest first."""
        return thought_rows.history(conn, memory_id)

    @staticmethod
    def in_filter(conn: sa.Connection, user_id: str, f: SearchFilter) -> set[str]:
        """The user's active thoughts that ``f`` lets through."""
        return thought_rows.in_filter(conn, user_id, f)

    @staticmethod
    def in_period(conn: sa.Connection, ids: Sequence[str], period: TimeRange) -> set[str]:
        """Those of ``ids`` whose thought was stated inside ``period``."""
        return thought_rows.in_period(conn, ids, period)

    # -- writing --------------------------------------------------------------------

    def add(self, user_id: str, drafts: Sequence[ThoughtDraft],
            now: datetime | None = None) -> list[ThoughtChange]:
        """Insert, merge or supersede each draft in turn (see the module doc); one
        transaction per draft. Returns what happened to each, in order."""
        if not drafts:
            return []
        now = now or _utcnow()
        sentences = [d.sentence for d in drafts]
        vectors = self.embedder.embed_stored(sentences)
        changes: list[ThoughtChange] = []
        with self.lock:
            index = self._index(user_id)
            for draft, vec in zip(drafts, vectors, strict=True):
                changes.append(self._add_one(user_id, index, draft, vec, now))
            # a draft whose text was not kept (merged under another text) leaves no
            # vector behind
            with self.db.begin() as conn:
                self.embedder.purge(conn, repo.unused_hashes(
                    conn, [content_hash(t) for t in sentences]))
        return changes

    def _add_one(self, user_id: str, index: _UserIndex, draft: ThoughtDraft,
                 vec: np.ndarray, now: datetime) -> ThoughtChange:
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        head, rel, tail = normalise(draft.head), normalise(draft.relation), \
            normalise(draft.tail)
        when = draft.timestamp or now
        text = draft.sentence
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(thoughts).where(
                thoughts.c.user_id == user_id, thoughts.c.status == "active",
                thoughts.c.head_key == head).order_by(thoughts.c.seq)).all()
        same_head = {r.id: r for r in rows}  # in the order they were added
        cos = {i: float(v @ vec) for i, v in index.lsh.vectors(list(same_head)).items()}
        # same head and relation with another tail: a knowledge update, however alike
        # the texts ("lives in Porto" / "lives in Lisbon"); a tail that only adds words
        # to the other ("sourdough" / "sourdough bread") is the same fact
        nested = {i for i, r in same_head.items() if _nested(normalise(r.tail), tail)}
        conflicts = [i for i, r in same_head.items()
                     if r.relation_key == rel and i not in nested]
        # 1. merge: the same fact, or a near duplicate (MinHash LSH + same head + cosine)
        # about the same tail: alike texts about another tail ("lives in Porto" / "home
        # city Lisbon") are never merged, they are at most an ambiguous update
        near = index.near(text)
        dupes = [i for i, r in same_head.items() if i in nested and (
                 r.relation_key == rel
                 or (i in near and cos.get(i, 0.0) >= self.config.merge_cosine))]
        # 2. forget: same head and relation, another tail (deterministic) ...
        rivals = dict.fromkeys(conflicts, "same head and relation")
        # ... or an ambiguous neighbour among the recall candidates, decided by the LLM
        if self.thinker is not None and not dupes:
            nearby = {i for i, _ in (
                index.lsh.exact(vec, k=16) if len(index.lsh) < self.config.exact_below
                else index.lsh.query(vec, k=16, probes=self.config.probes))}
            unsure = [i for i in same_head if i in nearby and i not in rivals
                      and i not in nested
                      and cos.get(i, 0.0) >= self.config.ambiguous_cosine]
            if unsure:
                verdicts = self.thinker.replaces([(same_head[i].text, text) for i in unsure])
                rivals.update({i: "llm" for i, v in zip(unsure, verdicts, strict=True) if v})
        newer = [i for i in rivals if same_head[i].timestamp > when]
        latest = max(newer, key=lambda i: (same_head[i].timestamp, same_head[i].seq)) \
            if newer else None
        # a thought older than an active rival is stored already superseded by it
        older = {} if newer else rivals
        if dupes:
            # ties (a repeated text) go to the latest added, never to a random id
            target = same_head[max(dupes, key=lambda i: (cos.get(i, 0.0), same_head[i].seq))]
            why = "same fact" if target.relation_key == rel else "near duplicate"
            return self._merge(user_id, index, target, draft, text, when, now, head, rel,
                               why, older)
        new_id = uuid.uuid4().hex
        codes = self.hasher.hash(vec)[0]
        with self.db.begin() as conn:
            self._insert(conn, new_id, user_id, draft, text, head, rel, codes, when, now,
                         "active" if latest is None else "forgotten", latest)
            self._log(conn, new_id, user_id, "insert", now)
            self._supersede(conn, user_id, new_id, older, now)
            if latest is not None:
                self._log(conn, new_id, user_id, "forget", now, other=latest,
                          reason=f"{rivals[latest]}; older than {latest}")
                self._log(conn, latest, user_id, "supersede", now, other=new_id,
                          reason=rivals[latest])
            thought = self.load(conn, [new_id])[new_id]
        index.remove(older)
        if latest is None:
            index.add([new_id], vec[None, :], codes[None, :], [text])
        return ThoughtChange(op="insert" if latest is None else "forgotten",
                             thought=thought, superseded=tuple(older))

    def _supersede(self, conn: sa.Connection, user_id: str, by: str,
                   older: dict[str, str], now: datetime) -> None:
        for old, why in older.items():
            self._set_status(conn, old, "forgotten", by, now)
            self._log(conn, old, user_id, "forget", now, other=by, reason=why)
            self._log(conn, by, user_id, "supersede", now, other=old, reason=why)

    def _merge(self, user_id: str, index: _UserIndex, old: Any, draft: ThoughtDraft,
               text: str, when: datetime, now: datetime, head: str, rel: str, why: str,
               older: dict[str, str]) -> ThoughtChange:
        """Fold ``draft`` into the active thought ``old`` (see the module doc); the
        result also supersedes ``older``."""
        sources = set(draft.source_turn_ids)
        if text == old.text:  # the same thought again: provenance only
            with self.db.begin() as conn:
                have = set(conn.execute(sa.select(thought_sources.c.turn_id).where(
                    thought_sources.c.thought_id == old.id)).scalars())
                added = sorted(sources - have)
                if added:
                    conn.execute(sa.insert(thought_sources),
                                 [{"thought_id": old.id, "turn_id": t} for t in added])
                conn.execute(sa.update(thoughts).where(thoughts.c.id == old.id).values(
                    updated_at=now, timestamp=max(old.timestamp, when)))
                self._log(conn, old.id, user_id, "merge", now, reason="duplicate",
                          detail={"sources_added": added})
                self._supersede(conn, user_id, old.id, older, now)
                thought = self.load(conn, [old.id])[old.id]
            index.remove(older)
            return ThoughtChange(op="merge", thought=thought, superseded=tuple(older))
        newest_is_draft = when >= old.timestamp
        merged_text = self.thinker.merge_text([old.text, text]) if self.thinker else None
        final = merged_text or (text if newest_is_draft else old.text)
        base = draft if newest_is_draft else ThoughtDraft(
            head=old.head, relation=old.relation, tail=old.tail, timestamp=old.timestamp,
            session_id=old.session_id)
        if not newest_is_draft:
            head, rel = old.head_key, old.relation_key
        new_vec = self.embedder.embed_stored([final])[0]
        new_vec = new_vec / max(float(np.linalg.norm(new_vec)), 1e-12)
        codes = self.hasher.hash(new_vec)[0]
        new_id = uuid.uuid4().hex
        with self.db.begin() as conn:
            have = set(conn.execute(sa.select(thought_sources.c.turn_id).where(
                thought_sources.c.thought_id == old.id)).scalars())
            merged = ThoughtDraft(head=base.head, relation=base.relation, tail=base.tail,
                                  session_id=base.session_id,
                                  source_turn_ids=tuple(sorted(have | sources)))
            self._insert(conn, new_id, user_id, merged, final, head, rel, codes,
                         max(old.timestamp, when), now, "active", None)
            self._set_status(conn, old.id, "merged", new_id, now)
            self._log(conn, new_id, user_id, "merge", now, other=old.id,
                      reason=why + (", text by the llm" if merged_text else ""),
                      detail={"sources_added": sorted(sources - have)})
            self._log(conn, old.id, user_id, "merged", now, other=new_id, reason=why)
            self._supersede(conn, user_id, new_id, older, now)
            thought = self.load(conn, [new_id])[new_id]
        index.remove([old.id, *older])
        index.add([new_id], new_vec[None, :], codes[None, :], [final])
        return ThoughtChange(op="merge", thought=thought, superseded=tuple(older))

    @staticmethod
    def _insert(conn: sa.Connection, tid: str, user_id: str, draft: ThoughtDraft,
                text: str, head: str, rel: str, codes: np.ndarray, when: datetime,
                now: datetime, status: str, replaced_by: str | None) -> None:
        thought_rows.insert(conn, tid, user_id, draft, text, head, rel, codes, when, now,
                            status, replaced_by)

    @staticmethod
    def _set_status(conn: sa.Connection, tid: str, status: str, replaced_by: str | None,
                    now: datetime) -> None:
        thought_rows.set_status(conn, tid, status, replaced_by, now)

    @staticmethod
    def _log(conn: sa.Connection, tid: str, user_id: str, op: str, at: datetime, *,
             other: str | None = None, reason: str = "",
             detail: dict[str, Any] | None = None) -> None:
        thought_rows.log_op(conn, tid, user_id, op, at, other=other, reason=reason,
                            detail=detail)

    # -- removal and rebuild --------------------------------------------------------

    @staticmethod
    def purge(conn: sa.Connection, ids: Sequence[str]) -> tuple[list[str], set[str]]:
        """Delete thoughts with their provenance and audit log, inside ``conn``'s
        transaction. Returns their content hashes and users (evict those after the
        commit)."""
        return thought_rows.purge(conn, ids)

    def delete(self, conn: sa.Connection, ids: Sequence[str], now: datetime, *,
               cascade: bool = True) -> tuple[list[str], set[str]]:
        """Purge thoughts inside ``conn``'s transaction, with every thought their text
        lives on in (what they were merged into, transitively). The thoughts merged
        into a purged one are purged too (``cascade``: the same fact, deleted by
        request) or become active again (``cascade=False``: their own sources stay).
        A thought a purged one had superseded becomes active again, newest first,
        unless another active thought has its head and relation (it then points
        there). Returns the purged content hashes and the users touched: hold
        :attr:`lock` until the commit, then :meth:`evict` them."""
        return thought_rows.delete(conn, ids, now, cascade=cascade)

    def forget_turns(self, conn: sa.Connection, turn_ids: Sequence[str], now: datetime
                     ) -> tuple[list[str], set[str]]:
        """Turns being deleted take with them every thought that drew on them (its
        text may repeat theirs), and what those were merged into; thoughts merged into
        those that did not draw on the turns become active again (:meth:`delete`)."""
        return self.delete(conn, self.derived_from(conn, turn_ids), now, cascade=False)

    @staticmethod
    def derived_from(conn: sa.Connection, turn_ids: Sequence[str]) -> list[str]:
        """Thoughts whose provenance includes any of these turns."""
        return thought_rows.derived_from(conn, turn_ids)

    @staticmethod
    def of_user(conn: sa.Connection, user_id: str) -> list[str]:
        """Every thought id of ``user_id`` (all statuses)."""
        return thought_rows.of_user(conn, user_id)

    def rebuild(self, ids: Sequence[str] | None = None) -> None:
        """Re-hash every thought's vector (or these thoughts') from the embedding cache,
        or embedded again, under the store's parameters and rewrite its buckets; the
        in-memory indexes are rebuilt on next use."""
        with self.lock:
            with self.db.connect() as conn:
                q = sa.select(thoughts.c.id, thoughts.c.text).order_by(thoughts.c.id)
                rows = conn.execute(q).all() if ids is None else [
                    r for start in range(0, len(ids), _CHUNK)
                    for r in conn.execute(q.where(thoughts.c.id.in_(
                        list(ids[start : start + _CHUNK]))))]
            for start in range(0, len(rows), _CHUNK):
                part = rows[start : start + _CHUNK]
                codes = self.hasher.hash(self.embedder.embed_stored([r.text for r in part]))
                with self.db.begin() as conn:
                    for r, c in zip(part, codes, strict=True):
                        conn.execute(sa.update(thoughts).where(thoughts.c.id == r.id)
                                     .values(buckets=[int(b) for b in c]))
            self.evict()

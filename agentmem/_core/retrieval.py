"""A search's retrieval: the unit retrievers (dense in the worker ∥ lexical here) and
every recall source, then the ranking pipeline over one connection, then the hits
loaded from SQL (units) or from their recall source (thoughts) and scored by
relevance (:mod:`.relevance`).

Filters and ``kinds`` are applied before the top ``n``: the units in scope are read
from SQL first (:func:`~agentmem.storage.scope.scope_ids`). Dense search is exact when
the units to search number at most ``exact_below`` (their vectors read from the SQL
embedding cache: identical texts cannot hide another, and no filter starves it); above
that, Chroma's HNSW is asked, widened until ``n`` units in scope come back. The lexical
side is widened the same way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..embed.cache import CachedEmbedder
from ..errors import AgentMemError
from ..index.exact import top_cosine
from ..ranking import Candidates, Pipeline, Ranking, Recalled, RecallQuery, RecallSource
from ..storage import repository as repo
from ..storage.schema import units
from ..storage.scope import count_units, lex_rowids, scope_ids, unit_texts, unit_vectors
from ..types import Hit, MemoryUnit, TimeRange, TraceStep
from .engine import Engine
from .relevance import Scorer, monotone

__all__ = ["Retrieval"]

log = logging.getLogger("agentmem")


@dataclass
class _Reader:
    """The stages' view of the user's units, over the ranking's connection."""

    conn: Any
    user_id: str
    embedder: CachedEmbedder

    def unit_info(self, ids: Sequence[str]) -> dict[str, repo.UnitInfo]:
        return repo.unit_info(self.conn, ids, self.user_id)

    def units_in_period(self, period: TimeRange, among: Sequence[str] | None = None
                        ) -> set[str]:
        return repo.units_in_period(self.conn, self.user_id, period, among=among)

    def unit_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        found, matrix, _ = unit_vectors(self.conn, self.user_id, self.embedder.name, ids,
                                        cache=self.embedder.vectors)
        return dict(zip(found, matrix, strict=True))

    def units(self, ids: Sequence[str]) -> dict[str, MemoryUnit]:
        return repo.load_units(self.conn, ids, user_id=self.user_id)


#: the most units a dense search compares exactly (above: Chroma's HNSW)
EXACT_BELOW = 2000
#: seconds a large user's unit count is trusted (to choose how HNSW is asked)
OWNED_TTL = 60.0
#: the most units in a filtered search's scope for lexical search to match only theirs
SMALL_SCOPE = 2000


class Retrieval:
    """Candidates, ranking and hits for one memory's searches."""

    def __init__(self, engine: Engine, pipeline: Pipeline, sources: Sequence[RecallSource],
                 *, exact_below: int = EXACT_BELOW) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.sources = tuple(sources)
        self.exact_below = exact_below
        self._counts: dict[str, tuple[float, int]] = {}  # user: (counted at, units)
        self._lock = threading.Lock()

    def rank(self, query: RecallQuery, *, trace: bool = False,
             relevance: bool = False) -> Ranking:
        """The ranking of ``query`` (ids, fused scores, raw scores per source; with
        ``relevance``, each ranked id's relevance under ``scores["relevance"]``)."""
        ranking, vector = self._rank(query, trace)
        if not relevance:
            return ranking
        rel = self._relevance(query, ranking, vector)
        return replace(ranking, scores={**ranking.scores, "relevance": rel})

    def _relevance(self, query: RecallQuery, ranking: Ranking, vector: np.ndarray | None,
                   known: Mapping[str, str] | None = None) -> dict[str, float]:
        """The relevance of every ranked id (:mod:`.relevance`); ``known``: the texts
        of recalled items loaded already."""
        scorer = Scorer(self.engine.embedder, query.text, vector)
        own = [sc for n, sc in ranking.scores.items() if n not in ("dense", "lexical")]
        ids = [i for i, _ in ranking.order if not any(i in sc for sc in own)]
        with self.engine.db.connect() as conn:
            rel = scorer.units(conn, query.user_id, dict(unit_texts(conn, ids, query.user_id)),
                               ranking.scores.get("dense"))
        texts = dict(known or {})
        recalled = [f for f in ranking.order
                    if f[0] not in rel and f[0] not in ids and f[0] not in texts]
        if recalled:
            texts.update((h.id, h.text) for h in self._load(query, recalled, ranking)[1]
                         .values())
        if texts:
            rel.update(scorer.texts(texts))
        return {i: rel.get(i, 0.0) for i, _ in ranking.order}

    def _rank(self, query: RecallQuery, trace: bool) -> tuple[Ranking, np.ndarray | None]:
        engine = self.engine
        use_dense = query.mode in ("hybrid", "dense") or engine.lexical is None
        use_lexical = query.mode in ("hybrid", "lexical") and engine.lexical is not None
        scope: set[str] | None = None
        if query.filters is not None or query.kinds is not None:
            with engine.db.connect() as conn:
                scope = scope_ids(conn, query.user_id, query.filters, query.kinds)
        # The query embedding (torch) and FTS5 (SQLite) both release the GIL: run the
        # dense side in the worker while the lexical side runs here. Lexical search
        # embeds the query too: scores are cosine-based in every mode.
        dense_job = engine.pool().submit(self._dense, query, scope, use_dense)
        scores: dict[str, dict[str, float]] = {}
        lexical = self._lexical(query, scope) if use_lexical else {}
        vector: np.ndarray | None = None
        try:
            vector, dense = dense_job.result()
            if use_dense:
                scores["dense"] = dense
        except AgentMemError as exc:
            if not use_lexical:
                raise
            if use_dense:  # hybrid search degrades to the lexical side, not failing
                log.warning("dense search failed, answering from the lexical index "
                            "alone: %s", exc)
                engine.note_failure(f"search: {exc}")
        if use_lexical:
            scores["lexical"] = lexical
        seen = vector if use_dense else None  # lexical mode recalls no thoughts
        recalled = {s.name: Recalled(s, dict(found)) for s in self.sources
                    if (found := s.recall(query, seen))}
        with engine.db.connect() as conn:
            c = Candidates(query=query, reader=_Reader(conn, query.user_id, engine.embedder),
                           scores=scores, retrievers=len(scores), vector=seen,
                           recalled=recalled)
            order, steps = self.pipeline.run(c, trace=trace)
        return Ranking(order=tuple(order), scores={
            **c.scores, **{n: r.scores for n, r in recalled.items()}},
            trace={i: tuple(s) for i, s in steps.items()}), vector

    def hits(self, query: RecallQuery, k: int, *, trace: bool = False,
             min_score: float = 0.0) -> list[Hit]:
        """The ``k`` best hits of ``query``, loaded (units deleted since the index
        answered are skipped), scored by relevance (monotone down the list); those
        below ``min_score`` left out."""
        ranking, vector = self._rank(query, trace)
        fused = list(ranking.order)
        hits: list[Hit] = []
        recalled: dict[str, str] = {}  # the recalled items loaded, by id: their texts
        start = 0
        while len(hits) < k and start < len(fused):
            head = fused[start : start + k - len(hits) + 4]  # a few spare
            start += len(head)
            found, loaded = self._load(query, head, ranking)
            recalled.update((i, h.text) for i, h in loaded.items())
            for uid, score in head:
                if uid in found:
                    hits.append(_hit(found[uid], score, ranking, ranking.trace.get(uid, ())))
                elif uid in loaded:
                    hits.append(_traced(loaded[uid], score, ranking.trace.get(uid, ()),
                                        trace))
        hits = hits[:k]
        # relevance over the whole ranking, so that a hit's score does not depend on k
        rel = self._relevance(query, ranking, vector, recalled)
        ids = [i for i, _ in ranking.order]
        final = dict(zip(ids, monotone([rel[i] for i in ids]), strict=True))
        return [replace(h, score=final[h.id], scores={**h.scores, "relevance": rel[h.id]})
                for h in hits if final[h.id] >= min_score]

    def _load(self, query: RecallQuery, head: Sequence[tuple[str, float]], ranking: Ranking
              ) -> tuple[dict[str, MemoryUnit], dict[str, Hit]]:
        """The units of ``head`` (from SQL) and its recalled items (from their
        sources)."""
        own = {s.name: ranking.scores[s.name] for s in self.sources
               if s.name in ranking.scores}
        with self.engine.db.connect() as conn:
            found = repo.load_units(conn, [i for i, _ in head if not any(
                i in sc for sc in own.values())], user_id=query.user_id)
            loaded: dict[str, Hit] = {}
            for s in self.sources:
                if s.name in own:
                    loaded.update(s.load_hits(
                        conn, [(i, x) for i, x in head if i in own[s.name]],
                        query.user_id, own[s.name]))
        return found, loaded

    def _dense(self, query: RecallQuery, scope: set[str] | None, search: bool
               ) -> tuple[np.ndarray, dict[str, float]]:
        """The query's vector and (with ``search``) the ``n`` nearest units in scope."""
        engine = self.engine
        vector = engine.embedder.embed_query(query.text)
        if not search or (scope is not None and not scope):
            return vector, {}
        with engine.db.connect() as conn:
            size = len(scope) if scope is not None else count_units(
                conn, query.user_id, at_most=self.exact_below + 1)
            if size <= self.exact_below:
                ids, matrix, lacking = unit_vectors(
                    conn, query.user_id, engine.embedder.name,
                    None if scope is None else sorted(scope), cache=engine.embedder.vectors)
                if not lacking:
                    return vector, dict(top_cosine(ids, matrix, vector, query.n))
                log.debug("%d indexed units lack a cached vector: HNSW answers", lacking)
            owned = self._owned(conn, query.user_id)
        n = query.n
        while True:  # HNSW: widened until n units in scope come back, or all did
            found = engine.dense.query(engine.collection(query.user_id), vector, n,
                                       user_id=query.user_id, owned=owned)
            kept = [f for f in found if scope is None or f[0] in scope]
            if len(kept) >= query.n or len(found) < n:
                return vector, dict(kept[: query.n])
            n *= 4

    def _owned(self, conn: sa.Connection, user_id: str) -> int:
        """How many units the user has, counted at most once a minute: an estimate
        that chooses how the dense index is asked (:meth:`ChromaIndex.query`)."""
        now = time.monotonic()
        with self._lock:
            cached = self._counts.get(user_id)
        if cached is not None and now - cached[0] < OWNED_TTL:
            return cached[1]
        owned = count_units(conn, user_id)
        with self._lock:
            self._counts[user_id] = (now, owned)
            while len(self._counts) > 4096:
                self._counts.pop(next(iter(self._counts)))
        return owned

    def _lexical(self, query: RecallQuery, scope: set[str] | None) -> dict[str, float]:
        """The ``n`` best units in scope by BM25 (widened until ``n`` in scope come
        back, or all matches did)."""
        engine = self.engine
        assert engine.lexical is not None
        if scope is not None and not scope:
            return {}
        n = query.n
        with engine.db.connect() as conn:
            # a small scope: only its rows are matched; a large one: widened below
            among = lex_rowids(conn, scope) if scope is not None and \
                len(scope) <= SMALL_SCOPE else None
            while True:
                lex = engine.lexical.search(conn, query.user_id, query.text, n, among)
                if not lex:
                    return {}
                # by rowid only (the owner is checked here: see repository.load_units)
                ids_by_row: dict[int, str] = {}
                rows = [r for r, _ in lex]
                for i in range(0, len(rows), 500):
                    ids_by_row.update(
                        (row.lex_rowid, row.id) for row in conn.execute(
                            sa.select(units.c.lex_rowid, units.c.id, units.c.user_id).where(
                                units.c.lex_rowid.in_(rows[i : i + 500])))
                        if row.user_id == query.user_id)
                kept = [(ids_by_row[r], s) for r, s in lex if r in ids_by_row
                        and (scope is None or ids_by_row[r] in scope)]
                if among is not None or len(kept) >= query.n or len(lex) < n:
                    return dict(kept[: query.n])
                n *= 4


def _hit(unit: MemoryUnit, score: float, ranking: Ranking,
         trace: tuple[TraceStep, ...]) -> Hit:
    scores: dict[str, float] = {"fused": float(score)}
    for name in ("dense", "lexical"):
        if unit.id in ranking.scores.get(name, {}):
            scores[name] = ranking.scores[name][unit.id]
    return Hit(id=unit.id, kind=unit.kind, user_id=unit.user_id,
               session_id=unit.session_id, text=unit.text, timestamp=unit.timestamp,
               score=float(score), store=unit.store, turns=unit.turns, scores=scores,
               trace=trace)


def _traced(hit: Hit, score: float, trace: tuple[TraceStep, ...], keep: bool) -> Hit:
    return replace(hit, scores={**hit.scores, "fused": float(score)},
                   trace=trace if keep else hit.trace)

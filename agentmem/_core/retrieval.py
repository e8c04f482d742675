"""A search's retrieval: the unit retrievers (dense in the worker ∥ lexical here) and
every recall source, then the ranking pipeline over one connection, then the hits
loaded from SQL (units) or from their recall source (thoughts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..errors import AgentMemError
from ..ranking import Candidates, Pipeline, Ranking, Recalled, RecallQuery, RecallSource
from ..storage import repository as repo
from ..storage.schema import units
from ..types import Hit, MemoryUnit, TimeRange, TraceStep
from .engine import Engine

__all__ = ["Retrieval"]

log = logging.getLogger("agentmem")


@dataclass
class _Reader:
    """The stages' view of the user's units, over the ranking's connection."""

    conn: Any
    user_id: str

    def unit_info(self, ids: Sequence[str]) -> dict[str, repo.UnitInfo]:
        return repo.unit_info(self.conn, ids, self.user_id)

    def units_in_period(self, period: TimeRange) -> set[str]:
        return repo.units_in_period(self.conn, self.user_id, period)


class Retrieval:
    """Candidates, ranking and hits for one memory's searches."""

    def __init__(self, engine: Engine, pipeline: Pipeline, sources: Sequence[RecallSource]
                 ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.sources = tuple(sources)

    def rank(self, query: RecallQuery, *, trace: bool = False) -> Ranking:
        """The ranking of ``query`` (ids, fused scores, raw scores per source)."""
        engine = self.engine
        use_dense = query.mode in ("hybrid", "dense") or engine.lexical is None
        use_lexical = query.mode in ("hybrid", "lexical") and engine.lexical is not None
        # The query embedding (torch) and FTS5 (SQLite) both release the GIL: run the
        # dense side in the worker while the lexical side runs here.
        dense_job = engine.pool().submit(self._dense, query) if use_dense else None
        scores: dict[str, dict[str, float]] = {}
        lexical = self._lexical(query) if use_lexical else {}
        vector: np.ndarray | None = None
        if dense_job is not None:
            try:
                vector, scores["dense"] = dense_job.result()
            except AgentMemError as exc:
                if not use_lexical:
                    raise
                # hybrid search degrades to the lexical side rather than failing
                log.warning("dense search failed, answering from the lexical index "
                            "alone: %s", exc)
                engine.note_failure(f"search: {exc}")
        if use_lexical:
            scores["lexical"] = lexical
        recalled = {s.name: Recalled(s, dict(found)) for s in self.sources
                    if (found := s.recall(query, vector))}
        with engine.db.connect() as conn:
            c = Candidates(query=query, reader=_Reader(conn, query.user_id),
                           scores=scores, retrievers=len(scores), vector=vector,
                           recalled=recalled)
            order, steps = self.pipeline.run(c, trace=trace)
        return Ranking(order=tuple(order), scores={
            **c.scores, **{n: r.scores for n, r in recalled.items()}},
            trace={i: tuple(s) for i, s in steps.items()})

    def hits(self, query: RecallQuery, k: int, *, trace: bool = False) -> list[Hit]:
        """The ``k`` best hits of ``query``, loaded (units deleted since the index
        answered are skipped)."""
        ranking = self.rank(query, trace=trace)
        fused = list(ranking.order)
        dense, lexical = ranking.scores.get("dense", {}), ranking.scores.get("lexical", {})
        own = {s.name: ranking.scores[s.name] for s in self.sources
               if s.name in ranking.scores}
        hits: list[Hit] = []
        start = 0
        while len(hits) < k and start < len(fused):
            head = fused[start : start + k - len(hits) + 4]  # a few spare
            start += len(head)
            with self.engine.db.connect() as conn:
                found = repo.load_units(conn, [i for i, _ in head if not any(
                    i in sc for sc in own.values())], user_id=query.user_id)
                loaded: dict[str, Hit] = {}
                for s in self.sources:
                    if s.name in own:
                        loaded.update(s.load_hits(
                            conn, [(i, x) for i, x in head if i in own[s.name]],
                            query.user_id, own[s.name]))
            for uid, score in head:
                if uid in found:
                    hits.append(_hit(found[uid], score, dense, lexical,
                                     ranking.trace.get(uid, ())))
                elif uid in loaded:
                    hits.append(loaded[uid] if not trace else _traced(
                        loaded[uid], ranking.trace.get(uid, ())))
        return hits[:k]

    def _dense(self, query: RecallQuery) -> tuple[np.ndarray, dict[str, float]]:
        engine = self.engine
        vector = engine.embedder.embed_query(query.text)
        return vector, dict(engine.dense.query(engine.collection(query.user_id), vector,
                                               query.n, user_id=query.user_id))

    def _lexical(self, query: RecallQuery) -> dict[str, float]:
        engine = self.engine
        assert engine.lexical is not None
        with engine.db.connect() as conn:
            lex = engine.lexical.search(conn, query.user_id, query.text, query.n)
            if not lex:
                return {}
            # by rowid only (the owner is checked here: see repository.load_units)
            ids_by_row = {
                row.lex_rowid: row.id
                for row in conn.execute(
                    sa.select(units.c.lex_rowid, units.c.id, units.c.user_id).where(
                        units.c.lex_rowid.in_([r for r, _ in lex])))
                if row.user_id == query.user_id
            }
        return {ids_by_row[r]: s for r, s in lex if r in ids_by_row}


def _hit(unit: MemoryUnit, score: float, dense: dict[str, float] | Any,
         lexical: dict[str, float] | Any, trace: tuple[TraceStep, ...]) -> Hit:
    scores: dict[str, float] = {}
    if unit.id in dense:
        scores["dense"] = dense[unit.id]
    if unit.id in lexical:
        scores["lexical"] = lexical[unit.id]
    return Hit(id=unit.id, kind=unit.kind, user_id=unit.user_id,
               session_id=unit.session_id, text=unit.text, timestamp=unit.timestamp,
               score=float(score), store=unit.store, turns=unit.turns, scores=scores,
               trace=trace)


def _traced(hit: Hit, trace: tuple[TraceStep, ...]) -> Hit:
    return replace(hit, trace=trace)

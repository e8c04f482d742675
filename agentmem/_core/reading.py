"""The read side of the :class:`~agentmem.Memory` API: ``search`` (the ranking
pipeline, then the hits, then each strategy's ``on_recalled``), ``rank`` and
``ranking`` (the ranking alone), and the plain reads ``units``, ``turns`` and ``get``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..errors import AgentMemError, InvalidInput, NotFound
from ..inputs import check_filter, check_id, check_positive_int, check_text
from ..ranking import Ranking, RecallQuery
from ..storage import repository as repo
from ..temporal import parse_timestamp, question_time_range, utcnow
from ..types import SEARCH_MODES, Hit, MemoryUnit, SearchFilter, Turn
from .engine import Engine
from .retrieval import Retrieval

__all__ = ["Reading"]


class Reading:
    """Searching and reading a memory (the engine, the strategies and the retrieval
    are set by :class:`~agentmem.Memory`)."""

    candidates: int
    _engine: Engine | None
    _strategies: list[Any]
    _retrieval: Retrieval

    def _open_engine(self) -> Engine:
        if self._engine is None:
            raise AgentMemError("this Memory is closed")
        self._engine.check_open()
        return self._engine

    def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int = 5,
        mode: str = "hybrid",
        candidates: int | None = None,
        now: str | datetime | None = None,
        question_date: str | datetime | None = None,
        time_aware: bool = True,
        kinds: Sequence[str] | None = None,
        include_forgotten: bool = False,
        trace: bool = False,
        session_id: str | Sequence[str] | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        roles: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        min_score: float = 0.0,
    ) -> list[Hit]:
        """The ``k`` units of ``user_id`` most relevant to ``query``, best first.

        ``mode``: ``"hybrid"`` (dense + lexical, score fused; default),
        ``"dense"`` or ``"lexical"``. ``candidates``: how many each retriever returns
        before fusion (default: the memory's setting, at least ``k``).

        Time-aware (LongMemEval's query expansion): when the query names a period ("last
        week", "in May", "two days ago"), resolved against ``now`` (alias
        ``question_date``; default: the current UTC time), the candidates dated inside it
        (±2 days) — by their timestamp or a date their text mentions — move ahead of the
        rest, in the same relative order; none is dropped. ``time_aware=False`` turns
        this off.

        ``score`` is the hit's relevance in [0, 1], comparable between searches (the
        query's cosine similarity with the unit, or its text match when the query
        repeats one of its turns; never rising down the list); ``min_score`` leaves out
        hits below it. ``scores`` keeps the fused ranking score (``fused``) and each
        retriever's raw one. See docs/search.md.

        Filters, applied before the top ``k`` are taken (``k`` hits come back whenever
        ``k`` units match, however rare): ``session_id`` (one id or a list);
        ``since``/``until`` (``since <= timestamp < until``); ``roles`` (units with a
        turn of one of these roles); ``metadata`` (units with a turn whose metadata
        holds each key at that value, or at one of ``{"$in": [...]}``); ``kinds`` (e.g.
        ``("fact",)`` to search the extracted facts alone). Thoughts are filtered by
        their own session and time, and by the turns they came from.

        The user's active Think-in-Memory thoughts (see :meth:`add_thoughts`) are
        recalled too, unless ``kinds`` leaves out ``"thought"`` or ``mode`` is
        ``"lexical"``: ranked by cosine (LSH buckets for large stores), then fused
        with the units by reciprocal rank. A thought hit has ``kind="thought"`` and
        the turns it came from.

        ``trace=True`` gives each hit a ``trace``: what each ranking stage did to it.
        """
        k = check_positive_int(k, "k")
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) \
                or not 0.0 <= min_score <= 1.0:
            raise InvalidInput("min_score", f"must be a number in [0, 1], got {min_score!r}")
        q = self._query(query, user_id, mode, candidates, now, question_date, time_aware,
                        kinds, include_forgotten, at_least=k,
                        filters=check_filter(session_id, since, until, roles, metadata))
        hits = self._retrieval.hits(q, k, trace=trace, min_score=float(min_score))
        for s in self._strategies:
            hits = s.on_recalled(hits, q)
        return hits

    def rank(self, query: str, *, user_id: str, mode: str = "hybrid",
             candidates: int | None = None, now: str | datetime | None = None,
             question_date: str | datetime | None = None, time_aware: bool = True,
             kinds: Sequence[str] | None = None,
             session_id: str | Sequence[str] | None = None,
             since: str | datetime | None = None, until: str | datetime | None = None,
             roles: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None
             ) -> list[tuple[str, float]]:
        """Unit ids of ``user_id`` with their fused scores, best first, without loading
        the units: the ranking :meth:`search` reads from (same options), thought ids
        included (read those with :meth:`thought`). Each retriever contributes
        ``candidates`` (default: the memory's setting); an id may name a unit deleted
        since, which :meth:`get` then reports as not found. The filters are
        :meth:`search`'s."""
        return list(self.ranking(query, user_id=user_id, mode=mode, candidates=candidates,
                                 now=now, question_date=question_date,
                                 time_aware=time_aware, kinds=kinds, session_id=session_id,
                                 since=since, until=until, roles=roles,
                                 metadata=metadata).order)

    def ranking(self, query: str, *, user_id: str, mode: str = "hybrid",
                candidates: int | None = None, now: str | datetime | None = None,
                question_date: str | datetime | None = None, time_aware: bool = True,
                kinds: Sequence[str] | None = None, trace: bool = False,
                relevance: bool = False, session_id: str | Sequence[str] | None = None,
                since: str | datetime | None = None, until: str | datetime | None = None,
                roles: Sequence[str] | None = None,
                metadata: Mapping[str, Any] | None = None) -> Ranking:
        """:meth:`rank` with each source's raw scores (``dense``: cosine, ``lexical``:
        BM25, ``thoughts``: cosine), with ``relevance`` each ranked id's relevance (the
        measure of :attr:`Hit.score <agentmem.Hit.score>`, before it is made monotone)
        under ``scores["relevance"]``, and with ``trace`` what each ranking stage did
        to each candidate (:class:`~agentmem.ranking.Ranking`). The filters are
        :meth:`search`'s, applied before the top ``candidates``."""
        q = self._query(query, user_id, mode, candidates, now, question_date, time_aware,
                        kinds, False, at_least=1, candidates_first=True,
                        filters=check_filter(session_id, since, until, roles, metadata))
        return self._retrieval.rank(q, trace=trace, relevance=relevance)

    def _query(self, query: str, user_id: str, mode: str, candidates: int | None,
               now: str | datetime | None, question_date: str | datetime | None,
               time_aware: bool, kinds: Sequence[str] | None, include_forgotten: bool,
               *, at_least: int, candidates_first: bool = False,
               filters: SearchFilter | None = None) -> RecallQuery:
        """A search's arguments, validated in the order the checks always ran (``rank``
        checked ``candidates`` first, ``search`` its time first)."""
        if candidates is not None and candidates_first:
            check_positive_int(candidates, "candidates")
        if now is not None and question_date is not None:
            raise InvalidInput("question_date", "give at most one of now and question_date")
        when = now if now is not None else question_date
        anchor = utcnow() if when is None else parse_timestamp(
            when, field="now" if now is not None else "question_date")
        n = max(at_least, self.candidates if candidates is None
                else check_positive_int(candidates, "candidates"))
        period = question_time_range(query, anchor) if (
            time_aware and isinstance(query, str)) else None
        if kinds is not None and (isinstance(kinds, str) or not kinds
                                  or not all(isinstance(x, str) for x in kinds)):
            raise InvalidInput("kinds", f"must be a non-empty list of unit kinds, got {kinds!r}")
        self._open_engine()
        query = check_text(query, "query")
        user_id = check_id(user_id, "user_id")
        if mode not in SEARCH_MODES:
            raise InvalidInput("mode", f"must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        return RecallQuery(text=query, user_id=user_id, mode=mode, n=n, period=period,
                           kinds=frozenset(kinds) if kinds is not None else None,
                           anchor=anchor, include_forgotten=include_forgotten,
                           filters=filters)

    def units(self, user_id: str) -> list[MemoryUnit]:
        """Every unit of ``user_id`` with its turns, in conversation order (by time,
        then session, then position)."""
        engine = self._open_engine()
        user_id = check_id(user_id, "user_id")
        with engine.db.connect() as conn:
            ids = repo.user_unit_ids(conn, user_id)
            found = repo.load_units(conn, ids, user_id=user_id)
        return [found[i] for i in ids if i in found]

    def turns(self, user_id: str, *, session_id: str | None = None) -> list[Turn]:
        """The turns of ``user_id`` as stored in the episodic log (SQL, the source of
        truth): one session's in order of position when ``session_id`` is given, else
        every session's in conversation order (by time, then session, then position).
        Empty for an unknown user or session."""
        engine = self._open_engine()
        user_id = check_id(user_id, "user_id")
        if session_id is not None:
            session_id = check_id(session_id, "session_id")
        with engine.db.connect() as conn:
            return repo.user_turns(conn, user_id, session_id=session_id)

    def get(self, id: str) -> MemoryUnit:
        """The memory unit with this id, with its turns. Raises :class:`NotFound`."""
        engine = self._open_engine()
        id = check_id(id, "id")
        with engine.db.connect() as conn:
            found = repo.load_units(conn, [id])
        if id not in found:
            raise NotFound(f"no memory unit with id {id!r}")
        return found[id]


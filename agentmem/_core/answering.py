"""Answering from memory (:meth:`Memory.context`, :meth:`Memory.respond`): built on the
public search, profile and add, with the reader prompt of :mod:`agentmem.reader`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidInput, LLMError
from ..inputs import check_id, check_positive_int
from ..llm import LLM, LLMRequest, MeteredLLM
from ..reader import build_reader_prompt, format_date, format_history, items_from_hits
from ..stores.summaries import Profile
from ..temporal import parse_timestamp, utcnow
from ..types import AddResult, Answer, Hit

__all__ = ["Answering"]


class Answering:
    """The answering part of the :class:`~agentmem.Memory` API."""

    llm: MeteredLLM | None

    if TYPE_CHECKING:
        def search(self, query: str, *, user_id: str, k: int = 5,
                   now: str | datetime | None = None,
                   question_date: str | datetime | None = None) -> list[Hit]: ...

        def profile(self, user_id: str) -> Profile: ...

        def add(self, messages: Sequence[dict[str, Any]], *, user_id: str, session_id: str,
                timestamp: str | datetime | None = None) -> AddResult: ...

    # -- answering from memory --------------------------------------------------------

    def context(self, query: str, *, user_id: str, k: int = 5,
                now: str | datetime | None = None,
                question_date: str | datetime | None = None) -> str:
        """The memories relevant to ``query`` as LongMemEval's structured reader block:
        one ``### Session i`` section per session, sorted by date, each with its
        ``Session Date`` and its retrieved turns as JSON. Paste it into a prompt."""
        hits = self.search(query, user_id=user_id, k=k, now=now, question_date=question_date)
        portrait = self.profile(user_id).portrait
        block = format_history(items_from_hits(hits))
        return f"### User portrait:\n{portrait}\n\n{block}" if portrait else block

    def respond(self, query: str, *, user_id: str, llm: LLM | None = None, k: int = 5,
                now: str | datetime | None = None, chain_of_note: bool = True,
                max_tokens: int = 512, session_id: str | None = None) -> Answer:
        """Answer ``query`` from ``user_id``'s memory: search, build the reader prompt
        (dated sessions as JSON, Chain-of-Note: "first extract the relevant
        information, then reason to the answer"), and ask ``llm`` (default: the
        memory's). With ``session_id`` the question and the answer are then added to
        the memory in that session. A model failure gives an :class:`Answer` with
        ``error`` set, never an exception, unless no model is configured
        (:class:`ConfigError`)."""
        model: LLM | None = llm if llm is not None else self.llm
        if model is None:
            raise ConfigError("respond needs an LLM: Memory(llm=...) or respond(llm=...)")
        if llm is not None and not isinstance(llm, LLM):
            raise InvalidInput("llm", "must provide name and complete(requests)")
        if session_id is not None:
            session_id = check_id(session_id, "session_id")
        anchor = utcnow() if now is None else parse_timestamp(now, field="now")
        hits = self.search(query, user_id=user_id, k=k, now=anchor)
        prompt = build_reader_prompt(query, items_from_hits(hits),
                                     question_date=format_date(anchor),
                                     chain_of_note=chain_of_note,
                                     portrait=self.profile(user_id).portrait or None)
        request = LLMRequest(messages=({"role": "user", "content": prompt},),
                             max_tokens=check_positive_int(max_tokens, "max_tokens"),
                             operation="reader")
        try:
            [done] = model.complete([request])
        except LLMError as exc:
            return Answer(text="", hits=tuple(hits), prompt=prompt, error=str(exc))
        if not done.ok:
            return Answer(text="", hits=tuple(hits), prompt=prompt, error=done.error)
        if session_id is not None:
            self.add([{"role": "user", "content": query},
                      {"role": "assistant", "content": done.text.strip() or "(no answer)"}],
                     user_id=user_id, session_id=session_id, timestamp=anchor)
        return Answer(text=done.text.strip(), hits=tuple(hits), prompt=prompt)


"""LangChain and LangGraph adapters for agentmem.

- :class:`AgentMemChatMessageHistory`: a LangChain chat history (for
  ``RunnableWithMessageHistory``) whose messages are agentmem turns of one session.
- :class:`AgentMemRetriever`: a LangChain retriever over :meth:`Memory.search`.
- :class:`AgentMemStore`: a LangGraph long-term store (``create_agent(...,
  store=...)``, ``StateGraph.compile(store=...)``) kept in agentmem; defined in
  :mod:`agentmem.integrations.langgraph` and needs the ``langgraph`` extra
  (``pip install 'agentmem-local[langgraph]'``). This module imports without it; only
  ``AgentMemStore`` itself then raises :class:`ImportError`.

Messages and turns
------------------
LangChain message types map to agentmem roles: human -> ``user``, AI -> ``assistant``,
system -> ``system``, and a ``ChatMessage`` by its role (``user``/``human``,
``assistant``/``ai``, ``system``; any other role is refused). Tool results
(``ToolMessage``, legacy ``FunctionMessage``) are stored as ``assistant`` turns named
after the tool: they are part of the assistant's work on the user's request, and a
round unit then holds them with the answer. ``tool_messages="skip"`` leaves them out
instead (and drops the tool calls of AI messages; an AI message with nothing but tool
calls is then not stored). An AI message with tool calls and no text is stored with
the text ``[tool calls] name({...args})`` so the turn is searchable.

Each turn keeps the LangChain message (its type, id, tool calls, tool call id,
metadata, non-text content) under ``metadata["langchain"]``, so :attr:`messages`
gives back the same message types. A turn written without the adapter (by
:meth:`Memory.add`) reads back as a Human, AI or System message by its role. Read
messages carry their turn's time as ``response_metadata["timestamp"]`` (ISO 8601,
UTC) and, when they had none, their turn id as ``id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Self

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_chunk_to_message,
    messages_from_dict,
)
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, model_validator

from ..errors import InvalidInput
from ..ext import (
    check_filter,
    check_id,
    check_positive_int,
    format_timestamp,
    parse_timestamp,
    utcnow,
)
from ..memory import Memory
from ..service.aio import AsyncMemory
from ..service.client import RemoteMemory
from ..types import SEARCH_MODES, Hit, Turn

if TYPE_CHECKING:
    from .langgraph import AgentMemStore

__all__ = ["AgentMemChatMessageHistory", "AgentMemRetriever", "AgentMemStore"]

#: the key of a turn's metadata holding its LangChain message
METADATA_KEY = "langchain"
_CHAT_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant",
               "system": "system"}
_TIMESTAMP_KEYS = ("timestamp", "created_at")
_TOOL_CALL_FIELDS = ("tool_calls", "invalid_tool_calls", "tool_call_chunks")


def __getattr__(name: str) -> Any:
    """``AgentMemStore``, imported on first use (it needs the ``langgraph`` extra)."""
    if name == "AgentMemStore":
        from .langgraph import AgentMemStore

        return AgentMemStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- chat history -------------------------------------------------------------------

def _message_time(message: BaseMessage, where: str) -> datetime | None:
    """The time a message carries in ``additional_kwargs`` or ``response_metadata``
    (``timestamp`` or ``created_at``: ISO 8601, a datetime, or epoch seconds)."""
    for part, found in (("additional_kwargs", message.additional_kwargs),
                        ("response_metadata", message.response_metadata)):
        for key in _TIMESTAMP_KEYS:
            value = found.get(key) if isinstance(found, dict) else None
            if value is None:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                try:
                    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
                except (OverflowError, OSError, ValueError):
                    raise InvalidInput(f"{where}.{part}.{key}",
                                       f"not a valid epoch time: {value!r}") from None
            return parse_timestamp(value, field=f"{where}.{part}.{key}")
    return None


def _role(message: BaseMessage, where: str) -> str:
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, (AIMessage, ToolMessage, FunctionMessage)):
        return "assistant"
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, ChatMessage):
        role = _CHAT_ROLES.get(message.role.lower())
        if role is None:
            raise InvalidInput(f"{where}.role", f"chat role {message.role!r} has no agentmem "
                                                f"role; use one of {', '.join(_CHAT_ROLES)}")
        return role
    raise InvalidInput(where, f"cannot store a {type(message).__name__}")


def _tool_call_text(message: AIMessage) -> str:
    calls = [f"{c['name']}({json.dumps(c.get('args', {}), ensure_ascii=False, sort_keys=True)})"
             for c in message.tool_calls]
    return "[tool calls] " + ", ".join(calls) if calls else ""


def _to_turn(message: BaseMessage, where: str, default_time: datetime, *, keep_tools: bool
             ) -> dict[str, Any] | None:
    """The :meth:`Memory.add` message dict of a LangChain message (None: skipped)."""
    if not isinstance(message, BaseMessage):
        raise InvalidInput(where, f"must be a LangChain message, got {type(message).__name__}")
    message = message_chunk_to_message(message)
    if isinstance(message, RemoveMessage):
        raise InvalidInput(where, "a RemoveMessage cannot be stored; use clear()")
    role = _role(message, where)
    if not keep_tools and isinstance(message, (ToolMessage, FunctionMessage)):
        return None
    data = json.loads(json.dumps(message.model_dump(), default=str, ensure_ascii=False))
    data.pop("type", None)
    if not keep_tools:
        for f in _TOOL_CALL_FIELDS:
            data.pop(f, None)
    text = str(message.text)
    if not text.strip() and keep_tools and isinstance(message, AIMessage):
        text = _tool_call_text(message)
    if not text.strip():
        if not keep_tools and isinstance(message, AIMessage) and message.tool_calls:
            return None  # nothing but tool calls
        raise InvalidInput(f"{where}.content", "has no text to store")
    if data.get("content") == text:
        data.pop("content")  # the turn's content holds it
    data = {k: v for k, v in data.items() if v not in (None, {}, [])}
    name = message.name if isinstance(message.name, str) and message.name.strip() else None
    return {"role": role, "content": text, "name": name,
            "timestamp": _message_time(message, where) or default_time,
            "metadata": {METADATA_KEY: {"type": message.type, **data}}}


def _from_turn(turn: Turn) -> BaseMessage:
    """The LangChain message of a stored turn."""
    kept = turn.metadata.get(METADATA_KEY)
    message: BaseMessage | None = None
    if isinstance(kept, dict) and isinstance(kept.get("type"), str):
        data = {k: v for k, v in kept.items() if k != "type"}
        data.setdefault("content", turn.content)
        try:
            message = messages_from_dict([{"type": kept["type"], "data": data}])[0]
        except Exception:  # a foreign or damaged record: read it by its role below
            message = None
    if message is None:
        cls = {"user": HumanMessage, "system": SystemMessage}.get(turn.role, AIMessage)
        message = cls(content=turn.content, name=turn.name)
    if message.id is None:
        message.id = turn.id
    message.response_metadata = {**message.response_metadata,
                                 "timestamp": format_timestamp(turn.timestamp)}
    return message


class AgentMemChatMessageHistory(BaseChatMessageHistory):
    """A LangChain chat history stored as one agentmem session.

    ``add_messages`` writes the messages with :meth:`Memory.add` (one transaction),
    each dated by the ``timestamp`` (or ``created_at``) in its ``additional_kwargs``
    or ``response_metadata`` when it has one, else now (UTC). ``messages`` reads the
    session's turns back from SQL in order; ``clear`` deletes the session with
    :meth:`Memory.delete_session` (its turns and everything derived from them).
    See the module docstring for how message types map to roles.

    Args:
        memory: the agentmem :class:`Memory`, or a
            :class:`~agentmem.service.client.RemoteMemory` of a memory server.
        user_id: the user the conversation belongs to.
        session_id: the session (conversation) id.
        tool_messages: ``"keep"`` (default) stores tool results as ``assistant`` turns
            and AI tool calls with their message; ``"skip"`` leaves both out.
    """

    def __init__(self, memory: Memory | RemoteMemory, user_id: str, session_id: str, *,
                 tool_messages: Literal["keep", "skip"] = "keep") -> None:
        if not isinstance(memory, (Memory, RemoteMemory)):
            raise InvalidInput("memory", f"must be an agentmem Memory or RemoteMemory, got "
                                         f"{type(memory).__name__}")
        if tool_messages not in ("keep", "skip"):
            raise InvalidInput("tool_messages", f"must be 'keep' or 'skip', got "
                                                f"{tool_messages!r}")
        self.memory = memory
        self.user_id = check_id(user_id, "user_id")
        self.session_id = check_id(session_id, "session_id")
        self.tool_messages = tool_messages

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first, read from SQL."""
        return [_from_turn(t) for t in
                self.memory.turns(self.user_id, session_id=self.session_id)]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store messages in the session (validated first; all or nothing)."""
        if isinstance(messages, BaseMessage) or not isinstance(messages, Sequence):
            raise InvalidInput("messages", "must be a list of LangChain messages")
        now = utcnow()
        found = [_to_turn(m, f"messages[{i}]", now, keep_tools=self.tool_messages == "keep")
                 for i, m in enumerate(messages)]
        turns = [t for t in found if t is not None]
        if turns:
            self.memory.add(turns, user_id=self.user_id, session_id=self.session_id)

    def clear(self) -> None:
        """Delete the session and everything derived from it."""
        self.memory.delete_session(self.user_id, self.session_id)

    def __repr__(self) -> str:
        return (f"AgentMemChatMessageHistory(user_id={self.user_id!r}, "
                f"session_id={self.session_id!r})")


# -- retriever ------------------------------------------------------------------------

_SEARCH_OPTIONS = ("k", "mode", "kinds", "candidates", "now", "question_date",
                   "time_aware", "include_forgotten", "session_id", "since", "until",
                   "roles", "metadata", "min_score")


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """A hit's fields as LangChain document metadata (JSON-friendly): ``id``,
    ``kind``, ``user_id``, ``session_id``, ``timestamp`` (ISO 8601), ``score``,
    ``scores``, ``store``; ``turn_ids`` when it has source turns; ``retention`` and
    ``strength`` under MemoryBank decay."""
    meta: dict[str, Any] = {
        "id": hit.id, "kind": hit.kind, "user_id": hit.user_id,
        "session_id": hit.session_id, "timestamp": format_timestamp(hit.timestamp),
        "score": hit.score, "scores": dict(hit.scores), "store": hit.store}
    if hit.turns:
        meta["turn_ids"] = list(hit.turn_ids)
    if hit.retention is not None:
        meta["retention"] = hit.retention
    if hit.strength is not None:
        meta["strength"] = hit.strength
    return meta


class AgentMemRetriever(BaseRetriever):
    """A LangChain retriever over :meth:`Memory.search` for one user.

    Each hit becomes a :class:`~langchain_core.documents.Document` whose
    ``page_content`` is the hit's text, ``id`` the unit (or thought) id, and
    ``metadata`` the fields :func:`hit_metadata` lists. The search options below are
    defaults; a call may override them: ``retriever.invoke(query, k=3,
    now="2023-06-10")``. ``memory`` may be a :class:`Memory` or a
    :class:`~agentmem.service.client.RemoteMemory`. Async calls (``ainvoke``) search
    through ``async_memory`` when it is set (an
    :class:`~agentmem.service.aio.AsyncMemory`, e.g. ``AsyncMemory.remote(url)``),
    else run the synchronous search in the default executor; neither blocks the
    event loop.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Memory | RemoteMemory
    """The agentmem memory searched (local, or a memory server's)."""
    async_memory: AsyncMemory | None = None
    """What async calls search, when set (the same memory, as coroutines)."""
    user_id: str
    """Whose memories are searched."""
    k: int = 5
    """How many documents to return."""
    mode: str = "hybrid"
    """``hybrid`` (dense + lexical), ``dense`` or ``lexical``."""
    kinds: Sequence[str] | None = None
    """Only units of these kinds (e.g. ``("round",)``, ``("thought",)``)."""
    candidates: int | None = None
    """How many candidates each retriever contributes (default: the memory's)."""
    now: datetime | str | None = None
    """The current time time expressions in queries resolve against (default: now)."""
    question_date: datetime | str | None = None
    """Alias of ``now`` (LongMemEval's name)."""
    time_aware: bool = True
    """Move units dated in the period a query names ahead."""
    include_forgotten: bool = False
    """With MemoryBank decay: include archived units."""
    session_id: str | Sequence[str] | None = None
    """Only these sessions' memories (filters apply before the top ``k``)."""
    since: datetime | str | None = None
    """Only memories dated at or after this time."""
    until: datetime | str | None = None
    """Only memories dated before this time."""
    roles: Sequence[str] | None = None
    """Only memories with a turn of one of these roles."""
    metadata: dict[str, Any] | None = None
    """Only memories with a turn whose metadata matches (equality, ``{"$in": [...]}``)."""
    min_score: float = 0.0
    """Leave out documents whose ``score`` (a relevance in [0, 1]) is below this."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        check_id(self.user_id, "user_id")
        check_positive_int(self.k, "k")
        if self.mode not in SEARCH_MODES:
            raise InvalidInput("mode", f"must be one of {', '.join(SEARCH_MODES)}, "
                                       f"got {self.mode!r}")
        if self.candidates is not None:
            check_positive_int(self.candidates, "candidates")
        check_filter(self.session_id, self.since, self.until, self.roles, self.metadata)
        if isinstance(self.min_score, bool) or not 0.0 <= self.min_score <= 1.0:
            raise InvalidInput("min_score", f"must be a number in [0, 1], got "
                                            f"{self.min_score!r}")
        return self

    def _options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(overrides) - set(_SEARCH_OPTIONS) - {"verbose"})
        if unknown:
            raise InvalidInput(unknown[0], f"unknown search option; use one of "
                                           f"{', '.join(_SEARCH_OPTIONS)}")
        options = {name: getattr(self, name) for name in _SEARCH_OPTIONS}
        options.update((k, v) for k, v in overrides.items() if k in _SEARCH_OPTIONS)
        if "now" in overrides and "question_date" not in overrides:
            options["question_date"] = None
        if "question_date" in overrides and "now" not in overrides:
            options["now"] = None
        return options

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun,
                                **options: Any) -> list[Document]:
        hits = self.memory.search(query, user_id=self.user_id, **self._options(options))
        return [Document(page_content=h.text, metadata=hit_metadata(h), id=h.id)
                for h in hits]

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **options: Any) -> list[Document]:
        if self.async_memory is None:
            return await run_in_executor(None, self._get_relevant_documents, query,
                                         run_manager=run_manager.get_sync(), **options)
        hits = await self.async_memory.search(query, user_id=self.user_id,
                                              **self._options(options))
        return [Document(page_content=h.text, metadata=hit_metadata(h), id=h.id)
                for h in hits]

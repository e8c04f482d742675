"""A LangGraph long-term store backed by agentmem: :class:`AgentMemStore`.

Needs the ``langgraph`` extra (``pip install 'agentmem-local[langgraph]'``). Pass the store
where LangGraph and LangChain 1.x take one: ``StateGraph(...).compile(store=...)``
or ``create_agent(..., store=...)``; nodes and tools reach it through
``langgraph.config.get_store()`` or their runtime (``runtime.store``).

How items are kept
------------------
SQL is the source of truth: each item is a row of the ``store_items`` table
(namespace, key, the JSON value, created/updated times, its agentmem user and the id
of the unit holding its indexed text). The indexed text is an ordinary agentmem unit
(store ``"langgraph"``, kind ``"item"``, session ``"langgraph:<namespace>"``) in the
user's dense and lexical indexes, so :meth:`Memory.search` finds items among the
conversation, :meth:`Memory.delete` of that unit deletes the item, and
:meth:`Memory.forget_user` removes every item of the user.

Namespaces and users
--------------------
Every namespace belongs to one agentmem user. The default, ``user_label="auto"``,
covers the two common layouts: when the first label is LangMem's collection label
(``"memories"``, or a label ending in ``"_memories"`` such as ``"project_memories"``)
and another label follows, that second label is the user: LangMem's
``("memories", "{langgraph_user_id}")`` and ``("memories", "{langgraph_user_id}",
"user_profile")`` belong to the user id the run configures. Otherwise the first label
is the user id: ``("alice", "memories")`` belongs to user ``"alice"`` (the layout
LangGraph's multi-tenant auth gives, the user's identity prepended). For other layouts
give the label's position: ``user_label=0`` always the first (``("memories",
"alice")`` then belongs to a user ``"memories"``), ``1`` the second, ``-1`` the last,
or a callable ``user_label=lambda ns: ...`` any mapping. The id must satisfy
agentmem's id rules (a non-blank string of at most 256 characters, no NUL), and
namespace labels LangGraph's (non-empty strings without ``"."``); a put whose
namespace is too short to name its user raises :class:`InvalidNamespace`. A search or
listing may span users: items are found by namespace, whoever owns them.

Indexing
--------
LangGraph's ``index`` convention: the store's ``fields`` (default ``("$",)``: the
whole value, rendered as ``field: value`` lines) apply unless a put says otherwise;
``put(..., index=False)`` stores an item without indexing it, ``index=["a.b",
"tags[*]"]`` indexes those JSON paths (LangGraph's path syntax). As in LangGraph, each
text found (each field, each element of ``tags[*]``) is embedded on its own: it is a
unit of the item (kind ``"item"``; the first is the item's unit, the others its
children), and an item's search score is that of its best-matching unit; a search
returns each item once. ``fields=False`` indexes nothing unless a put asks. LangGraph's
store config is accepted too: ``AgentMemStore(memory, index={"fields": [...]})`` (its
``dims`` must equal the memory's embedding length; ``embed`` is ignored, agentmem
embeds with the memory's own embedder), and ``store.index_config`` reads back
``{"dims": ..., "fields": [...]}``. Unindexed items are still returned by ``get``
and by ``search`` without a query, and after the ranked ones (score None) with a
query; so are items whose unit
MemoryBank's :meth:`Memory.maintain` archived. A store search does not reinforce
MemoryBank's forgetting curve (it ranks with :meth:`Memory.rank`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from .. import ext
from ..errors import InvalidInput
from ..ext import ITEM_KIND, ITEM_STORE, Items, StoredItem, check_id, check_text, monotone
from ..memory import Memory
from ..service.client import RemoteMemory
from ..types import SEARCH_MODES
from .langgraph_filters import check_filter, matches, namespace_matches

try:
    from langgraph.store.base import (
        BaseStore,
        GetOp,
        InvalidNamespaceError,
        Item,
        ListNamespacesOp,
        Op,
        PutOp,
        Result,
        SearchItem,
        SearchOp,
    )
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "AgentMemStore needs LangGraph: pip install 'agentmem-local[langgraph]'") from exc

from .langgraph_index import default_fields, index_paths, index_texts  # needs langgraph
from .langgraph_wire import decode_results, encode_op

__all__ = ["ITEM_KIND", "ITEM_STORE", "AgentMemStore", "InvalidNamespace"]

_ROOT_RESERVED = "langgraph"
#: LangMem's default collection label: ``("memories", "{langgraph_user_id}")``
LANGMEM_COLLECTION = "memories"


class InvalidNamespace(InvalidInput, InvalidNamespaceError):
    """A namespace LangGraph or agentmem refuses: empty, a label that is not a
    non-empty string without ``"."``, or no label naming the agentmem user. Both an
    :class:`~agentmem.errors.InvalidInput` and LangGraph's ``InvalidNamespaceError``."""

    def __init__(self, message: str) -> None:
        super().__init__("namespace", message)


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _labels(namespace: object, *, empty_ok: bool) -> tuple[str, ...]:
    if not isinstance(namespace, (tuple, list)):
        raise InvalidNamespace(f"must be a tuple of strings, got {type(namespace).__name__}")
    namespace = tuple(namespace)
    if not namespace and not empty_ok:
        raise InvalidNamespace("must not be empty")
    for label in namespace:
        if not isinstance(label, str):
            raise InvalidNamespace(f"label {label!r} in {namespace!r} is not a string")
        if not label:
            raise InvalidNamespace(f"empty label in {namespace!r}")
        if "." in label:
            raise InvalidNamespace(f"label {label!r} in {namespace!r} contains '.'")
        if "\x00" in label:
            raise InvalidNamespace(f"label {label!r} in {namespace!r} contains NUL")
    return namespace


def _is_collection(label: str) -> bool:
    """A LangMem collection label, followed by the user in ``user_label="auto"``."""
    return label == LANGMEM_COLLECTION or label.endswith("_" + LANGMEM_COLLECTION)


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(field, f"must be an integer >= 0, got {value!r}")
    return value


def _json_value(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput("value", f"must be a dict (or None to delete), got "
                                    f"{type(value).__name__}")
    bad = next((k for k in value if not isinstance(k, str)), None)
    if bad is not None:
        raise InvalidInput("value", f"keys must be strings, got {bad!r}")
    try:
        out = json.loads(json.dumps(dict(value), allow_nan=False, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInput("value", f"must be JSON-serialisable ({exc})") from None
    assert isinstance(out, dict)
    return out


def _session(namespace: tuple[str, ...]) -> str:
    """The session id of an item's unit: ``langgraph:<namespace>`` (hashed if long)."""
    joined = ext.join_namespace(namespace)
    sid = f"{ITEM_STORE}:{joined}"
    if len(sid) > 256:
        sid = f"{ITEM_STORE}:{hashlib.sha256(joined.encode('utf-8')).hexdigest()}"
    return sid


@dataclass(frozen=True)
class _Put:
    """A validated put (``value`` None: a delete)."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    user_id: str
    texts: list[str] | None


class AgentMemStore(BaseStore):
    """A LangGraph ``BaseStore`` keeping its items in an agentmem :class:`Memory`.

    ``get``/``put``/``delete`` are exact by (namespace, key), with JSON values,
    ``created_at``/``updated_at`` and overwrite semantics (an overwrite keeps
    ``created_at``); ``search`` with a ``query`` ranks items by agentmem's search
    (``mode``: hybrid dense + lexical by default), ``filter`` matches value fields like
    LangGraph's in-memory store (exact values, nested dicts, ``$eq``, ``$ne``, ``$gt``,
    ``$gte``, ``$lt``, ``$lte``; dotted keys such as ``"user.access-level"`` address
    nested values, see :mod:`~agentmem.integrations.langgraph_filters`),
    ``limit``/``offset`` page; ``list_namespaces``
    supports prefix/suffix (with ``"*"`` wildcards), ``max_depth``, ``limit`` and
    ``offset``. Sync and async (``abatch`` runs ``batch`` in the default executor, so
    the event loop never blocks). TTLs are not supported.

    Over a :class:`~agentmem.service.client.RemoteMemory` the store behaves the same:
    each batch is validated here, then sent to the server's ``POST /v1/store``, which
    runs it through an ``AgentMemStore`` with these settings over its memory (a token
    scoped to some users may only touch their namespaces); ``abatch`` sends it over
    an ``httpx.AsyncClient``. The store's settings are checked by the server when the
    store is made; ``user_label`` must then be ``"auto"`` or a position.

    Args:
        memory: the agentmem :class:`Memory` holding the items, or a
            :class:`~agentmem.service.client.RemoteMemory` for a memory server's.
        user_label: which namespace label names the agentmem user the item belongs to:
            ``"auto"`` (default: the label after a leading ``"memories"`` or
            ``"*_memories"`` collection label, LangMem's layout, else the first), a
            position (0 the first; negative counts from the end), or a callable
            mapping a namespace tuple to a user id.
        fields: the JSON paths indexed by default (``("$",)``: the whole value);
            ``False``: items are not indexed unless a put gives ``index=[...]``.
        mode: agentmem's search mode for queries: ``"hybrid"``, ``"dense"`` or
            ``"lexical"``.
        index: LangGraph's store index config (``{"dims": ..., "embed": ...,
            "fields": [...]}``): its ``fields`` are the default fields (not with
            ``fields=`` too), ``dims`` must equal the memory's embedding length and
            ``embed`` is ignored (the memory's embedder embeds).

    Ops in one batch run in order, each put in its own transaction; every op is
    validated before any runs, so a bad op leaves the batch unwritten.
    """

    def __init__(self, memory: Memory | RemoteMemory, *,
                 user_label: int | Literal["auto"] | Callable[[tuple[str, ...]], str]
                 = "auto",
                 fields: Sequence[str] | Literal[False] | None = None,
                 mode: str = "hybrid", index: Mapping[str, Any] | None = None) -> None:
        if not isinstance(memory, (Memory, RemoteMemory)):
            raise InvalidInput("memory", f"must be an agentmem Memory or RemoteMemory, "
                                         f"got {type(memory).__name__}")
        if isinstance(user_label, bool) or not (
                isinstance(user_label, int) or callable(user_label) or user_label == "auto"):
            raise InvalidInput("user_label", "must be 'auto', a label position (int) or a "
                                             "callable mapping a namespace to a user id")
        if mode not in SEARCH_MODES:
            raise InvalidInput("mode", f"must be one of {', '.join(SEARCH_MODES)}, "
                                       f"got {mode!r}")
        self.memory = memory
        self.user_label = user_label
        self.mode = mode
        self.fields: tuple[str, ...] | None
        if isinstance(memory, RemoteMemory):
            if callable(user_label):
                raise InvalidInput("user_label", "over a RemoteMemory must be 'auto' or a "
                                                 "label position (a callable cannot be sent)")
            wanted = dict(index) if isinstance(index, Mapping) else index
            asked = wanted.pop("dims", None) if isinstance(wanted, dict) else None
            self.fields = index_paths(default_fields(wanted, fields, 0), "fields")
            self.settings: dict[str, Any] = {
                "user_label": user_label, "mode": mode, "dims": asked,
                "fields": False if self.fields is None else list(self.fields)}
            dims = memory.store_batch([], self.settings)["dims"]  # the server checks them
        else:
            dims = memory.strategy(Items).dims
            self.fields = index_paths(default_fields(index, fields, dims), "fields")
        #: LangGraph's store index config, as this store applies it
        self.index_config: dict[str, Any] = {"dims": dims, "fields": list(self.fields or ())}

    @property
    def _local(self) -> Memory:
        """The local memory (the local path only)."""
        assert isinstance(self.memory, Memory)
        return self.memory

    # -- namespaces and users ---------------------------------------------------------

    def user_for(self, namespace: tuple[str, ...]) -> str:
        """The agentmem user id the items of ``namespace`` belong to."""
        namespace = _labels(namespace, empty_ok=False)
        if callable(self.user_label):
            user = self.user_label(namespace)
        elif self.user_label == "auto":
            user = namespace[1] if len(namespace) > 1 and _is_collection(namespace[0]) \
                else namespace[0]
        else:
            try:
                user = namespace[self.user_label]
            except IndexError:
                raise InvalidNamespace(
                    f"{namespace!r} has no label at position {self.user_label} to name "
                    f"the agentmem user (user_label={self.user_label})") from None
        try:
            return check_id(user, "user_id")
        except InvalidInput as exc:
            raise InvalidNamespace(f"the user id {user!r} taken from {namespace!r} is not "
                                   f"valid: {exc.message}") from None

    # -- batch ------------------------------------------------------------------------

    def user_under(self, prefix: tuple[str, ...]) -> str | None:
        """The one agentmem user every namespace under ``prefix`` belongs to, or None
        when they may belong to several (or ``user_label`` is a callable)."""
        prefix = _labels(prefix, empty_ok=True)
        if callable(self.user_label) or not prefix:
            return None
        if self.user_label == "auto":
            pinned = not _is_collection(prefix[0]) or len(prefix) > 1
        else:
            pinned = 0 <= self.user_label < len(prefix)
        return self.user_for(prefix) if pinned else None

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in order; one result per op (None for a put)."""
        ops = list(ops)
        todo = [self._check(op) for op in ops]
        if isinstance(self.memory, RemoteMemory):
            return decode_results(ops, self.memory.store_batch(
                [encode_op(op) for op in ops], self.settings))
        items = self._local.strategy(Items)
        results: list[Result] = []
        pending = erased = False
        try:
            for op in todo:
                if isinstance(op, _Put):
                    erased |= self._put(op)
                    pending = True
                    results.append(None)
                elif isinstance(op, GetOp):
                    results.append(self._get(op))
                elif isinstance(op, SearchOp):
                    if pending:  # the dense index must hold the puts before this
                        items.flush()
                        pending = False
                    results.append(self._search(op))
                else:
                    results.append(self._list(op))
        finally:
            if pending or erased:
                items.flush(scrub=erased)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` in the event loop's default executor; over a RemoteMemory, sent
        with an ``httpx.AsyncClient`` (one per call: a loop may not reuse another's)."""
        todo = list(ops)
        if isinstance(self.memory, RemoteMemory):
            for op in todo:
                self._check(op)
            async with self.memory.asynchronous() as remote:
                answer = await remote.store_batch([encode_op(op) for op in todo],
                                                  self.settings)
            return decode_results(todo, answer)
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, todo)

    def _check(self, op: object) -> _Put | GetOp | SearchOp | ListNamespacesOp:
        """Validate an op before anything runs."""
        if isinstance(op, PutOp):
            namespace = _labels(op.namespace, empty_ok=False)
            if namespace[0] == _ROOT_RESERVED:
                raise InvalidNamespace(f"the root label {_ROOT_RESERVED!r} is reserved by "
                                       f"LangGraph: {namespace!r}")
            key = check_id(op.key, "key")
            if op.ttl is not None:
                raise NotImplementedError("AgentMemStore does not support TTLs (ttl=None)")
            user = self.user_for(namespace)
            if op.value is None:
                return _Put(namespace, key, None, user, None)
            value = _json_value(op.value)
            paths = self.fields if op.index is None else index_paths(op.index, "index")
            return _Put(namespace, key, value, user, index_texts(value, paths))
        if isinstance(op, GetOp):
            return op._replace(namespace=_labels(op.namespace, empty_ok=False),
                               key=check_id(op.key, "key"))
        if isinstance(op, SearchOp):
            op = op._replace(namespace_prefix=_labels(op.namespace_prefix, empty_ok=True))
            if op.filter is not None:
                check_filter(op.filter)
            _count(op.limit, "limit")
            _count(op.offset, "offset")
            if op.query is not None and not isinstance(op.query, str):
                raise InvalidInput("query", f"must be a string, got {type(op.query).__name__}")
            if op.query is not None and op.query.strip():
                check_text(op.query, "query")  # as the search will, before any put runs
            return op
        if isinstance(op, ListNamespacesOp):
            for c in op.match_conditions or ():
                if c.match_type not in ("prefix", "suffix"):
                    raise InvalidInput("match_type", f"must be 'prefix' or 'suffix', got "
                                                     f"{c.match_type!r}")
                if not isinstance(c.path, (tuple, list)) or not all(
                        isinstance(p, str) for p in c.path):
                    raise InvalidNamespace(f"a {c.match_type} must be a tuple of strings, "
                                           f"got {c.path!r}")
                _labels(tuple(p for p in c.path if p != "*"), empty_ok=True)
            if op.max_depth is not None and (_count(op.max_depth, "max_depth") < 1):
                raise InvalidInput("max_depth", "must be >= 1 (or None)")
            _count(op.limit, "limit")
            _count(op.offset, "offset")
            return op
        raise InvalidInput("op", f"unknown store operation {type(op).__name__}")

    # -- operations -------------------------------------------------------------------

    def _put(self, op: _Put) -> bool:
        """Write (or delete) one item in one transaction; True when an item was
        overwritten or deleted (the caller scrubs the files of its old text)."""
        return self._local.strategy(Items).put(
            op.namespace, op.key, user_id=op.user_id, value=op.value, text=op.texts,
            session_id=_session(op.namespace))

    def _get(self, op: GetOp) -> Item | None:
        found = self._local.strategy(Items).get(op.namespace, op.key)
        if found is None:
            return None
        return Item(value=found.value, key=found.key, namespace=found.namespace,
                    created_at=_aware(found.created_at), updated_at=_aware(found.updated_at))

    def _search(self, op: SearchOp) -> list[SearchItem]:
        rows = [r for r in self._local.strategy(Items).under(op.namespace_prefix)
                if matches(r.value, op.filter)]
        scored: list[tuple[StoredItem, float | None]] = [(r, None) for r in rows]
        if op.query and op.query.strip() and rows:
            ranked = self._rank(op.query, rows, op.offset + op.limit)
            seen = {(r.namespace, r.key) for r, _ in ranked}
            scored = [*ranked, *((r, None) for r in rows if (r.namespace, r.key) not in seen)]
        return [SearchItem(namespace=r.namespace, key=r.key, value=r.value,
                           created_at=_aware(r.created_at), updated_at=_aware(r.updated_at),
                           score=score)
                for r, score in scored[op.offset : op.offset + op.limit]]

    def _rank(self, query: str, rows: Sequence[StoredItem], want: int
              ) -> list[tuple[StoredItem, float | None]]:
        """The indexed ones of ``rows`` ranked by agentmem's search of each owner (no
        MemoryBank reinforcement), best first, each with its relevance (agentmem's
        ``Hit.score``: cosine-based, in [0, 1], comparable across owners). An item's
        units (one per indexed field) count for the item, which keeps its best place
        and its best unit's relevance. Each owner's retrievers are widened until
        ``want`` of its items are ranked or every unit of the owner is a candidate.
        Within an owner the fused order stands and scores are made monotone down it;
        several owners' lists are merged by score."""
        mem = self._local
        by_owner: dict[str, dict[str, StoredItem]] = {}
        for r in rows:
            if r.unit_id:
                by_owner.setdefault(r.user_id, {})[r.unit_id] = r
        found: list[tuple[StoredItem, float | None]] = []
        for owner, mine in sorted(by_owner.items()):
            of_item = mem.strategy(Items).item_units(list(mine))  # unit -> item's unit
            total = mem.strategy(Items).unit_count(owner)
            n = max(mem.candidates, 4 * max(want, 1))
            while True:
                ranked = mem.ranking(query, user_id=owner, mode=self.mode, candidates=n,
                                     kinds=[ITEM_KIND], time_aware=False, relevance=True)
                order: list[str] = []
                relevance: dict[str, float] = {}
                for i, _ in ranked.order:  # best first: an item's first unit is its best
                    if i in of_item:
                        item = of_item[i]
                        if item not in relevance:
                            order.append(item)
                        relevance[item] = max(relevance.get(item, 0.0),
                                              ranked.scores["relevance"].get(i, 0.0))
                if len(order) >= min(want, len(mine)) or n >= total:
                    break
                n = min(n * 4, total)
            found.extend(zip((mine[i] for i in order),
                             monotone([relevance[i] for i in order]), strict=True))
        found.sort(key=lambda rs: -(rs[1] or 0.0))  # stable: each owner's order stands
        return found

    def _list(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        names = self._local.strategy(Items).namespaces()
        names = [ns for ns in names
                 if all(namespace_matches(tuple(c.path), c.match_type, ns)
                        for c in op.match_conditions or ())]
        if op.max_depth is not None:
            names = sorted({ns[: op.max_depth] for ns in names})
        return names[op.offset : op.offset + op.limit]

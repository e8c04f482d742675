"""``POST /v1/store``: the LangGraph store of a memory server, for
:class:`~agentmem.integrations.langgraph.AgentMemStore` over a
:class:`~agentmem.service.client.RemoteMemory`.

The batch (:class:`~agentmem.service.wire.StoreRequest`) runs through an
``AgentMemStore`` built with the client's settings over the server's memory, so a
store over a RemoteMemory behaves as one over the local Memory. Auth: every op is
checked before any runs. A put or get needs a token for the user its namespace maps
to (the store's own mapping, ``user_label``) and for the owner of the item already
there; a search or listing needs one for the single user its prefix pins, or a token
for every user when the prefix may span several, and a scoped token's results keep
only its users' items (and namespaces holding one). Registered only when LangGraph
is installed (the ``langgraph`` extra).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..memory import Memory
from .auth import Access, Auth
from .wire import API, StoreRequest

__all__ = ["add_store_route"]


def add_store_route(app: FastAPI, memory: Memory) -> bool:
    """Add ``POST /v1/store`` to ``app`` (whose ``state.tokens`` holds its tokens);
    False when LangGraph is not installed."""
    try:
        from langgraph.store.base import GetOp, ListNamespacesOp, Op, PutOp, SearchOp

        from ..integrations.langgraph import AgentMemStore
        from ..integrations.langgraph_wire import decode_op, encode_result
        from ..strategies import Items
    except ImportError:
        return False

    items = memory.strategy(Items)

    def check(store: AgentMemStore, op: Op, auth: Access) -> None:
        if isinstance(op, (PutOp, GetOp)):
            auth.check(store.user_for(op.namespace))
            # the namespace's mapping is the client's (user_label): the stored owner of
            # an existing item decides too
            found = items.get(tuple(op.namespace), op.key)
            if found is not None:
                auth.check(found.user_id)
        elif isinstance(op, SearchOp):
            auth.check(store.user_under(op.namespace_prefix))
        elif isinstance(op, ListNamespacesOp):
            prefix: tuple[str, ...] = ()
            for c in op.match_conditions or ():
                if c.match_type == "prefix":
                    path = tuple(c.path)
                    prefix = path[: path.index("*")] if "*" in path else path
                    break
            auth.check(store.user_under(prefix))

    def store_batch(req: StoreRequest, auth: Auth) -> dict[str, Any]:
        """Run a batch of LangGraph store ops; answers the embedding length and one
        result per op."""
        s = req.settings
        store = AgentMemStore(memory, user_label=s.user_label, mode=s.mode,
                              fields=s.fields,
                              index=None if s.dims is None else {"dims": s.dims})
        ops = [decode_op(op) for op in req.ops]
        for op in ops:
            check(store, op, auth)
        results = store.batch(ops)
        if auth.users is not None:  # a scoped token sees only its users' items
            results = [_visible(r, auth) for r in results]
        return {"dims": store.index_config["dims"],
                "results": [encode_result(r) for r in results]}

    def _visible(result: Any, auth: Access) -> Any:
        if isinstance(result, list) and result and isinstance(result[0], tuple):
            return [ns for ns in result if any(auth.sees(i.user_id)
                                               for i in items.under(ns))]
        if isinstance(result, list):
            return [r for r in result if (f := items.get(tuple(r.namespace), r.key))
                    is not None and auth.sees(f.user_id)]
        return result

    app.add_api_route(f"{API}/store", store_batch, methods=["POST"], name="store")
    return True

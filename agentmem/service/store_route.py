"""``POST /v1/store``: the LangGraph store of a memory server, for
:class:`~agentmem.integrations.langgraph.AgentMemStore` over a
:class:`~agentmem.service.client.RemoteMemory`.

The batch (:class:`~agentmem.service.wire.StoreRequest`) runs through an
``AgentMemStore`` built with the client's settings over the server's memory, so a
store over a RemoteMemory behaves as one over the local Memory. Auth: every op is
checked before any runs. A put or get needs a token for the user its namespace maps
to (the store's own mapping, ``user_label``); a search or listing needs one for the
single user its prefix pins, or a token for every user when the prefix may span
several. Registered only when LangGraph is installed (the ``langgraph`` extra).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from ..memory import Memory
from .auth import Access, bearer
from .wire import API, StoreRequest

__all__ = ["add_store_route"]


def _access(request: Request) -> Access:
    return bearer(request.headers, request.app.state.tokens)


Auth = Annotated[Access, Depends(_access)]


def add_store_route(app: FastAPI, memory: Memory) -> bool:
    """Add ``POST /v1/store`` to ``app`` (whose ``state.tokens`` holds its tokens);
    False when LangGraph is not installed."""
    try:
        from langgraph.store.base import GetOp, ListNamespacesOp, Op, PutOp, SearchOp

        from ..integrations.langgraph import AgentMemStore
        from ..integrations.langgraph_wire import decode_op, encode_result
    except ImportError:
        return False

    def check(store: AgentMemStore, op: Op, auth: Access) -> None:
        if isinstance(op, (PutOp, GetOp)):
            auth.check(store.user_for(op.namespace))
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
        return {"dims": store.index_config["dims"],
                "results": [encode_result(r) for r in store.batch(ops)]}

    app.add_api_route(f"{API}/store", store_batch, methods=["POST"], name="store")
    return True

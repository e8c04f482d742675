"""Memory strategies behind one protocol (:class:`~agentmem.strategies.base.Strategy`):
episodic units, key expansion, Think-in-Memory thoughts, MemoryBank and LangGraph
items. ``Memory(..., strategies=[...])`` adds more (see ``docs/strategies.md``)."""

from .bank import Forgetting, MemoryBank
from .base import DeleteScope, Strategy, WriteBatch
from .compose import BUILT_IN
from .episodic import DEFAULT_CONTEXT_TURNS, Episodic
from .items import Items
from .keys import Keys
from .thoughts import Thoughts

__all__ = ["BUILT_IN", "DEFAULT_CONTEXT_TURNS", "DeleteScope", "Episodic", "Forgetting",
           "Items", "Keys", "MemoryBank", "Strategy", "Thoughts", "WriteBatch"]

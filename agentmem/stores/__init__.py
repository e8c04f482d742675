"""Memory strategies behind the :class:`~agentmem.stores.base.Store` protocol."""

from .base import Derivation, Store, UnitDraft
from .episodic import EpisodicStore, decompose, render_turns
from .expansion import Expansion, KeyExpander, KeyExpansion, purge_expansions

__all__ = ["Derivation", "EpisodicStore", "Expansion", "KeyExpander", "KeyExpansion", "Store",
           "UnitDraft", "decompose", "purge_expansions", "render_turns"]

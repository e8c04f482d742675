"""Memory strategies behind the :class:`~agentmem.stores.base.Store` protocol."""

from .base import Derivation, Store, UnitDraft
from .episodic import EpisodicStore, decompose, render_turns

__all__ = ["Derivation", "EpisodicStore", "Store", "UnitDraft", "decompose", "render_turns"]

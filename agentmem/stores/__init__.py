"""The source papers' algorithms the strategies (:mod:`agentmem.strategies`) run: the
episodic derivation behind the :class:`~agentmem.stores.base.Store` protocol, key
expansion, the Think-in-Memory thought store, MemoryBank's forgetting curve and
summaries."""

from .bank import Decay, MaintenanceResult
from .base import Derivation, Store, UnitDraft
from .episodic import EpisodicStore, decompose, render_turns
from .expansion import Expansion, KeyExpander, KeyExpansion, purge_expansions
from .summaries import Profile, Summaries
from .thinking import Exchange, Thinker, ThoughtDraft
from .thoughts import ThoughtChange, ThoughtConfig, ThoughtStore

__all__ = ["Decay", "Derivation", "EpisodicStore", "Exchange", "Expansion", "KeyExpander",
           "KeyExpansion", "MaintenanceResult", "Profile", "Store", "Summaries", "Thinker",
           "ThoughtChange", "ThoughtConfig", "ThoughtDraft", "ThoughtStore", "UnitDraft",
           "decompose", "purge_expansions", "render_turns"]

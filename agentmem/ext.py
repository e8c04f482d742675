"""agentmem's extension API: what a memory strategy, a ranking stage or an adapter
builds on. Everything here is documented in ``docs/strategies.md`` and kept stable;
the modules it comes from are not.

>>> from agentmem import Memory
>>> from agentmem.ext import Strategy
>>> class Nothing(Strategy):
...     name = "nothing"
>>> mem = Memory(strategies=[Nothing()])           # plugs in with one line
>>> mem.strategy(Nothing).name
'nothing'
"""

from ._core.deletion import DeleteScope
from ._core.engine import Engine, WriteTx
from ._core.relevance import monotone
from .index.fusion import reciprocal_rank_fusion, score_fusion
from .inputs import check_filter, check_id, check_positive_int, check_text
from .ranking import (
    Candidates,
    FilterKinds,
    Fuse,
    FuseRecalled,
    LoadInfo,
    MergeKeyRows,
    Pipeline,
    Ranking,
    Recalled,
    RecallQuery,
    SessionContext,
    Stage,
    TimeAware,
    default_pipeline,
)
from .storage.items import ITEM_KIND, ITEM_STORE, StoredItem, join_namespace
from .stores.base import UnitDraft
from .strategies import Episodic, Forgetting, Items, Keys, MemoryBank, Thoughts
from .strategies.base import AfterWrite, Strategy, WriteBatch
from .temporal import format_timestamp, parse_timestamp, utcnow
from .types import Hit, SearchFilter, TimeRange, TraceStep

__all__ = [
    "ITEM_KIND", "ITEM_STORE", "AfterWrite", "Candidates", "DeleteScope", "Engine",
    "Episodic", "FilterKinds", "Forgetting", "Fuse", "FuseRecalled", "Hit", "Items", "Keys",
    "LoadInfo", "MemoryBank", "MergeKeyRows", "Pipeline", "Ranking", "RecallQuery",
    "Recalled", "SearchFilter", "SessionContext", "Stage", "StoredItem", "Strategy",
    "Thoughts", "TimeAware",
    "TimeRange", "TraceStep", "UnitDraft", "WriteBatch", "WriteTx", "default_pipeline",
    "check_filter", "check_id", "check_positive_int", "check_text", "format_timestamp",
    "join_namespace", "monotone", "parse_timestamp", "reciprocal_rank_fusion", "score_fusion",
    "utcnow",
]

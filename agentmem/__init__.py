"""agentmem: local long-term memory for chatbots and agents.

>>> from agentmem import Memory
>>> mem = Memory()                                   # in memory; Memory(path=...) persists
>>> mem.add([{"role": "user", "content": "I moved to Lisbon."}],
...         user_id="alice", session_id="s1", timestamp="2023-05-20T10:00:00")
>>> mem.search("Where does Alice live?", user_id="alice")[0].text
'user: I moved to Lisbon.'
"""

from .embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from .errors import (
    AccessDenied,
    AgentMemError,
    BackendError,
    ConfigError,
    EmbeddingError,
    ErasureIncomplete,
    InvalidInput,
    LLMError,
    NotFound,
)
from .memory import Memory
from .service.aio import AsyncMemory
from .service.client import RemoteMemory
from .stores import (
    Decay,
    EpisodicStore,
    MaintenanceResult,
    Profile,
    Store,
    Summaries,
    ThoughtChange,
    ThoughtConfig,
    ThoughtDraft,
)
from .temporal import parse_timestamp
from .types import (
    AddResult,
    Hit,
    MemoryEvent,
    MemoryStats,
    MemoryUnit,
    Thought,
    TimeRange,
    Turn,
)

__version__ = "0.1.0"

__all__ = [
    "AccessDenied",
    "AddResult",
    "AgentMemError",
    "AsyncMemory",
    "BackendError",
    "CachedEmbedder",
    "ConfigError",
    "Decay",
    "Embedder",
    "EpisodicStore",
    "EmbeddingError",
    "ErasureIncomplete",
    "Hit",
    "InvalidInput",
    "LLMError",
    "MaintenanceResult",
    "Memory",
    "MemoryStats",
    "MemoryUnit",
    "NotFound",
    "Profile",
    "RemoteMemory",
    "SentenceTransformerEmbedder",
    "Store",
    "Summaries",
    "Thought",
    "ThoughtChange",
    "ThoughtConfig",
    "ThoughtDraft",
    "MemoryEvent",
    "TimeRange",
    "Turn",
    "__version__",
    "parse_timestamp",
]

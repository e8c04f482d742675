"""The agentmem error hierarchy.

Every error agentmem raises on purpose derives from :class:`AgentMemError`::

    AgentMemError
    ├── InvalidInput      bad arguments or data (also a ValueError); names the field
    ├── NotFound          no memory with that id (also a LookupError)
    ├── ConfigError       inconsistent or unsupported configuration
    ├── BackendError      the database, Chroma or the embedder failed
    └── LLMError          the language model failed or returned unusable output
"""

from __future__ import annotations

__all__ = [
    "AgentMemError",
    "BackendError",
    "ConfigError",
    "InvalidInput",
    "LLMError",
    "NotFound",
]


class AgentMemError(Exception):
    """Root of every error agentmem raises on purpose."""


class InvalidInput(AgentMemError, ValueError):
    """Bad input. ``field`` names the offending argument or record field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFound(AgentMemError, LookupError):
    """No memory unit with the requested id exists (or it was deleted)."""


class ConfigError(AgentMemError):
    """The configuration is inconsistent or not supported."""


class BackendError(AgentMemError):
    """A storage, index or model backend failed."""


class LLMError(AgentMemError):
    """A language model call failed or returned unusable output.

    ``raw`` keeps the model's raw text when there was any.
    """

    def __init__(self, message: str, *, raw: str | None = None) -> None:
        self.raw = raw
        super().__init__(message)

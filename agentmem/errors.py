"""The agentmem error hierarchy.

Every error agentmem raises on purpose derives from :class:`AgentMemError`::

    AgentMemError
    ├── InvalidInput      bad arguments or data (also a ValueError); names the field
    │   └── DataError     a data file is missing or malformed; names the file too
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
    "DataError",
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


class DataError(InvalidInput):
    """A data file (an evaluation dataset, an export) is missing or malformed.

    ``path`` is the file; ``field`` the first bad field inside it, as a JSON path
    such as ``[3].haystack_sessions[2][0].role``.
    """

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        super().__init__(field, message)
        self.args = (f"{path}: {field}: {message}" if field else f"{path}: {message}",)

    def __str__(self) -> str:
        return str(self.args[0])


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

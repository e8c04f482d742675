"""The agentmem error hierarchy.

Every error agentmem raises on purpose derives from :class:`AgentMemError`::

    AgentMemError
    ├── InvalidInput      bad arguments or data (also a ValueError); names the field
    │   └── DataError     a data file is missing or malformed; names the file too
    ├── NotFound          no memory with that id (also a LookupError)
    ├── AccessDenied      a memory server refused the token, or the user for it
    ├── ConfigError       inconsistent or unsupported configuration
    ├── BackendError      the database, Chroma or the embedder failed
    │   ├── ErasureIncomplete  deleted, but a reader's snapshot keeps the text in the WAL
    │   └── EmbeddingError     the embedder failed or returned unusable vectors
    └── LLMError          the language model failed or returned unusable output
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AgentMemError",
    "BackendError",
    "ConfigError",
    "DataError",
    "EmbeddingError",
    "ErasureIncomplete",
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


class AccessDenied(AgentMemError, PermissionError):
    """A memory server (``agentmem serve``) refused the request: no token or a wrong
    one, or a token that may not act for that user."""


class ConfigError(AgentMemError):
    """The configuration is inconsistent or not supported."""


class BackendError(AgentMemError):
    """A storage, index or model backend failed."""


class ErasureIncomplete(BackendError):
    """A deletion committed, but its text could not yet be removed from the files.

    The data is gone from the database (no query returns it), but the SQLite write-ahead
    log still holds the deleted content: another connection kept a read transaction
    (a snapshot) open for longer than the erasure waits, so the log could not be
    truncated. The next erasure (or closing the memory) truncates it once no reader
    needs it. ``wal`` is the log file.
    """

    def __init__(self, message: str, *, wal: str | None = None) -> None:
        self.wal = wal
        super().__init__(message)


class EmbeddingError(BackendError):
    """The embedder raised, or returned vectors that cannot be used: not numbers, the
    wrong shape, or not finite. ``bad`` lists the positions (in the texts given) of the
    vectors refused; empty when the whole call failed."""

    def __init__(self, message: str, *, bad: tuple[int, ...] = ()) -> None:
        self.bad = bad
        super().__init__(message)


class LLMError(AgentMemError):
    """A language model call failed or returned unusable output.

    ``raw`` keeps the model's raw text when there was any.
    """

    def __init__(self, message: str, *, raw: str | None = None) -> None:
        self.raw = raw
        super().__init__(message)

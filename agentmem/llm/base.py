"""The LLM protocol: one method that completes a batch of requests.

Every LLM step of agentmem (fact extraction, post-thinking, summaries, the reader, the
judge) builds :class:`LLMRequest` values and hands a batch to :meth:`LLM.complete`,
which returns one :class:`Completion` per request, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidInput

__all__ = ["LLM", "Completion", "LLMRequest"]


@dataclass(frozen=True)
class LLMRequest:
    """One completion request: a plain ``prompt`` or chat ``messages`` (exactly one).

    ``json_schema``, when given, asks for JSON matching it; ``operation`` names the
    step (``"reader"``, ``"judge"``, ...) for usage accounting.
    """

    prompt: str | None = None
    messages: tuple[Mapping[str, str], ...] | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = 0
    json_schema: Mapping[str, Any] | None = None
    operation: str = "default"

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise InvalidInput("prompt", "give exactly one of prompt and messages")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise InvalidInput("max_tokens", f"must be a positive int, got {self.max_tokens!r}")
        if self.temperature < 0:
            raise InvalidInput("temperature", f"must be >= 0, got {self.temperature!r}")

    def as_messages(self) -> list[dict[str, str]]:
        """The request as chat messages (a prompt becomes one user message)."""
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        assert self.prompt is not None
        return [{"role": "user", "content": self.prompt}]


@dataclass(frozen=True)
class Completion:
    """The model's answer to one request. ``parsed`` holds the validated JSON when the
    request had a schema."""

    text: str
    parsed: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class LLM(Protocol):
    """A language model. ``name`` identifies it (model and backend) in manifests."""

    name: str

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Complete every request; one :class:`Completion` per request, in order."""
        ...

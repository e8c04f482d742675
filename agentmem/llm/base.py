"""The LLM protocol: one method that completes a batch of requests.

Every LLM step of agentmem (fact extraction, post-thinking, summaries, the reader, the
judge) builds :class:`LLMRequest` values and hands a batch to :meth:`LLM.complete`,
which returns one :class:`Completion` per request, in order.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidInput, LLMError
from .structured import parse_json, repair_messages, validate_schema

__all__ = ["LLM", "BaseLLM", "Completion", "LLMRequest"]


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
    """The model's answer to one request.

    ``parsed`` holds the validated JSON when the request had a schema. ``error`` is set
    when this item has no usable result (invalid JSON after the retry, or the server
    refused the request): ``text`` then keeps the raw reply and :meth:`json` raises.
    Token counts and latency include the retry when there was one.
    """

    text: str
    parsed: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    retried: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether this item has a usable result."""
        return self.error is None

    def json(self) -> Any:
        """The validated JSON value; :class:`LLMError` (with the raw text) if none."""
        if self.error is not None:
            raise LLMError(self.error, raw=self.text)
        return self.parsed


@runtime_checkable
class LLM(Protocol):
    """A language model. ``name`` identifies it (model and backend) in manifests."""

    name: str

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Complete every request; one :class:`Completion` per request, in order."""
        ...


class BaseLLM(ABC):
    """Base for backends: implement :meth:`_generate` (one pass over a batch); the JSON
    rule — validate, retry failures once with the error shown, then mark the item
    failed — is derived here."""

    name: str = "llm"

    @abstractmethod
    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Raw completions for a batch, in order (``parsed`` left unset)."""

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Complete a batch; schema requests get ``parsed`` or ``error`` (see
        :class:`Completion`). Raises :class:`LLMError` only when the backend fails as a
        whole (e.g. an unreachable server)."""
        requests = list(requests)
        for r in requests:
            if r.json_schema is not None:
                validate_schema(r.json_schema)
        start = time.perf_counter()
        out = self._generate(requests)
        if len(out) != len(requests):
            raise LLMError(f"{self.name}: {len(out)} completions for {len(requests)} requests")
        failed: dict[int, str] = {}
        for i, (r, c) in enumerate(zip(requests, out, strict=True)):
            if r.json_schema is None or c.error is not None:
                continue
            try:
                out[i] = replace(c, parsed=parse_json(c.text, r.json_schema))
            except LLMError as exc:
                failed[i] = str(exc)
        if failed:
            retry = [_repair(requests[i], out[i].text, err) for i, err in failed.items()]
            again = self._generate(retry)
            for (i, _), c2 in zip(failed.items(), again, strict=True):
                first = out[i]
                merged = replace(c2, prompt_tokens=first.prompt_tokens + c2.prompt_tokens,
                                 completion_tokens=first.completion_tokens + c2.completion_tokens,
                                 retried=True)
                schema = requests[i].json_schema
                try:
                    if c2.error is not None:
                        raise LLMError(c2.error, raw=c2.text)
                    out[i] = replace(merged, parsed=parse_json(c2.text, schema))
                except LLMError as exc:
                    out[i] = replace(merged, error=f"{exc} (after one retry)")
        wall = time.perf_counter() - start
        return [c if c.latency_s else replace(c, latency_s=wall) for c in out]


def _repair(r: LLMRequest, raw: str, error: str) -> LLMRequest:
    if r.messages is not None:
        return replace(r, messages=tuple(repair_messages(r.as_messages(), raw, error,
                                                         r.json_schema)))
    wanted = " matching the schema" if r.json_schema else ""
    assert r.prompt is not None
    return replace(r, prompt=f"{r.prompt}{raw}\n\nThat reply was not usable: {error}. "
                             f"Reply again with only a JSON value{wanted}:\n")

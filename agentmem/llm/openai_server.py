"""An OpenAI-compatible server (``vllm serve MODEL``, or any server with the same API)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ..errors import ConfigError, LLMError
from .base import BaseLLM, Completion, LLMRequest

__all__ = ["OpenAICompatibleLLM"]


class OpenAICompatibleLLM(BaseLLM):
    """Completions from an OpenAI-compatible HTTP server.

    Chat requests go to ``/chat/completions`` (JSON through ``response_format`` with a
    JSON schema), plain prompts to ``/completions`` (JSON through vLLM's
    ``structured_outputs`` extra parameter). A batch is sent as concurrent requests
    (at most ``max_concurrency`` at a time). Connection errors, timeouts and 5xx replies
    are retried ``retries`` times with exponential backoff; then :class:`LLMError` names
    the URL. A 4xx reply fails only its own item (``Completion.error``).

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model name.
        api_key: sent as a bearer token when given.
        timeout: seconds per HTTP request.
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float = 120.0, max_concurrency: int = 8, retries: int = 3,
                 backoff_s: float = 0.5) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url: must start with http:// or https://, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ConfigError("model: must be a non-empty string")
        if max_concurrency < 1 or retries < 0 or timeout <= 0:
            raise ConfigError("max_concurrency >= 1, retries >= 0 and timeout > 0 are required")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}@{model}"
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff_s = backoff_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        if len(requests) <= 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _body(self, r: LLMRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": r.max_tokens,
                                "temperature": r.temperature}
        if r.seed is not None:
            body["seed"] = r.seed
        if r.messages is not None:
            body["messages"] = r.as_messages()
            if r.json_schema is not None:
                body["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "output", "schema": dict(r.json_schema)}}
            return "/chat/completions", body
        body["prompt"] = r.prompt
        if r.json_schema is not None:
            body["structured_outputs"] = {"json": dict(r.json_schema)}
        return "/completions", body

    def _one(self, r: LLMRequest) -> Completion:
        path, body = self._body(r)
        url = self.base_url + path
        start = time.perf_counter()
        reply = self._post(url, body)
        latency = time.perf_counter() - start
        if reply.status_code >= 400:
            return Completion(text=reply.text[:2000], latency_s=latency,
                              error=f"{url} answered HTTP {reply.status_code}: "
                                    f"{reply.text[:300]}")
        try:
            data = reply.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if r.messages is not None else choice["text"]
            usage: Mapping[str, Any] = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Completion(text=reply.text[:2000], latency_s=latency,
                              error=f"{url} answered with an unexpected body ({exc!r})")
        return Completion(text=text or "", prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)),
                          latency_s=latency,
                          extra={"finish_reason": choice.get("finish_reason")})

    def _post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                reply = self._client.post(url, json=body)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if reply.status_code >= 500:
                last = f"HTTP {reply.status_code}: {reply.text[:300]}"
                continue
            return reply
        raise LLMError(f"the LLM server at {self.base_url} is unreachable or failing "
                       f"({self.retries + 1} attempts; last: {last})")

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

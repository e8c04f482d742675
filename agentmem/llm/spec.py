"""String specs naming an LLM, for configuration files and command lines.

- ``vllm:/path/to/model`` — an in-process vLLM engine over a local model folder;
- ``openai:http://127.0.0.1:8000/v1@model-name`` — an OpenAI-compatible server
  (``vllm serve``), with the served model's name after ``@``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .base import LLM

__all__ = ["LLMSpec", "load_llm", "parse_llm_spec"]

BACKENDS = ("vllm", "openai")


@dataclass(frozen=True)
class LLMSpec:
    """A parsed spec: ``backend`` (``vllm`` or ``openai``), ``target`` (a model folder
    or a base URL) and ``model`` (the served model name, for ``openai``)."""

    backend: str
    target: str
    model: str | None = None

    def __str__(self) -> str:
        return f"{self.backend}:{self.target}" + (f"@{self.model}" if self.model else "")


def parse_llm_spec(spec: str) -> LLMSpec:
    """Parse ``vllm:PATH`` or ``openai:URL@MODEL``; a clear :class:`ConfigError`
    otherwise."""
    backend, sep, rest = spec.partition(":")
    if not sep or backend not in BACKENDS or not rest:
        raise ConfigError(
            f"llm spec {spec!r}: expected 'vllm:/path/to/model' or "
            "'openai:http://host:port/v1@model-name'")
    if backend == "vllm":
        return LLMSpec("vllm", rest)
    url, at, model = rest.rpartition("@")
    if not at or not url or not model:
        raise ConfigError(f"llm spec {spec!r}: an openai spec names the model after '@', "
                          "e.g. 'openai:http://127.0.0.1:8000/v1@SmolLM2-135M-Instruct'")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"llm spec {spec!r}: the server URL must start with http:// or "
                          "https://")
    return LLMSpec("openai", url, model)


def load_llm(spec: str, **options: Any) -> LLM:
    """The LLM a spec names: a :class:`~agentmem.llm.VLLMEngine` for ``vllm:PATH`` (the
    ``options`` go to ``vllm.LLM``), an :class:`~agentmem.llm.OpenAICompatibleLLM` for
    ``openai:URL@MODEL`` (the ``options`` go to its constructor; the API key, if any,
    is read from ``AGENTMEM_LLM_API_KEY`` or ``OPENAI_API_KEY``)."""
    parsed = parse_llm_spec(spec)
    if parsed.backend == "vllm":
        from .vllm_engine import VLLMEngine

        return VLLMEngine(parsed.target, **options)
    from .openai_server import OpenAICompatibleLLM

    assert parsed.model is not None
    key = os.environ.get("AGENTMEM_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    return OpenAICompatibleLLM(parsed.target, parsed.model, api_key=key, **options)

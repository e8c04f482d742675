"""The LLM layer: every LLM step of agentmem goes through :class:`LLM`.

- :class:`LLMRequest` / :class:`Completion`: the values (prompt or chat messages,
  ``max_tokens``, ``temperature``, ``seed``, an optional JSON schema; text, parsed JSON,
  token counts, latency, a per-item error).
- :class:`VLLMEngine`: vLLM in process; :class:`OpenAICompatibleLLM`: ``vllm serve`` or
  any OpenAI-compatible server. Both derive from :class:`BaseLLM`, which validates JSON
  and retries a failed item once with the error shown to the model.
- :func:`load_llm`: ``"vllm:/path/to/model"`` or ``"openai:http://host:port/v1@model"``.
- :class:`MeteredLLM`: calls, tokens and wall time per operation name.
- :class:`CachedLLM`: completions kept in a SQLite file, asked of the model once.
"""

from .base import LLM, BaseLLM, Completion, LLMRequest
from .cache import CachedLLM
from .openai_server import OpenAICompatibleLLM
from .spec import LLMSpec, load_llm, parse_llm_spec
from .usage import MeteredLLM, OperationUsage
from .vllm_engine import VLLMEngine

__all__ = [
    "LLM",
    "BaseLLM",
    "CachedLLM",
    "Completion",
    "LLMRequest",
    "LLMSpec",
    "MeteredLLM",
    "OpenAICompatibleLLM",
    "OperationUsage",
    "VLLMEngine",
    "load_llm",
    "parse_llm_spec",
]

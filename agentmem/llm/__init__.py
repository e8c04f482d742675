"""The LLM layer: a batch-completion protocol, request/completion values and usage
accounting. Backends (vLLM in-process, OpenAI-compatible servers) plug in behind
:class:`LLM`."""

from .base import LLM, Completion, LLMRequest
from .usage import MeteredLLM, OperationUsage

__all__ = ["LLM", "Completion", "LLMRequest", "MeteredLLM", "OperationUsage"]

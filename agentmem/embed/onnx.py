"""Run a sentence-transformers model with ONNX Runtime: the same vectors, faster on CPU.

sentence-transformers' own ONNX backend needs ``optimum-onnx``, which pins
``transformers<4.58`` and so cannot be installed beside the transformers 5 this project
uses. This module does the small part of that work agentmem needs: it exports the
model's transformer once with :func:`torch.onnx.export` (the ``onnx`` package), keeps
the file in a cache folder (``~/.cache/agentmem/models/onnx``; ``AGENTMEM_MODELS``
moves it), and runs it with ``onnxruntime`` (a dependency of chromadb) and the
``tokenizers`` library, then mean-pools and normalises as the model's own modules do.

Only models this was checked for are exported: a transformer with a WordPiece (BERT-style)
tokenizer, mean pooling and (optionally) normalisation, no prompts, no lower-casing
option; :func:`onnx_unsupported` says why another model is not. An export is named after
the content of the model's files and this module's format, so every environment holding
the same model shares one export. On this project's 2-core machine a one-sentence query
embeds 2.1x faster (p50 5.9 ms against 12.4 ms) and a batch of turns 1.1x faster
(``eval/bench_onnx.py``, ``eval/results/bench_onnx.json``); vectors agree with the torch
ones to a cosine above 0.99999 (``tests/test_onnx_embedder.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendError

__all__ = ["OnnxModel", "export_onnx", "load_export", "onnx_cache_dir", "onnx_unsupported"]

#: the layout of an export and the code that reads it; part of every export's name
FORMAT = 3

_SUPPORTED_MODULES = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)
_EXPORT_LOCK = threading.Lock()


def onnx_cache_dir() -> Path:
    """The folder that holds exported models (outside any repository)."""
    root = os.environ.get("AGENTMEM_MODELS")
    base = Path(root) if root else Path.home() / ".cache" / "agentmem" / "models"
    return base / "onnx"


def onnx_unsupported(model: Path) -> str | None:
    """Why the model folder cannot run through ONNX Runtime here, or None if it can."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    if not (model / "tokenizer.json").exists():
        return "the model has no tokenizer.json (a fast tokenizer)"
    try:
        modules = json.loads((model / "modules.json").read_text())
    except (OSError, ValueError):
        return "the model has no readable modules.json"
    types = tuple(str(m.get("type", "")) for m in modules)
    if types not in (_SUPPORTED_MODULES, _SUPPORTED_MODULES[:2]):
        return f"its modules are {list(types)}, not a transformer with mean pooling"
    pooling_dir = model / str(modules[1].get("path", "1_Pooling"))
    try:
        pooling = json.loads((pooling_dir / "config.json").read_text())
    except (OSError, ValueError):
        return "the pooling module has no readable config.json"
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        return f"its pooling is {sorted(modes)}, not mean pooling"
    tokenizer = _read_json(model / "tokenizer.json")
    kind = str((tokenizer.get("model") or {}).get("type"))
    if kind != "WordPiece":
        return f"its tokenizer is {kind}, not WordPiece (the kind checked here)"
    if _read_json(model / "sentence_bert_config.json").get("do_lower_case"):
        return "it sets do_lower_case"
    st_config = _read_json(model / "config_sentence_transformers.json")
    if any(st_config.get("prompts") or {}) or st_config.get("default_prompt_name"):
        return "it has prompts"
    tokenizer_config = _read_json(model / "tokenizer_config.json")
    if tokenizer_config.get("padding_side") == "left":
        return "it pads on the left"
    if tokenizer_config.get("truncation_side") == "left":
        return "it truncates on the left"
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fingerprint(model: Path) -> str:
    """Names an export after :data:`FORMAT` and the content of the model's files (the
    same model in two environments shares one export; changed weights get a new one).
    Symlinked folders are followed; hidden entries (``.git``, ``.cache``) are not part
    of the model."""
    h = hashlib.sha256(f"agentmem-onnx-{FORMAT}".encode())
    files: list[Path] = []
    for root, dirs, names in os.walk(model, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(root) / n for n in names if not n.startswith(".")]
    for f in sorted(files):
        h.update(f"\0{f.relative_to(model)}\0".encode())
        h.update(_file_digest(f).encode())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_onnx(model: Path, load: Callable[[], Any], cache: Path | None = None) -> Path:
    """The folder of the model's ONNX export, exported on first use.

    ``load`` returns the model as a ``SentenceTransformer`` (called only to export).
    The folder holds ``model.onnx`` and ``agentmem_onnx.json`` (the maximum sequence
    length and input names). Several processes may export at once: each writes a
    temporary folder and the first rename wins; a finished folder is never rewritten.
    """
    reason = onnx_unsupported(model)
    if reason is not None:
        raise BackendError(f"cannot run {str(model)!r} with ONNX Runtime: {reason}")
    try:
        target = (cache or onnx_cache_dir()) / f"{model.name}-{_fingerprint(model)}"
    except OSError as exc:
        raise BackendError(f"cannot read the model {str(model)!r} to name its ONNX "
                           f"export: {exc}") from exc
    if (target / "agentmem_onnx.json").exists():
        return target
    with _EXPORT_LOCK:
        if (target / "agentmem_onnx.json").exists():
            return target
        tmp: Path | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(target)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            _export_into(model, tmp, load)
            for f in tmp.iterdir():  # on disk before the name says "finished"
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            tmp.chmod(0o755)
            try:
                tmp.rename(target)
            except OSError:  # another process renamed its export first
                if not (target / "agentmem_onnx.json").exists():
                    raise
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"cannot export {str(model)!r} to ONNX in "
                               f"{str(target.parent)!r}: {exc}") from exc
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _remove_stale(target: Path, older_than_s: float = 3600.0) -> None:
    """Deletes the temporary folders of exports that died (a killed process leaves
    ~90 MB behind); an hour old at least, so that no running export loses its own."""
    for leftover in target.parent.glob(f".{target.name}-*"):
        try:
            if time.time() - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def _export_into(model: Path, out: Path, load: Callable[[], Any]) -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError:
        raise BackendError("exporting to ONNX needs the onnx package "
                           "(pip install onnx), or use backend='torch'") from None
    import inspect

    import torch

    st = load()
    transformer = st[0].auto_model.eval()
    accepted = inspect.signature(transformer.forward).parameters
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.int64)
    args = tuple(sample if n != "token_type_ids" else torch.zeros_like(sample) for n in names)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Hidden(transformer), args, str(out / "model.onnx"),
                          input_names=names, output_names=["hidden"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    # sentence-transformers 6 renamed get_sentence_embedding_dimension
    dim_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    meta: dict[str, Any] = {"format": FORMAT, "max_seq_length": int(st.max_seq_length),
                            "inputs": names, "dim": int(dim_of())}
    (out / "tokenizer.json").write_bytes((model / "tokenizer.json").read_bytes())
    meta["files"] = {n: _file_digest(out / n) for n in ("model.onnx", "tokenizer.json")}
    (out / "agentmem_onnx.json").write_text(json.dumps(meta))


@dataclass(frozen=True)
class _Meta:
    max_seq_length: int
    inputs: tuple[str, ...]
    dim: int


def load_export(model: Path, load: Callable[[], Any], cache: Path | None = None
                ) -> OnnxModel:
    """The model's export, loaded; exported first when missing, and once more when the
    export on disk is damaged (its files differ from the digests it recorded, e.g. cut
    short by a crash). An intact export that fails to load here (an older onnxruntime,
    no memory) is left alone for the environments that can load it: the error is raised."""
    folder = export_onnx(model, load, cache)
    try:
        return OnnxModel(folder)
    except BackendError:
        if not _damaged(folder):
            raise
        with _EXPORT_LOCK:
            aside = folder.with_name(f".{folder.name}-broken-{os.getpid()}")
            with contextlib.suppress(OSError):  # another process moved it already
                folder.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        return OnnxModel(export_onnx(model, load, cache))


def _damaged(folder: Path) -> bool:
    """Whether an export's files differ from the digests its description recorded (or
    the description itself is unreadable)."""
    meta = _read_json(folder / "agentmem_onnx.json")
    files = meta.get("files")
    if meta.get("format") != FORMAT or not isinstance(files, dict) or not files:
        return True
    try:
        return any(_file_digest(folder / name) != digest for name, digest in files.items())
    except OSError:
        return True


class OnnxModel:
    """An exported model: tokenise, run the graph, mean-pool, normalise.

    Thread-safe: the tokenizer's truncation and padding are set once, and ONNX Runtime
    sessions may run from several threads.
    """

    def __init__(self, folder: Path, *, threads: int | None = None,
                 spinning: bool = False) -> None:
        try:
            self._open(folder, threads, spinning)
        except Exception as exc:
            raise BackendError(f"cannot load the ONNX export in {str(folder)!r}: "
                               f"{type(exc).__name__}: {exc}") from exc

    def _open(self, folder: Path, threads: int | None, spinning: bool) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        raw = json.loads((folder / "agentmem_onnx.json").read_text())
        if raw.get("format") != FORMAT:
            raise ValueError(f"export format {raw.get('format')!r}, expected {FORMAT}")
        self.meta = _Meta(int(raw["max_seq_length"]), tuple(raw["inputs"]), int(raw["dim"]))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.meta.max_seq_length)
        # pad to the longest text of a batch; padded positions are masked out of both
        # the attention and the mean, so the pad token's id does not change a vector
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(pad_id=int(padding.get("pad_id", 0)),
                                      pad_token=str(padding.get("pad_token", "[PAD]")))
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        # Idle worker threads sleep instead of spinning (unless ``spinning``): a search
        # embeds its query while SQLite runs the keyword query on the other core
        # (eval/probe_onnx_spinning.py, docs/performance.md).
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if spinning else "0")
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """L2-normalised float32 vectors, batched longest first (less padding)."""
        prepared = list(texts)  # as sentence-transformers 6 passes them: unstripped
        if not prepared:
            return np.zeros((0, self.meta.dim), dtype=np.float32)
        order = sorted(range(len(prepared)), key=lambda i: -len(prepared[i]))
        out = np.empty((len(prepared), self.meta.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            encodings = self.tokenizer.encode_batch([prepared[i] for i in chunk])
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                     "attention_mask": mask,
                     "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
            hidden = self.session.run(None, {n: feeds[n] for n in self.meta.inputs})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.clip(norms, 1e-12, None)
            out[chunk] = pooled
        return out

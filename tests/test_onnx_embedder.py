"""The ONNX Runtime backend of the default embedder: the real packaged model exported
with torch.onnx, run with onnxruntime, compared with sentence-transformers on torch."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agentmem import ConfigError, SentenceTransformerEmbedder
from agentmem.embed import default_model_path
from agentmem.embed.onnx import OnnxModel, export_onnx, load_export, onnx_unsupported

TEXTS = [
    "",
    "   padded with spaces   ",
    "What activities does Melanie do with her kids?",
    "Ünïcödé café 北京 😀 — dashes and “quotes”",
    "first part\x1esecond part",
    "\n\ttabs and newlines\n",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way
    "I moved to Lisbon last spring; the commute is shorter now.",
]


def _model_copy(tmp_path: Path, pooling: dict[str, bool] | None = None) -> Path:
    """A folder of the packaged model (files linked, not copied), optionally with
    another pooling configuration."""
    src = default_model_path()
    dst = tmp_path / "minilm-copy"
    for f in src.rglob("*"):
        if f.is_file():
            out = dst / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.symlink_to(f)
    if pooling is not None:
        cfg = dst / "1_Pooling" / "config.json"
        data = json.loads(cfg.read_text())
        data.update(pooling)
        cfg.unlink()
        cfg.write_text(json.dumps(data))
    return dst


def test_default_backend_is_onnx_and_matches_torch(
        embedder: SentenceTransformerEmbedder) -> None:
    torch_embedder = SentenceTransformerEmbedder(backend="torch")
    assert torch_embedder.name == embedder.name  # same vectors, same cache entries
    fast, slow = embedder.embed(TEXTS), torch_embedder.embed(TEXTS)
    assert embedder.backend == "onnx"  # after embedding: no fallback to torch happened
    assert fast.dtype == np.float32 and fast.shape == (len(TEXTS), embedder.dim)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosines = (fast * slow).sum(axis=1)
    assert cosines.min() > 0.99999, dict(zip(TEXTS, cosines, strict=True))
    # batching (longest first) keeps each text's row in place
    single = np.stack([embedder.embed([t])[0] for t in TEXTS])
    assert np.allclose(single, fast, atol=1e-5)
    small_batches = SentenceTransformerEmbedder(batch_size=3).embed(TEXTS)
    assert np.allclose(small_batches, fast, atol=1e-5)


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backend"):
        SentenceTransformerEmbedder(backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="CPU only"):
        SentenceTransformerEmbedder(backend="onnx", device="cuda")
    assert SentenceTransformerEmbedder(device="cuda").backend == "torch"


def test_a_model_other_than_mean_pooling_runs_on_torch(tmp_path: Path) -> None:
    cls = _model_copy(tmp_path, {"pooling_mode_mean_tokens": False,
                                 "pooling_mode_cls_token": True})
    reason = onnx_unsupported(cls)
    assert reason is not None and "pooling_mode_cls_token" in reason
    assert SentenceTransformerEmbedder(cls).backend == "torch"
    with pytest.raises(ConfigError, match="pooling"):
        SentenceTransformerEmbedder(cls, backend="onnx")
    prompted = _model_copy(tmp_path / "prompts")
    cfg = prompted / "config_sentence_transformers.json"
    cfg.unlink()
    cfg.write_text(json.dumps({"prompts": {"query": "query: "}, "default_prompt_name": None}))
    assert onnx_unsupported(prompted) == "it has prompts"
    assert SentenceTransformerEmbedder(prompted).backend == "torch"


def test_auto_falls_back_to_torch_when_the_export_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        embedder: SentenceTransformerEmbedder) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("AGENTMEM_MODELS", str(blocker))
    fallback = SentenceTransformerEmbedder(_model_copy(tmp_path))
    assert fallback.backend == "onnx"
    with caplog.at_level(logging.WARNING, logger="agentmem.embed"):
        vectors = fallback.embed(TEXTS[:3])
    assert fallback.backend == "torch"
    assert "embedding with torch" in caplog.text and "not-a-folder" in caplog.text
    assert ((vectors * embedder.embed(TEXTS[:3])).sum(axis=1)).min() > 0.99999
    assert embedder.backend == "onnx"  # made before: its export folder did not move
    strict = SentenceTransformerEmbedder(_model_copy(tmp_path / "b"), backend="onnx")
    from agentmem import BackendError

    with pytest.raises(BackendError, match="not-a-folder"):
        strict.embed(["x"])


def test_an_unreadable_model_file_falls_back_to_torch(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = _model_copy(tmp_path)
    (model / "notes.txt").symlink_to(tmp_path / "gone.txt")  # dangling: cannot be read
    fallback = SentenceTransformerEmbedder(model)
    with caplog.at_level(logging.WARNING, logger="agentmem.embed"):
        vectors = fallback.embed(["still embedded"])
    assert fallback.backend == "torch" and vectors.shape == (1, 384)
    assert "notes.txt" in caplog.text


def test_a_damaged_export_is_reported_and_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        embedder: SentenceTransformerEmbedder) -> None:
    from agentmem import BackendError
    from agentmem.embed.onnx import onnx_cache_dir

    cache = tmp_path / "models"
    monkeypatch.setenv("AGENTMEM_MODELS", str(cache))
    model = _model_copy(tmp_path)
    first = SentenceTransformerEmbedder(model)
    first.embed(["export it"])
    (folder,) = [p for p in onnx_cache_dir().iterdir() if not p.name.startswith(".")]
    # a damaged description: an error from the tree naming the folder
    meta = folder / "agentmem_onnx.json"
    good = meta.read_text()
    meta.write_text("{}")
    with pytest.raises(BackendError, match=re.escape(str(folder))):
        OnnxModel(folder)
    meta.write_text(good)
    # a graph cut short (a crash between write and rename): the next process to load
    # it exports it once more
    graph = folder / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    from sentence_transformers import SentenceTransformer

    again = load_export(model, lambda: SentenceTransformer(str(model), device="cpu"))
    assert graph.stat().st_size > 1_000_000
    vectors = again.encode(TEXTS, batch_size=8)
    assert ((vectors * embedder.embed(TEXTS)).sum(axis=1)).min() > 0.99999


def test_an_intact_export_that_fails_to_load_is_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export other environments can load is not deleted because this one cannot
    load it (an older onnxruntime, no memory): the error is raised instead."""
    import onnxruntime

    from agentmem import BackendError

    cache = tmp_path / "models"
    model = _model_copy(tmp_path)
    from sentence_transformers import SentenceTransformer

    def load() -> object:
        return SentenceTransformer(str(model), device="cpu")

    folder = export_onnx(model, load, cache)
    before = (folder / "model.onnx").stat().st_mtime_ns

    def refuse(*args: object, **kwargs: object) -> None:
        raise MemoryError("no memory for the graph")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    with pytest.raises(BackendError, match="no memory for the graph"):
        load_export(model, lambda: pytest.fail("an intact export is not redone"), cache)
    assert (folder / "model.onnx").stat().st_mtime_ns == before
    monkeypatch.undo()
    assert OnnxModel(folder).encode(["still loads"], 8).shape == (1, 384)


_EXPORT = """
import sys, time
from pathlib import Path
from agentmem.embed.onnx import export_onnx
from sentence_transformers import SentenceTransformer
model = Path(sys.argv[1])
def load():
    if sys.argv[3] == "stall":  # inside the export: the temporary folder exists
        print("exporting", flush=True)
        time.sleep(600)
    return SentenceTransformer(str(model), device="cpu")
print(export_onnx(model, load, Path(sys.argv[2])), flush=True)
"""


@pytest.mark.slow
def test_exports_survive_sigkill_and_concurrent_processes(
        tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    model, cache = _model_copy(tmp_path), tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", _EXPORT, str(model), str(cache)]
    # a process killed in the middle of its export leaves no finished folder behind
    victim = subprocess.Popen([*cmd, "stall"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == b"exporting"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")]
    leftovers = list(cache.glob(".*"))
    assert leftovers
    for p in leftovers:  # an hour old: the next export deletes them
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    # three processes export at once: all answer with the same complete folder
    procs = [subprocess.Popen([*cmd, "go"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    folders = {o[0].decode().strip().splitlines()[-1] for o in outs}
    assert len(folders) == 1
    done = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert [str(p) for p in done] == list(folders)
    assert not [p for p in leftovers if p.exists()]
    before = (done[0] / "model.onnx").stat().st_mtime_ns
    again = export_onnx(model, lambda: pytest.fail("a finished export is not redone"), cache)
    assert again == done[0] and (again / "model.onnx").stat().st_mtime_ns == before
    vectors = OnnxModel(again).encode(TEXTS, batch_size=4)
    assert ((vectors * embedder.embed(TEXTS)).sum(axis=1)).min() > 0.99999

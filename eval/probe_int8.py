"""Probe: MiniLM with torch's dynamic int8 quantisation against the float model.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/probe_int8.py [--queries 300] [--turns 1000]

The packaged all-MiniLM-L6-v2 on torch, its Linear layers quantised to int8
(``torch.ao.quantization.quantize_dynamic``), mean-pooled and normalised as the model
does. Prints query latency (LoCoMo questions one at a time, float and int8 alternating)
and how far the int8 vectors sit from the float ones (cosine over questions and turns).
Writes eval/results/probe_int8.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import torch
from locomo_text import load_questions, load_sessions

from agentmem import SentenceTransformerEmbedder

RESULTS = Path(__file__).resolve().parent / "results" / "probe_int8.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--turns", type=int, default=1000)
    args = ap.parse_args()
    st = SentenceTransformerEmbedder(backend="torch")
    model = st._model()
    tokenizer = model.tokenizer
    quantized = torch.ao.quantization.quantize_dynamic(
        model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8)

    def int8(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            f = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                          max_length=model.max_seq_length)
            hidden = quantized(**f).last_hidden_state
            mask = f["attention_mask"][..., None]
            v = (hidden * mask).sum(1) / mask.sum(1)
            return torch.nn.functional.normalize(v, dim=-1).numpy()

    questions = load_questions()[: args.queries]
    turns = [f"{t['speaker']}: {t['text']}" for s in load_sessions() for t in s.turns]
    turns = turns[: args.turns]
    st.embed(["warm"]), int8(["warm"])
    latency: dict[str, list[float]] = {"float": [], "int8": []}
    for q in questions:
        for name, f in (("float", st.embed), ("int8", int8)):
            t0 = time.perf_counter()
            f([q])
            latency[name].append((time.perf_counter() - t0) * 1000)
    texts = questions + turns
    cos = np.concatenate([(st.embed(texts[i:i + 64]) * int8(texts[i:i + 64])).sum(axis=1)
                          for i in range(0, len(texts), 64)])
    report = {"command": "python " + " ".join(["eval/probe_int8.py", *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%d"), "texts": len(texts),
              "query_p50_ms": {k: statistics.median(v) for k, v in latency.items()},
              "cosine_int8_vs_float": {"min": float(cos.min()), "mean": float(cos.mean())}}
    print(json.dumps(report, indent=2))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

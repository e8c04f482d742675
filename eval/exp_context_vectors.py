"""Experiment (issue 20): a unit's key vector composed from its own text's vector and
its context turns' vector, against embedding the concatenated key (today's default).

    HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_context_vectors.py [--weights 0.5 1.0]

Each LoCoMo dev conversation goes through the harness (default configuration, round
units, 2 context turns) once per way of making the key vector:

- ``concatenated``: the key ``text + "\\n" + context`` embedded as one text (default);
- ``composed w``: ``normalize(e(text) + w * e(context))``, where ``context`` is the
  rendered context turns. In round units the context of a round is usually exactly
  the round before it, whose own vector exists already: the composed key then costs
  no embedding beyond each unit's own text.

An experiment switch, in this process only: the episodic store's keys separate text
and context with a marker that the wrapping embedder splits on (and turns back into
the newline for ``concatenated``, which reproduces the default's vectors). Also
counted: how many context texts are not some unit's own text (each an embedding the
composed key still pays for). Writes eval/results/ablation/context_vectors.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ablation  # noqa: E402

from agentmem.embed.cache import DiskCachedEmbedder  # noqa: E402
from agentmem.eval.runner import default_embedder  # noqa: E402
from agentmem.stores import episodic  # noqa: E402
from agentmem.stores.base import Derivation  # noqa: E402

SEP = "\x1f"
_derive = episodic.EpisodicStore.derive


def derive(self: episodic.EpisodicStore, tail: Any, new_turns: Any) -> Derivation:
    d = _derive(self, tail, new_turns)
    return Derivation(new_units=tuple(
        replace(u, key=u.text + SEP + u.key[len(u.text) + 1:])
        if u.key is not None and u.key.startswith(u.text + "\n") else u
        for u in d.new_units), replaced_unit_ids=d.replaced_unit_ids)


class Keyed:
    """Embeds marked keys concatenated (``weight`` None) or composed."""

    def __init__(self, base: DiskCachedEmbedder, weight: float | None) -> None:
        self.base = base
        self.weight = weight
        self.name = base.name if weight is None else f"{base.name}+compose{weight}"
        self.dim = base.dim
        self.own: set[str] = set()
        self.context: set[str] = set()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.weight is None:
            return self.base.embed([t.replace(SEP, "\n") for t in texts])
        parts = [t.split(SEP, 1) for t in texts]
        flat = [p for pair in parts for p in pair]
        self.own.update(pair[0] for pair in parts)
        self.context.update(pair[1] for pair in parts if len(pair) == 2)
        vecs = self.base.embed(flat)
        out, i = [], 0
        for pair in parts:
            v = vecs[i]
            if len(pair) == 2:
                v = v + self.weight * vecs[i + 1]
            out.append(v / np.linalg.norm(v))
            i += len(pair)
        return np.stack(out).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", type=float, default=[0.5, 1.0])
    args = parser.parse_args()
    episodic.EpisodicStore.derive = derive  # type: ignore[method-assign]
    cache = ROOT / "eval" / "results" / "ablation" / "cache"
    base = default_embedder(cache / "embeddings.sqlite")
    rows: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    notes: list[str] = []
    for n, weight in enumerate([None, *args.weights]):
        emb = Keyed(base, weight)
        label = "concatenated key (default)" if weight is None else \
            f"composed: e(text) + {weight} e(context)"
        rows.append(ablation.dev_row(label, f"agentmem-ctxvec-{n}", embedder=emb)[0])
        if weight is not None:
            extra = len(emb.context - emb.own)
            notes.append(f"- {label}: {len(emb.own)} own texts, {len(emb.context)} "
                         f"context texts, {extra} of them not a unit's own text "
                         f"({extra / max(1, len(emb.own)):.1%} extra embeddings)")
    episodic.EpisodicStore.derive = _derive  # type: ignore[method-assign]
    text = ablation.render(rows, "# Context in keys: concatenated or composed vectors "
                           "(issue 20)",
                           "HF_HUB_OFFLINE=1 .venv/bin/python eval/exp_context_vectors.py "
                           "--weights " + " ".join(str(w) for w in args.weights),
                           ablation.SPLITS)
    text += "\n## Embedding cost of the composed keys\n\n" + "\n".join(notes) + "\n"
    out = ROOT / "eval" / "results" / "ablation" / "context_vectors.md"
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

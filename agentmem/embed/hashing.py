"""A fast deterministic stand-in embedder: feature hashing of words.

Not a semantic model. It exists for scale benchmarks and for tests of control flow
across processes, where loading a real model in every process would dominate the run:
texts sharing words get similar vectors, the same text always gets the same vector,
and no model file is read."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Each lower-cased word adds ±1 to one of ``dim`` coordinates chosen by its hash;
    rows are L2-normalised (a text with no word gets a fixed unit vector)."""

    def __init__(self, dim: int = 64) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"dim: must be an int >= 2, got {dim!r}")
        self.dim = dim
        self.name = f"hashing-stand-in-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape ``(len(texts), dim)``, float32, unit norm."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode("utf-8", "replace"),
                                                   digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            if norm == 0.0:
                out[i, 0] = 1.0
            else:
                out[i] /= norm
        return out

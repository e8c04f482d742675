"""Indexes rebuilt from SQL: dense vectors (Chroma), lexical BM25 (FTS5), fusion."""

from .dense import ChromaIndex
from .fusion import reciprocal_rank_fusion
from .lexical import FtsIndex

__all__ = ["ChromaIndex", "FtsIndex", "reciprocal_rank_fusion"]

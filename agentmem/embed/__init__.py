"""Embedders: the protocol, the sentence-transformers implementation, the cache."""

from .base import Embedder
from .cache import CachedEmbedder, DiskCachedEmbedder, content_hash
from .sentence_transformers import SentenceTransformerEmbedder, default_model_path

__all__ = [
    "CachedEmbedder",
    "DiskCachedEmbedder",
    "Embedder",
    "SentenceTransformerEmbedder",
    "content_hash",
    "default_model_path",
]

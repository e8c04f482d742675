"""The thought store's settings (:class:`ThoughtConfig`), what adding a thought did
(:class:`ThoughtChange`), and the check that turns caller input into a
:class:`~agentmem.stores.thinking.ThoughtDraft` (:func:`check_draft`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import ConfigError, InvalidInput
from ..index.lsh import LSHParams
from ..types import Thought
from .thinking import ThoughtDraft

__all__ = ["ThoughtChange", "ThoughtConfig", "check_draft"]


@dataclass(frozen=True)
class ThoughtConfig:
    """Settings of the thought store.

    - ``buckets`` (b), ``tables`` (L), ``seed``: the LSH hash functions; fixed when the
      memory is created (stored with it), like ``granularity``.
    - ``probes``: buckets read per table at recall (1 = the query's own bucket).
    - ``exact_below``: a user with fewer active thoughts than this is recalled by exact
      cosine over all of them (as fast as hashing at that size, and without LSH's
      misses); at and above it, recall reads the LSH buckets. 0 always uses LSH.
    - ``post_think``: extract thoughts from every exchange added, when the memory has
      an LLM (TiM's post-thinking). Off without an LLM.
    - ``merge_jaccard``, ``merge_cosine``: near-duplicate thresholds (MinHash Jaccard
      estimate over word shingles, embedding cosine).
    - ``ambiguous_cosine``: same head, other relation, at least this similar: ask the
      LLM whether the new thought replaces the old one.
    - ``max_tokens``: the post-thinking reply budget; the default leaves room for the
      schema's longest reply (4 thoughts at their longest fields, about 1,900
      characters), so a reply that keeps to the schema is not cut off mid-JSON.
    """

    buckets: int = 256
    tables: int = 8
    probes: int = 2
    exact_below: int = 2048
    seed: int = 0
    post_think: bool = True
    merge_jaccard: float = 0.5
    merge_cosine: float = 0.85
    ambiguous_cosine: float = 0.8
    max_tokens: int = 640

    def __post_init__(self) -> None:
        LSHParams(dim=1, buckets=self.buckets, tables=self.tables, seed=self.seed)
        if isinstance(self.probes, bool) or not isinstance(self.probes, int) \
                or self.probes < 1:
            raise ConfigError(f"probes: must be a positive int, got {self.probes!r}")
        if isinstance(self.exact_below, bool) or not isinstance(self.exact_below, int) \
                or self.exact_below < 0:
            raise ConfigError(f"exact_below: must be an int >= 0, got {self.exact_below!r}")
        for name in ("merge_jaccard", "merge_cosine", "ambiguous_cosine"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 < value <= 1:
                raise ConfigError(f"{name}: must be a number in (0, 1], got {value!r}")
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) \
                or self.max_tokens < 16:
            raise ConfigError(f"max_tokens: must be an int >= 16, got {self.max_tokens!r}")

    def lsh(self, dim: int) -> LSHParams:
        """The LSH parameters for vectors of size ``dim``."""
        return LSHParams(dim=dim, buckets=self.buckets, tables=self.tables, seed=self.seed)


@dataclass(frozen=True)
class ThoughtChange:
    """What adding one thought did: ``op`` is ``insert``, ``merge`` (folded into a near
    duplicate: ``thought`` is the merged result) or ``forgotten`` (older than an active
    thought with the same head and relation: stored, superseded at once).
    ``superseded`` lists the thoughts it replaced."""

    op: str
    thought: Thought
    superseded: tuple[str, ...] = ()


def check_draft(value: Any, field: str, default_time: datetime | None) -> ThoughtDraft:
    """A :class:`ThoughtDraft` from a draft or a dict with ``head``, ``relation``,
    ``tail`` and optional ``text``, ``timestamp``, ``session_id``, ``source_turn_ids``;
    raises :class:`InvalidInput` naming the bad field."""
    from ..temporal import parse_timestamp

    if isinstance(value, ThoughtDraft):
        data: dict[str, Any] = {f: getattr(value, f) for f in (
            "head", "relation", "tail", "text", "timestamp", "session_id",
            "source_turn_ids")}
    elif isinstance(value, dict):
        unknown = set(value) - {"head", "relation", "tail", "text", "timestamp",
                                "session_id", "source_turn_ids"}
        if unknown:
            raise InvalidInput(f"{field}.{sorted(unknown)[0]}", "unknown field")
        data = dict(value)
    else:
        raise InvalidInput(field, "must be a ThoughtDraft or a dict with head, relation, "
                                  f"tail; got {type(value).__name__}")
    for name in ("head", "relation", "tail"):
        v = data.get(name)
        if not isinstance(v, str) or not v.strip():
            raise InvalidInput(f"{field}.{name}", "must be a non-empty string")
        if len(v) > 1000:
            raise InvalidInput(f"{field}.{name}", "is longer than 1000 characters")
        data[name] = " ".join(v.split())
    text = data.get("text") or ""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}.text", "must be a string")
    sid = data.get("session_id")
    if sid is not None and (not isinstance(sid, str) or not sid.strip()):
        raise InvalidInput(f"{field}.session_id", "must be a non-empty string or None")
    sources = data.get("source_turn_ids") or ()
    if not isinstance(sources, (list, tuple)) or not all(
            isinstance(s, str) and s for s in sources):
        raise InvalidInput(f"{field}.source_turn_ids", "must be a list of turn ids")
    when = data.get("timestamp")
    stamp = parse_timestamp(when, field=f"{field}.timestamp") if when is not None \
        else default_time
    return ThoughtDraft(head=data["head"], relation=data["relation"], tail=data["tail"],
                        text=" ".join(text.split()), timestamp=stamp, session_id=sid,
                        source_turn_ids=tuple(sources))

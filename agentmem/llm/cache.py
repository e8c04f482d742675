"""A persistent completion cache in front of an LLM.

:class:`CachedLLM` keeps every usable completion in a SQLite file, keyed by the model's
name and the whole request (messages or prompt, max_tokens, temperature, seed, JSON
schema), so a run repeated over the same inputs — an ablation that builds keys from one
extraction under several key designs, a resumed evaluation — asks the model once. An
item the model answered with unusable output twice (the JSON retry included) is cached
as that failure, since the same request gets the same output; an item that failed in
the backend (a refused request, a server error) is not, and is asked again next time.
The requests agentmem sends are deterministic (temperature 0, a fixed seed), which is
what makes replaying them sound; a cache is tied to one model name, so a different
model (or server) never reads another's answers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..storage.database import Database
from ..storage.schema import llm_responses
from .base import LLM, Completion, LLMRequest

__all__ = ["CachedLLM", "request_key"]


def request_key(llm_name: str, request: LLMRequest) -> str:
    """The cache key of ``request`` sent to the model named ``llm_name``."""
    body = {"llm": llm_name, "prompt": request.prompt,
            "messages": [dict(m) for m in request.messages] if request.messages else None,
            "max_tokens": request.max_tokens, "temperature": request.temperature,
            "seed": request.seed, "json_schema": request.json_schema}
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class CachedLLM:
    """Wraps an :class:`~agentmem.llm.LLM`; completions are cached in the SQLite file
    ``path``. A completion served from the cache reports zero tokens and latency this
    time (``extra["cached"]`` is True, ``extra["cached_tokens"]`` has what it cost when
    it was made), so usage totals count only what was spent."""

    def __init__(self, llm: LLM, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.llm = llm
        self.name = llm.name
        self.path = path
        self._db = Database(f"sqlite:///{path}")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def complete(self, requests: Sequence[LLMRequest]) -> list[Completion]:
        """Cached completions read back; the rest asked of the model in one batch and
        cached when usable."""
        requests = list(requests)
        keys = [request_key(self.name, r) for r in requests]
        with self._db.connect() as conn:
            found = dict(conn.execute(
                sa.select(llm_responses.c.cache_key, llm_responses.c.completion).where(
                    llm_responses.c.cache_key.in_(set(keys)))).all())
        out: list[Completion | None] = [
            _revive(found[k]) if k in found else None for k in keys]
        todo = [i for i, c in enumerate(out) if c is None]
        if todo:
            fresh = self.llm.complete([requests[i] for i in todo])
            rows = {}
            for i, c in zip(todo, fresh, strict=True):
                out[i] = c
                if c.ok or (c.retried and c.text):  # see the module doc
                    rows[keys[i]] = {"cache_key": keys[i], "llm": self.name,
                                     "completion": _dump(c)}
            if rows:
                with self._db.begin() as conn:
                    present = set(conn.execute(sa.select(llm_responses.c.cache_key).where(
                        llm_responses.c.cache_key.in_(list(rows)))).scalars())
                    new = [r for k, r in rows.items() if k not in present]
                    if new:
                        conn.execute(sa.insert(llm_responses), new)
        with self._lock:
            self.hits += len(requests) - len(todo)
            self.misses += len(todo)
        return [c for c in out if c is not None]

    def count(self) -> int:
        """Completions cached for this model."""
        with self._db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(llm_responses)
                                    .where(llm_responses.c.llm == self.name)).scalar_one())

    def close(self) -> None:
        """Release the cache file (the wrapped model is left open)."""
        self._db.close()


def _dump(c: Completion) -> str:
    data: dict[str, Any] = asdict(c)
    data["extra"] = dict(c.extra)
    return json.dumps(data, ensure_ascii=False, default=str)


def _revive(raw: str) -> Completion:
    data = json.loads(raw)
    c = Completion(**data)
    return replace(c, prompt_tokens=0, completion_tokens=0, latency_s=0.0,
                   extra={**c.extra, "cached": True,
                          "cached_tokens": c.prompt_tokens + c.completion_tokens})

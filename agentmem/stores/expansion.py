"""Fact-augmented key expansion (LongMemEval): an LLM reads each stored value and
writes (a) facts, one simple sentence each, (b) keyphrases, (c) a short summary; the
key used for retrieval is built from them and the value.

Key modes (:class:`KeyExpansion`):

- ``merge`` — the expansion text, then the value (the paper's best: "key merging");
- ``replace`` — the expansion text alone;
- ``separate`` — the value keeps its own key and the expansion text becomes an extra
  key row pointing at it ("rank merging": a value ranks where its best row ranks);
- ``values`` — user facts as values: each extracted fact (or keyphrase list, or
  summary) becomes a unit of kind ``fact`` of its own, holding its source's turns;
  ``Memory.search(kinds=["fact"])`` searches them alone.

Extraction is batched through the LLM layer (one request per value, a JSON schema) and
cached in SQL by (content hash, prompt version, model), so a value is read once. A
value whose extraction fails (no valid JSON after the layer's one retry, or a failing
server) keeps its plain key: it is indexed without expansion, counted in
:attr:`KeyExpander.failures`, and never aborts an ingestion.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..errors import ConfigError, LLMError
from ..llm import LLM, LLMRequest
from ..storage.database import Database
from ..storage.schema import expansions

__all__ = ["EXPANSION_SCHEMA", "KEY_MODES", "KEY_PARTS", "PROMPT_VERSION", "Expansion",
           "KeyExpander", "KeyExpansion", "purge_expansions"]

log = logging.getLogger("agentmem")

PROMPT_VERSION = "2"
KEY_PARTS: tuple[str, ...] = ("facts", "keyphrases", "summary")
KEY_MODES: tuple[str, ...] = ("merge", "replace", "separate", "values")
EXPANSION_SCHEMA = {
    "type": "object",
    "properties": {
        # bounded, so that a small model that starts repeating itself still ends its
        # JSON within max_tokens instead of being cut off mid-string
        "facts": {"type": "array", "maxItems": 8,
                  "items": {"type": "string", "maxLength": 160}},
        "keyphrases": {"type": "array", "maxItems": 8,
                       "items": {"type": "string", "maxLength": 60}},
        "summary": {"type": "string", "maxLength": 240},
    },
    "required": ["facts", "keyphrases", "summary"],
    "additionalProperties": False,
}
_PROMPT = """Below is part of a conversation from {date}. Read it and write JSON with:
- "facts": every fact it states about the people talking (events, plans, preferences, \
possessions, relationships), one simple sentence each, using names instead of pronouns \
and including the date when the text gives one; cover every speaker;
- "keyphrases": the key phrases a person might later search for;
- "summary": one sentence saying what this part is about.

Conversation:
{value}

JSON:"""


@dataclass(frozen=True)
class Expansion:
    """What the LLM extracted from one value."""

    facts: tuple[str, ...] = ()
    keyphrases: tuple[str, ...] = ()
    summary: str = ""

    def text(self, parts: Sequence[str]) -> str:
        """The chosen parts as one text, in the order given."""
        pieces: list[str] = []
        for part in parts:
            if part == "facts":
                pieces.extend(self.facts)
            elif part == "keyphrases" and self.keyphrases:
                pieces.append("; ".join(self.keyphrases))
            elif part == "summary" and self.summary:
                pieces.append(self.summary)
        return "\n".join(" ".join(p.split()) for p in pieces if p.strip())


@dataclass(frozen=True)
class KeyExpansion:
    """How retrieval keys are expanded: which ``parts`` of the extraction (``facts``,
    ``keyphrases``, ``summary``) and the key ``mode`` (``merge``, ``replace``,
    ``separate`` or ``values``)."""

    parts: tuple[str, ...] = ("facts",)
    mode: str = "merge"
    max_tokens: int = 384

    def __post_init__(self) -> None:
        if not self.parts or any(p not in KEY_PARTS for p in self.parts):
            raise ConfigError(f"parts: choose from {', '.join(KEY_PARTS)}, got {self.parts!r}")
        if self.mode not in KEY_MODES:
            raise ConfigError(f"mode: must be one of {', '.join(KEY_MODES)}, got {self.mode!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 16:
            raise ConfigError(f"max_tokens: must be an int >= 16, got {self.max_tokens!r}")

    def key(self, value: str, expansion: Expansion | None) -> str | None:
        """The retrieval key for ``value`` (``separate``: the extra row's text;
        ``values``: the facts, one per line), or None when there is none (no expansion,
        or an empty one)."""
        extra = expansion.text(self.parts) if expansion is not None else ""
        if not extra:
            return None
        return f"{extra}\n{value}" if self.mode == "merge" else extra


def _cache_key(content_hash: str, model: str) -> str:
    return hashlib.sha256(f"{PROMPT_VERSION}\0{model}\0{content_hash}".encode()).hexdigest()


class KeyExpander:
    """Extracts :class:`Expansion` values through an LLM, cached in SQL."""

    def __init__(self, llm: LLM, db: Database, *, max_tokens: int = 384) -> None:
        self.llm = llm
        self.db = db
        self.max_tokens = max_tokens
        self.failures = 0

    def expand(self, values: Sequence[tuple[str, str, datetime]]) -> list[Expansion | None]:
        """Expansions for (value text, content hash, date) triples, in order; None
        where extraction failed."""
        out: list[Expansion | None] = [None] * len(values)
        keys = [_cache_key(h, self.llm.name) for _, h, _ in values]
        with self.db.connect() as conn:
            cached = dict(conn.execute(sa.select(expansions.c.cache_key, expansions.c.value)
                                       .where(expansions.c.cache_key.in_(set(keys)))).all())
        todo = [i for i, k in enumerate(keys) if k not in cached]
        for i, k in enumerate(keys):
            if k in cached:
                out[i] = _from_json(cached[k])
        if not todo:
            return out
        requests = [LLMRequest(
            messages=({"role": "user", "content": _PROMPT.format(
                date=values[i][2].strftime("%Y/%m/%d (%a) %H:%M"), value=values[i][0])},),
            max_tokens=self.max_tokens, json_schema=EXPANSION_SCHEMA, operation="key_expansion")
            for i in todo]
        try:
            done = self.llm.complete(requests)
        except LLMError as exc:
            log.warning("key expansion failed for %d values (indexed without it): %s",
                        len(todo), exc)
            self.failures += len(todo)
            return out
        rows = []
        for i, c in zip(todo, done, strict=True):
            if not c.ok:
                log.warning("key expansion failed for one value (indexed without it): %s",
                            c.error)
                self.failures += 1
                continue
            exp = _from_json(json.dumps(c.parsed))
            out[i] = exp
            rows.append({"cache_key": keys[i], "content_hash": values[i][1],
                         "value": json.dumps(c.parsed, ensure_ascii=False)})
        if rows:
            with self.db.begin() as conn:
                present = set(conn.execute(sa.select(expansions.c.cache_key).where(
                    expansions.c.cache_key.in_([r["cache_key"] for r in rows]))).scalars())
                fresh = list({r["cache_key"]: r for r in rows
                              if r["cache_key"] not in present}.values())
                if fresh:
                    conn.execute(sa.insert(expansions), fresh)
        return out


def _from_json(raw: str) -> Expansion:
    data = json.loads(raw)
    return Expansion(facts=tuple(str(f) for f in data.get("facts", ())),
                     keyphrases=tuple(str(k) for k in data.get("keyphrases", ())),
                     summary=str(data.get("summary", "")))


def purge_expansions(conn: sa.Connection, content_hashes: Sequence[str]) -> None:
    """Delete cached expansions of these contents (callers pass only hashes no
    remaining unit uses), inside ``conn``'s transaction."""
    hs = list(set(content_hashes))
    for i in range(0, len(hs), 500):
        conn.execute(sa.delete(expansions).where(
            expansions.c.content_hash.in_(hs[i : i + 500])))

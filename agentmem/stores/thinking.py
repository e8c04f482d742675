"""Think-in-Memory's LLM steps: post-thinking (thoughts from a question/response pair),
the forget decision for an ambiguous pair of thoughts, and the text of a merged thought.

Every step goes through the LLM layer with a JSON schema (one batch per call, the
layer's one retry). A failed item is logged, counted in :attr:`Thinker.failures` and
skipped: an exchange whose thoughts cannot be read adds no thought; an undecided forget
keeps both thoughts; an unwritten merge keeps the newest text. Nothing here aborts an
ingestion.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import LLMError
from ..llm import LLM, Completion, LLMRequest
from ..types import Turn

__all__ = ["FORGET_SCHEMA", "MERGE_SCHEMA", "THOUGHT_SCHEMA", "Exchange", "Thinker",
           "ThoughtDraft", "parse_thoughts"]

log = logging.getLogger("agentmem")

THOUGHT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thoughts": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "head": {"type": "string", "minLength": 1, "maxLength": 80},
                    "relation": {"type": "string", "minLength": 1, "maxLength": 60},
                    "tail": {"type": "string", "minLength": 1, "maxLength": 120},
                    "text": {"type": "string", "minLength": 1, "maxLength": 160},
                },
                "required": ["head", "relation", "tail", "text"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["thoughts"],
    "additionalProperties": False,
}
FORGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"replaces": {"type": "boolean"}},
    "required": ["replaces"],
    "additionalProperties": False,
}
MERGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 240}},
    "required": ["text"],
    "additionalProperties": False,
}

# Few-shot, as TiM's insert prompt: instructions, then worked examples as earlier chat
# turns (a small model copies examples written inline into its answer far more often).
_THINK_SYSTEM = """You keep a long-term memory of thoughts about a conversation. A \
thought is one fact stated as a relation between two entities (head, relation, tail) \
and one short sentence saying it. Read the exchange and write the thoughts worth \
remembering later: facts about the people in it (where they live or work, what they \
did, plan, like, own, who they know), with the date when the text gives one. Use names, \
never pronouns. Write no thought for small talk. Answer with JSON only."""
_THINK_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Exchange (2021/03/14):\nJonas: I finally sold my old van and bought a bike for "
     "commuting.\nPriya: Good call, the traffic near the harbour is awful.",
     '{"thoughts": [{"head": "Jonas", "relation": "sold", "tail": "his old van", '
     '"text": "Jonas sold his old van in March 2021."}, {"head": "Jonas", "relation": '
     '"commutes by", "tail": "bike", "text": "Jonas bought a bike to commute."}]}'),
    ("Exchange (2021/03/20):\nPriya: How are you?\nJonas: Fine, thanks!",
     '{"thoughts": []}'),
)
_THINK_PROMPT = "Exchange ({date}):\n{exchange}"

_FORGET_PROMPT = """Two facts about the same person or thing, the second one newer:
old: {old}
new: {new}
Does the new fact replace the old one (they cannot both be true now), or can both be \
true? Answer JSON {{"replaces": true}} or {{"replaces": false}}.
JSON:"""

_MERGE_PROMPT = """These sentences state nearly the same fact:
{texts}
Write one short sentence that says everything they say. Answer JSON {{"text": "..."}}.
JSON:"""


@dataclass(frozen=True)
class ThoughtDraft:
    """A thought to add: the relation ``(head, relation, tail)`` and the sentence
    ``text`` stating it (default: ``"head relation tail."``). ``timestamp`` is when it
    was stated (default: the time of the add); ``source_turn_ids`` its provenance."""

    head: str
    relation: str
    tail: str
    text: str = ""
    timestamp: datetime | None = None
    session_id: str | None = None
    source_turn_ids: tuple[str, ...] = ()

    @property
    def sentence(self) -> str:
        """``text``, or ``"head relation tail."`` when there is none."""
        return self.text.strip() or f"{self.head} {self.relation} {self.tail}."


@dataclass(frozen=True)
class Exchange:
    """A question/response pair to post-think about: the turns, oldest first."""

    turns: tuple[Turn, ...]

    @property
    def timestamp(self) -> datetime:
        return self.turns[-1].timestamp

    @property
    def session_id(self) -> str:
        return self.turns[-1].session_id


def parse_thoughts(value: Any, exchange: Exchange) -> list[ThoughtDraft]:
    """Drafts from the validated JSON of one post-thinking reply, each carrying the
    exchange's provenance; entries with an empty field are skipped."""
    drafts: list[ThoughtDraft] = []
    for item in value.get("thoughts", []) if isinstance(value, dict) else []:
        fields = [" ".join(str(item.get(f, "")).split())
                  for f in ("head", "relation", "tail", "text")]
        if not all(fields[:3]):
            continue
        drafts.append(ThoughtDraft(
            head=fields[0], relation=fields[1], tail=fields[2], text=fields[3],
            timestamp=exchange.timestamp, session_id=exchange.session_id,
            source_turn_ids=tuple(t.id for t in exchange.turns)))
    return drafts


class Thinker:
    """Runs TiM's LLM steps through ``llm`` (batched, JSON-schema constrained)."""

    def __init__(self, llm: LLM, *, max_tokens: int = 256) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self._count = threading.Lock()
        #: items whose reply was unusable after the retry (or whose batch failed)
        self.failures = 0

    def count_failures(self, n: int) -> None:
        """Add ``n`` items to :attr:`failures` (thread-safe)."""
        with self._count:
            self.failures += n

    def think(self, exchanges: Sequence[Exchange]) -> list[list[ThoughtDraft]]:
        """Thoughts for each exchange, in order (empty where the model failed)."""
        shots = tuple(m for q, a in _THINK_EXAMPLES
                      for m in ({"role": "user", "content": q},
                                {"role": "assistant", "content": a}))
        requests = [LLMRequest(
            messages=({"role": "system", "content": _THINK_SYSTEM}, *shots,
                      {"role": "user", "content": _THINK_PROMPT.format(
                          date=e.timestamp.strftime("%Y/%m/%d"),
                          exchange="\n".join(f"{t.name or t.role}: {t.content}"
                                             for t in e.turns))}),
            max_tokens=self.max_tokens, json_schema=THOUGHT_SCHEMA, operation="post_thinking")
            for e in exchanges]
        done = self._complete(requests, "post-thinking")
        return [parse_thoughts(c.parsed, e) if c is not None else []
                for e, c in zip(exchanges, done, strict=True)]

    def replaces(self, pairs: Sequence[tuple[str, str]]) -> list[bool | None]:
        """For (old text, new text) pairs: whether the new one supersedes the old
        (None where the model gave no usable answer)."""
        requests = [LLMRequest(
            messages=({"role": "user", "content": _FORGET_PROMPT.format(old=o, new=n)},),
            max_tokens=24, json_schema=FORGET_SCHEMA, operation="thought_forget")
            for o, n in pairs]
        return [bool(c.parsed["replaces"]) if c is not None else None
                for c in self._complete(requests, "forget decision")]

    def merge_text(self, texts: Sequence[str]) -> str | None:
        """One sentence stating all of ``texts`` (None when the model failed)."""
        [c] = self._complete([LLMRequest(
            messages=({"role": "user", "content": _MERGE_PROMPT.format(
                texts="\n".join(f"- {t}" for t in texts))},),
            max_tokens=96, json_schema=MERGE_SCHEMA, operation="thought_merge")],
            "merge")
        return " ".join(str(c.parsed["text"]).split()) if c is not None else None

    def _complete(self, requests: list[LLMRequest], what: str) -> list[Completion | None]:
        if not requests:
            return []
        try:
            done = self.llm.complete(requests)
        except LLMError as exc:
            log.warning("%s failed for %d items (skipped): %s", what, len(requests), exc)
            self.count_failures(len(requests))
            return [None] * len(requests)
        out: list[Completion | None] = []
        for c in done:
            if c.ok:
                out.append(c)
            else:
                log.warning("%s: unusable model output (skipped): %s", what, c.error)
                self.count_failures(1)
                out.append(None)
        return out

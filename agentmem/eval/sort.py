"""SORT (Sequence Order Recall Tasks, Pink et al. 2024): instance construction.

Book-SORT's protocol (``../shared/SPECS.md`` section 4):
- Excerpts of L_E words are taken from a text; words are whitespace-split.
- Two non-overlapping segments of L_S words are taken from each excerpt, both starting
  at sentence boundaries. The question is which one came first.
- There is one pair per distance bin per excerpt, with 4 bins over d, the distance
  between the segments' start words. The bin edges are
  ``[L_S, L_E//4, L_E//3, L_E//2, L_E//1.25]`` when L_E < 5000, else
  ``[L_S, 1000, L_E//4, L_E//2, L_E//1.25]``; a pair is in bin i if
  ``edges[i] < d <= edges[i+1]``.
- The presentation order is counterbalanced: half of the instances show the earlier
  segment as A, in every (excerpt length, segment length, bin) cell.

Excerpts reserved for prompt selection are kept apart from evaluation: the first
``reserve`` share of each text's words is the prompt-selection region and the rest the
evaluation region, so no evaluation excerpt overlaps a reserved one. Everything is
drawn from one seeded generator: the same texts and seed give the same instances.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["EXCERPT_LENGTHS", "SEGMENT_LENGTHS", "SortInstance", "answer_from_memory",
           "bin_edges", "bin_of", "build_instances", "counterbalance", "ingest_stream",
           "locate", "parse_choice", "sentence_starts"]

EXCERPT_LENGTHS: tuple[int, ...] = (250, 1000, 2500, 10000, 20000)
SEGMENT_LENGTHS: tuple[int, ...] = (20, 50)
SPLITS: tuple[str, ...] = ("eval", "prompt")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
# the choice right after the answer prefix ("Answer: Segment"), or a lone "segment X"
_LEADING = re.compile(r"^[\s*_(\[\"'`]*(?:segment|fragment)?[\s*_(\[\"'`:]*([ab])(?![a-z])",
                      re.IGNORECASE)
_NAMED = re.compile(r"\b(?:segment|fragment)\s*([ab])\b", re.IGNORECASE)


def bin_edges(excerpt_length: int, segment_length: int) -> tuple[int, ...]:
    """The 5 edges of the 4 distance bins for (L_E, L_S)."""
    le, ls = excerpt_length, segment_length
    if le < 5000:
        return (ls, le // 4, le // 3, le // 2, int(le // 1.25))
    return (ls, 1000, le // 4, le // 2, int(le // 1.25))


def bin_of(distance: int, edges: Sequence[int]) -> int | None:
    """The bin (0-3) whose ``lower < distance <= upper``, or None."""
    for i in range(len(edges) - 1):
        if edges[i] < distance <= edges[i + 1]:
            return i
    return None


def sentence_starts(words: Sequence[str]) -> np.ndarray:
    """Indexes of the words that begin a sentence: the first word, and every word
    after one ending in ``.``, ``!`` or ``?`` (closing quotes or brackets allowed)."""
    starts = [0] if words else []
    starts += [i + 1 for i, w in enumerate(words[:-1]) if _SENTENCE_END.search(w)]
    return np.asarray(starts, dtype=np.int64)


@dataclass(frozen=True)
class SortInstance:
    """One SORT question. Offsets are word indexes inside the excerpt, whose own
    start is ``excerpt_start`` in the source's words. ``a_first``: segment A is the
    earlier one (the answer is then ``"A"``)."""

    id: str
    source: str
    split: str
    excerpt_start: int
    excerpt_length: int
    segment_length: int
    bin: int
    distance: int
    first_start: int
    second_start: int
    a_first: bool
    segment_a: str
    segment_b: str

    @property
    def answer(self) -> str:
        """``"A"`` or ``"B"``: the segment that appeared first."""
        return "A" if self.a_first else "B"


def parse_choice(text: str) -> str | None:
    """The A/B choice in a reply to SORT's prompt, whose answer prefix is "Answer:
    Segment": the letter the reply starts with ("A", " B.", "**A**", "(B)",
    "Segment A"), else the one segment named in it ("I think segment B came first");
    None when there is no choice or both are named."""
    m = _LEADING.match(text)
    if m:
        return m.group(1).upper()
    named = {x.upper() for x in _NAMED.findall(text)}
    return named.pop() if len(named) == 1 else None


def _pair(starts: np.ndarray, excerpt_length: int, segment_length: int,
          edges: Sequence[int], b: int, rng: np.random.Generator) -> tuple[int, int] | None:
    """A random (first, second) pair of sentence starts inside the excerpt whose
    distance is in bin ``b``; None when the excerpt has none."""
    fits = starts[starts + segment_length <= excerpt_length]
    # segments never overlap (d > L_S), even where tiny custom lengths put an edge below
    lower, upper = max(edges[b], segment_length), edges[b + 1]
    lo = np.searchsorted(fits, fits + lower, side="right")  # second > first + lower
    hi = np.searchsorted(fits, fits + upper, side="right")  # second <= first + upper
    counts = np.maximum(hi - lo, 0)  # edges out of order (tiny custom lengths): empty bin
    total = int(counts.sum())
    if total == 0:
        return None
    pick = int(rng.integers(total))  # uniform over all valid pairs
    i = int(np.searchsorted(np.cumsum(counts), pick, side="right"))
    j = int(lo[i] + pick - (np.cumsum(counts)[i] - counts[i]))
    return int(fits[i]), int(fits[j])


def counterbalance(n: int, rng: np.random.Generator) -> list[bool]:
    """``a_first`` for ``n`` instances: exactly ``n // 2`` show the earlier segment as
    A (one more shows it as B when ``n`` is odd), in a random order."""
    flags = np.zeros(n, dtype=bool)
    flags[: n // 2] = True
    return [bool(f) for f in rng.permutation(flags)]


def build_instances(texts: dict[str, str], *, excerpts: int = 4,
                    excerpt_lengths: Sequence[int] = EXCERPT_LENGTHS,
                    segment_lengths: Sequence[int] = SEGMENT_LENGTHS, seed: int = 0,
                    reserve: float = 0.1, split: str = "eval") -> list[SortInstance]:
    """SORT instances from named texts: per text, excerpt length and segment length,
    ``excerpts`` excerpts with one pair per distance bin (a bin an excerpt cannot fill
    is skipped). ``split="prompt"`` draws from the reserved region instead (for
    choosing prompts), ``"eval"`` from the rest; a text too short for an excerpt
    length in that region gives none of that length."""
    if split not in SPLITS:
        raise ConfigError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
    if not 0 < reserve < 1:
        raise ConfigError(f"reserve: must be in (0, 1), got {reserve!r}")
    for name, values in (("excerpt_lengths", excerpt_lengths),
                         ("segment_lengths", segment_lengths)):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                             for v in values):
            raise ConfigError(f"{name}: must be positive ints, got {values!r}")
    rng = np.random.default_rng(seed)
    out: list[SortInstance] = []
    for source in sorted(texts):
        words = texts[source].split()
        cut = int(len(words) * reserve)
        lo, hi = (cut, len(words)) if split == "eval" else (0, cut)
        for le in excerpt_lengths:
            if hi - lo < le:
                continue
            for e in range(excerpts):
                start = int(rng.integers(lo, hi - le + 1))
                excerpt = words[start : start + le]
                starts = sentence_starts(excerpt)
                for ls in segment_lengths:
                    edges = bin_edges(le, ls)
                    for b in range(4):
                        pair = _pair(starts, le, ls, edges, b, rng)
                        if pair is None:
                            continue
                        first, second = pair
                        seg1 = " ".join(excerpt[first : first + ls])
                        seg2 = " ".join(excerpt[second : second + ls])
                        out.append(SortInstance(
                            id=f"{source}-{split}-{le}-{e}-{ls}-{b}", source=source,
                            split=split, excerpt_start=start, excerpt_length=le,
                            segment_length=ls, bin=b, distance=second - first,
                            first_start=first, second_start=second, a_first=True,
                            segment_a=seg1, segment_b=seg2))
    # counterbalanced within each (excerpt length, segment length, bin) cell, so that a
    # model always answering "A" scores chance in every cell of the report too
    cells: dict[tuple[int, int, int], list[int]] = {}
    for n, inst in enumerate(out):
        cells.setdefault((inst.excerpt_length, inst.segment_length, inst.bin), []).append(n)
    flags = [True] * len(out)
    for key in sorted(cells):
        for n, a in zip(cells[key], counterbalance(len(cells[key]), rng), strict=True):
            flags[n] = a
    return [inst if a else _swap(inst) for inst, a in zip(out, flags, strict=True)]


def _swap(inst: SortInstance) -> SortInstance:
    return SortInstance(**{**inst.__dict__, "a_first": False,
                           "segment_a": inst.segment_b, "segment_b": inst.segment_a})


# -- the memory condition -----------------------------------------------------------------

_STREAM_START = "2000-01-01T00:00:00"


def ingest_stream(mem: Any, user_id: str, words: Sequence[str], *, chunk: int = 100
                  ) -> list[Any]:
    """Store ``words`` in ``mem`` as a timestamped stream: one user message per
    ``chunk`` words, a minute apart, in one session. Returns the units in stream
    order (``Memory.units``)."""
    from datetime import datetime, timedelta

    if chunk < 1:
        raise ConfigError(f"chunk: must be >= 1, got {chunk!r}")
    start = datetime.fromisoformat(_STREAM_START)
    for i in range(0, len(words), chunk):
        mem.add([{"role": "user", "content": " ".join(words[i : i + chunk])}],
                user_id=user_id, session_id="stream",
                timestamp=start + timedelta(minutes=i // chunk))
    return list(mem.units(user_id))


def locate(mem: Any, user_id: str, segment: str, stream: Sequence[Any], *, k: int = 5
           ) -> int | None:
    """Where ``segment`` starts in the stored stream, as a word offset, or None.

    Candidates are the units that search ranks first for the segment's text (dense and
    lexical). Each is read with the unit after it, so a segment that straddles a unit
    boundary is still found; the segment's words are matched at every start in that
    window, and the longest matching prefix wins (ties: the earlier offset)."""
    seg = segment.split()
    if not seg:
        return None
    index = {u.id: i for i, u in enumerate(stream)}
    texts = [" ".join(t.content for t in u.turns).split() for u in stream]  # no speakers
    offsets = [0]
    for t in texts:
        offsets.append(offsets[-1] + len(t))
    best: tuple[int, int] | None = None  # (matched words, -offset)
    for hit in mem.search(segment, user_id=user_id, k=k, time_aware=False,
                          kinds=["round", "turn"]):
        i = index.get(hit.id)
        if i is None:
            continue
        window = [w for t in texts[max(0, i - 1) : i + 2] for w in t]
        base = offsets[max(0, i - 1)]
        for s in range(len(window)):
            n = 0
            while n < len(seg) and s + n < len(window) and window[s + n] == seg[n]:
                n += 1
            if n and (best is None or (n, -(base + s)) > best):
                best = (n, -(base + s))
    if best is None or best[0] < min(len(seg), 3):
        return None
    return -best[1]


def answer_from_memory(mem: Any, user_id: str, inst: SortInstance, stream: Sequence[Any]
                       ) -> str | None:
    """SORT's answer read from the stored order: the segment located earlier in the
    stream is the one that appeared first (None if either is not found)."""
    a = locate(mem, user_id, inst.segment_a, stream)
    b = locate(mem, user_id, inst.segment_b, stream)
    if a is None or b is None or a == b:
        return None
    return "A" if a < b else "B"

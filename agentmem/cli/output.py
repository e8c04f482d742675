"""What ``agentmem`` prints: the JSON shapes of ``--json`` (stable; documented in
:mod:`agentmem.cli`) and the human-readable tables."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, TextIO

from ..stores import MaintenanceResult
from ..temporal import format_timestamp
from ..types import AddResult, Hit, MemoryStats, MemoryUnit, Thought, Turn

__all__ = [
    "add_json",
    "hit_json",
    "hits_table",
    "key_values",
    "maintenance_json",
    "render_table",
    "stats_json",
    "stats_table",
    "thought_json",
    "thought_table",
    "unit_json",
    "unit_table",
    "write_json",
]

JSONObject = dict[str, Any]
_MIN_TEXT = 30


def _finite(value: object) -> object:
    """``value`` with NaN and infinite floats as None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(value: object, out: TextIO) -> None:
    """``value`` as indented, valid JSON (UTF-8 text kept as is; NaN and infinities,
    which a turn's metadata may hold, as null), then a newline."""
    json.dump(_finite(value), out, ensure_ascii=False, indent=2, allow_nan=False)
    out.write("\n")


# -- JSON shapes ----------------------------------------------------------------------


def turn_json(t: Turn) -> JSONObject:
    """``{id, session_id, position, role, name, content, timestamp, metadata}``."""
    return {"id": t.id, "session_id": t.session_id, "position": t.position, "role": t.role,
            "name": t.name, "content": t.content, "timestamp": format_timestamp(t.timestamp),
            "metadata": t.metadata}


def hit_json(h: Hit) -> JSONObject:
    """A search hit: ``{id, kind, user_id, session_id, text, timestamp, score, store,
    scores, turn_ids, retention, strength}`` (the last two null without decay)."""
    return {"id": h.id, "kind": h.kind, "user_id": h.user_id, "session_id": h.session_id,
            "text": h.text, "timestamp": format_timestamp(h.timestamp), "score": h.score,
            "store": h.store, "scores": dict(h.scores), "turn_ids": list(h.turn_ids),
            "retention": h.retention, "strength": h.strength}


def unit_json(u: MemoryUnit) -> JSONObject:
    """A memory unit: ``{id, kind, user_id, session_id, text, timestamp, store, key,
    turns: [turn]}``."""
    return {"id": u.id, "kind": u.kind, "user_id": u.user_id, "session_id": u.session_id,
            "text": u.text, "timestamp": format_timestamp(u.timestamp), "store": u.store,
            "key": u.key, "turns": [turn_json(t) for t in u.turns]}


def thought_json(t: Thought) -> JSONObject:
    """A thought: ``{id, kind: "thought", user_id, session_id, text, timestamp, head,
    relation, tail, status, replaced_by, source_turn_ids}``."""
    return {"id": t.id, "kind": "thought", "user_id": t.user_id, "session_id": t.session_id,
            "text": t.text, "timestamp": format_timestamp(t.timestamp), "head": t.head,
            "relation": t.relation, "tail": t.tail, "status": t.status,
            "replaced_by": t.replaced_by, "source_turn_ids": list(t.source_turn_ids)}


def add_json(r: AddResult) -> JSONObject:
    """One add call: ``{user_id, session_id, turn_ids, unit_ids}``."""
    return {"user_id": r.user_id, "session_id": r.session_id, "turn_ids": list(r.turn_ids),
            "unit_ids": list(r.unit_ids)}


def stats_json(s: MemoryStats) -> JSONObject:
    """Every field of :class:`~agentmem.types.MemoryStats`, by name."""
    return asdict(s)


def maintenance_json(r: MaintenanceResult) -> JSONObject:
    """``{checked, archived: [id], retention: {id: retention}}``."""
    return {"checked": r.checked, "archived": list(r.archived), "retention": dict(r.retention)}


# -- tables ---------------------------------------------------------------------------


def _width() -> int:
    return shutil.get_terminal_size((120, 24)).columns


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last one (free text) is cut to one
    line that fits the terminal (at least 30 characters)."""
    fixed = [max([len(headers[c]), *(len(r[c]) for r in rows)])
             for c in range(len(headers) - 1)]
    room = max(_width() - sum(w + 2 for w in fixed), _MIN_TEXT)
    lines = []
    for row in [list(headers), *([*r[:-1], _one_line(r[-1], room)] for r in rows)]:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], fixed, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_value(v) if not isinstance(v, Mapping) else json.dumps(v)}"
                         for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def key_values(pairs: Sequence[tuple[str, object]]) -> str:
    """Two columns: a name, then its value (dicts as ``k=v, ...``; None as ``-``)."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {_value(v)}".rstrip() for k, v in pairs)


def hits_table(hits: Sequence[Hit]) -> str:
    """Search hits, best first; retention and strength columns when decay is on."""
    if not hits:
        return "no memories found"
    decay = any(h.retention is not None for h in hits)
    headers = ["#", "SCORE", "KIND", "DATE", "SESSION", "ID",
               *(["RETENTION", "S"] if decay else []), "TEXT"]
    rows = [[str(i), f"{h.score:.3f}", h.kind, _date(h.timestamp), h.session_id, h.id,
             *([_value(h.retention), _value(h.strength)] if decay else []), h.text]
            for i, h in enumerate(hits, start=1)]
    return render_table(headers, rows)


def unit_table(u: MemoryUnit) -> str:
    """One unit's fields, its text, then its turns."""
    head = key_values([("id", u.id), ("kind", u.kind), ("user", u.user_id),
                       ("session", u.session_id), ("timestamp", format_timestamp(u.timestamp)),
                       ("store", u.store), *([("key", u.key)] if u.key else [])])
    turns = "\n".join(f"  [{t.position}] {format_timestamp(t.timestamp)}  "
                      f"{t.name or t.role}: {t.content}" for t in u.turns)
    return f"{head}\n\n{u.text}" + (f"\n\nturns:\n{turns}" if turns else "")


def thought_table(t: Thought) -> str:
    """One thought's fields, then its text."""
    head = key_values([("id", t.id), ("kind", "thought"), ("user", t.user_id),
                       ("session", t.session_id), ("timestamp", format_timestamp(t.timestamp)),
                       ("triple", f"{t.head} | {t.relation} | {t.tail}"),
                       ("status", t.status), ("replaced by", t.replaced_by),
                       ("source turns", ", ".join(t.source_turn_ids) or None)])
    return f"{head}\n\n{t.text}"


def stats_table(s: MemoryStats) -> str:
    """The stats as name / value lines (storage in KiB or MiB too)."""
    pairs: list[tuple[str, object]] = []
    for name, value in asdict(s).items():
        if name == "storage_bytes" and isinstance(value, int):
            size = (f"{value / 2**20:.1f} MiB" if value >= 2**20 else f"{value / 2**10:.1f} KiB")
            value = f"{value} ({size})"
        pairs.append((name.replace("_", " "), value))
    return key_values(pairs)

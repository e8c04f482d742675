"""Read turns and questions from LoCoMo files (used by the benchmarks and examples).

Only the conversation itself is read: the dataset's observation, summary and event
annotations are never touched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocomoSession", "load_sessions", "load_questions"]

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "locomo"


@dataclass(frozen=True)
class LocomoSession:
    conversation: str
    index: int
    date_time: str
    turns: list[dict[str, str]]  # speaker, text, dia_id


def _files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise SystemExit(f"no LoCoMo *.json files in {folder}")
    return files


def load_sessions(folder: Path = DEFAULT_DIR) -> list[LocomoSession]:
    """Every non-empty session of every conversation, in order."""
    out: list[LocomoSession] = []
    for f in _files(folder):
        data = json.loads(f.read_text())
        conv = data.get("conversation", data)
        nums = sorted(int(m.group(1)) for k in conv
                      if (m := re.fullmatch(r"session_(\d+)", k)))
        for n in nums:
            turns = conv.get(f"session_{n}") or []
            if turns:
                out.append(LocomoSession(f.stem, n, conv[f"session_{n}_date_time"],
                                         [{"speaker": t["speaker"], "text": t["text"],
                                           "dia_id": t.get("dia_id", "")} for t in turns]))
    return out


def load_questions(folder: Path = DEFAULT_DIR) -> list[str]:
    """The question texts of every conversation."""
    qs: list[str] = []
    for f in _files(folder):
        data = json.loads(f.read_text())
        qs.extend(q["question"] for q in data.get("qa", []) if q.get("question"))
    return qs

"""What :class:`~agentmem.integrations.langgraph.AgentMemStore` indexes of an item,
following LangGraph's ``index`` convention: the JSON paths of a put's ``index=`` or
of the store's fields (``"$"``: the whole value), each text found embedded on its
own, and LangGraph's store config ``index={"dims", "embed", "fields"}``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langgraph.store.base import get_text_at_path, tokenize_path

from ..errors import InvalidInput

__all__ = ["default_fields", "index_paths", "index_texts", "render"]


def index_paths(index: object, field: str) -> tuple[str, ...] | None:
    """Index paths from LangGraph's ``index`` argument (False: none)."""
    if index is False:
        return None
    if isinstance(index, str) or not isinstance(index, Sequence) or not all(
            isinstance(p, str) and p.strip() for p in index):
        raise InvalidInput(field, f"must be False or a list of field paths, got {index!r}")
    return tuple(index)


def render(value: dict[str, Any]) -> str:
    """The whole value as text: one ``field: value`` line per top-level field."""
    lines = []
    for k, v in value.items():
        shown = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
        lines.append(f"{k}: {shown}")
    return "\n".join(lines)


def index_texts(value: dict[str, Any], paths: Sequence[str] | None) -> list[str]:
    """The texts to embed, one per field found (each list element of ``a[*]``), each
    once, in path order."""
    texts: list[str] = []
    for p in paths or ():
        found = [render(value)] if p == "$" else get_text_at_path(value, tokenize_path(p))
        texts.extend(t.strip() for t in found if t.strip())
    return list(dict.fromkeys(texts))


def default_fields(index: object, fields: Sequence[str] | Literal[False] | None,
                  dims: int) -> Sequence[str] | Literal[False]:
    """The default fields from LangGraph's ``index`` store config and ``fields``."""
    if index is None:
        return ("$",) if fields is None else fields
    if not isinstance(index, Mapping):
        raise InvalidInput("index", f"must be a dict like LangGraph's IndexConfig, got "
                                    f"{type(index).__name__}")
    unknown = sorted(set(index) - {"dims", "embed", "fields"})
    if unknown:
        raise InvalidInput("index", f"unknown keys {unknown}; use dims, embed, fields")
    if "dims" in index and index["dims"] != dims:
        raise InvalidInput("index.dims", f"is {index['dims']!r} but the memory's "
                                         f"embedder makes {dims}-dimensional vectors "
                                         f"(agentmem embeds with its own embedder)")
    if "fields" not in index or index["fields"] is None:
        return ("$",) if fields is None else fields
    if fields is not None:
        raise InvalidInput("index", "give the fields either in index= or in fields=, "
                                    "not both")
    if isinstance(index["fields"], str):
        raise InvalidInput("index.fields", f"must be a list of field paths, got "
                                           f"{index['fields']!r}")
    return list(index["fields"])

"""A griffe extension for the docs build: docstrings here use Sphinx roles
(``:class:`~agentmem.Memory```, ``:meth:`search```), which Markdown would show raw.
They become code spans: ``Memory``, ``search()``."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    name = target.rsplit(".", 1)[-1] if short else target
    if match.group(0).startswith((":meth:", ":func:")) and not name.endswith(")"):
        name += "()"
    return f"`{name}`"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as Markdown code spans."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)

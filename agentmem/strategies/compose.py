"""Composing a memory's strategies: the checks on the list ``Memory(strategies=...)``
is given, and on what a strategy needs of the memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from ..errors import ConfigError, InvalidInput
from .base import Strategy

__all__ = ["BUILT_IN", "checked", "needs_llm"]

#: the built-in strategies' names (reserved: a strategy given with ``strategies=``
#: needs another), and the unit retrievers' names in a ranking's scores
BUILT_IN: tuple[str, ...] = ("episodic", "keys", "thoughts", "bank", "items")
_RETRIEVERS = ("dense", "lexical")

S = TypeVar("S", bound=Strategy)


def needs_llm(strategy: S, llm: Any) -> S:
    """``strategy``, or :class:`ConfigError` when it requires an LLM and ``llm`` is
    None."""
    if strategy.requires_llm and llm is None:
        raise ConfigError(strategy.requires_llm)
    return strategy


def checked(strategies: Sequence[Strategy]) -> list[Strategy]:
    """The strategies given with ``strategies=``, checked: instances of
    :class:`Strategy`, each named, no name taken twice (or by a built-in), none already
    serving another memory."""
    given = list(strategies) if isinstance(strategies, (list, tuple)) else None
    if given is None or not all(isinstance(s, Strategy) for s in given):
        raise InvalidInput("strategies", "must be a list of agentmem.ext.Strategy instances")
    taken = {*BUILT_IN, *_RETRIEVERS}
    for s in given:
        if not s.name or not isinstance(s.name, str):
            raise InvalidInput("strategies", f"{type(s).__name__} has no name")
        if s.name in taken:
            raise InvalidInput("strategies", f"the name {s.name!r} is taken: two strategies "
                                             "are named so, or it is a built-in's")
        if hasattr(s, "engine"):
            raise InvalidInput("strategies", f"this {type(s).__name__} belongs to another "
                                             "memory: give each Memory its own instance")
        taken.add(s.name)
    return given

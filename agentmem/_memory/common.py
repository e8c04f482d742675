"""Small helpers shared by the :class:`~agentmem.Memory` facade and its parts."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

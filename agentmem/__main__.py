"""``python -m agentmem``: the ``agentmem`` command (see :mod:`agentmem.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

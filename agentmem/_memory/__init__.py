"""The :class:`~agentmem.Memory` facade's parts, one module per concern; ``memory.py``
keeps the constructor, the add / search / respond flow and the public methods, which
delegate here:

- :mod:`.indexing`: units into the lexical index and their dated events, the dense
  index sync (crash repair), ``reindex``;
- :mod:`.keys`: fact-augmented key expansion of new units;
- :mod:`.thoughts`: Think-in-Memory (post-thinking, ``add_thoughts``, ``thoughts``,
  ``thought``, ``history``, thought hits);
- :mod:`.bank`: MemoryBank (forgetting and reinforcement, ``maintain``, ``restore``,
  ``summarize``, ``profile``, decay in the ranking);
- :mod:`.deletion`: ``delete``, ``delete_session``, ``forget_user`` and the erasure
  under them;
- :mod:`.export`: ``export`` and ``import_`` (the JSONL format is :mod:`agentmem.transfer`).
"""

from . import bank, deletion, export, indexing, keys, thoughts

__all__ = ["bank", "deletion", "export", "indexing", "keys", "thoughts"]

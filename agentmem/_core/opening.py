"""Opening a memory: the folder (and its OS lock), the database, the units' indexes
and the embedder as one :class:`~agentmem._core.engine.Engine`; then each strategy's
``open``, and the index repair on open."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..embed import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from ..errors import BackendError, ConfigError, InvalidInput
from ..index import DEFAULT_SHARDS, ChromaIndex, lexical_index_for
from ..llm import MeteredLLM
from ..storage.database import DB_FILENAME, Database
from ..storage.lock import FolderLock
from . import indexing
from .engine import Engine

__all__ = ["open_engine", "settle_plugins"]


class Opens(Protocol):
    """A strategy, as opening sees it."""

    def open(self, engine: Engine) -> None:
        """Settle its settings and load what it needs."""
        ...

    def reindex(self) -> None:
        """Rebuild its derived state (the embedder changed)."""
        ...

    def on_units(self, *args: Any) -> Any:
        """Follow units written by others."""
        ...


def open_engine(path: Path | None, *, url: str | None, chroma_host: str | None,
                chroma_port: int, chroma_prefix: str, embedder: Embedder | None,
                llm: MeteredLLM | None, lock_timeout: float,
                strategies: Sequence[Opens]) -> Engine:
    """The engine of the memory under ``path`` (or ``url`` / ``chroma_host``), with
    ``strategies`` opened on it; what was opened is closed again if anything fails."""
    read_only = False
    if path is not None:
        if path.exists() and not path.is_dir():
            raise InvalidInput("path", f"{str(path)!r} exists and is not a folder")
        read_only = (url is None and (path / DB_FILENAME).exists()
                     and not os.access(path, os.W_OK))
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"path: cannot create the memory folder "
                               f"{str(path)!r}: {exc.strerror}") from exc
    db_url = url or (f"sqlite:///{path / DB_FILENAME}" if path else "sqlite://")
    embedded = path is not None and chroma_host is None
    folder_lock = FolderLock(path, shared=read_only) if embedded and path else None
    try:
        db = Database(db_url, lock_timeout=lock_timeout, read_only=read_only)
    except BaseException:
        if folder_lock is not None:
            folder_lock.release()
        raise
    engine: Engine | None = None
    dense: ChromaIndex | None = None
    try:
        with db._translated():  # creating it may wait for another writer
            lexical = lexical_index_for(db.engine, create=not read_only)
        if lexical is None:
            warnings.warn(
                f"no lexical index for the {db.engine.dialect.name} dialect yet: "
                "search uses dense vectors only",
                stacklevel=3,
            )
        # a memory made before the shared layout has one collection per user
        made_before_shards = (db.get_meta("granularity") is not None
                              and db.get_meta("dense_layout") is None)
        layout = json.loads(db.settle_meta("dense_layout",
                                           json.dumps({"shards": DEFAULT_SHARDS})))
        dense = ChromaIndex(
            # read-only: Chroma cannot open its files; vectors are held in memory
            path=(path / "chroma") if embedded and path and not read_only else None,
            host=None if read_only else chroma_host, port=chroma_port,
            prefix=chroma_prefix, shards=int(layout["shards"]))
        engine = Engine(db=db, dense=dense, lexical=lexical,
                        embedder=CachedEmbedder(embedder or SentenceTransformerEmbedder(), db),
                        llm=llm, read_only=read_only, path=path, folder_lock=folder_lock)
        for s in strategies:
            s.open(engine)
        engine.listeners.extend(strategies)
        if indexing.open_index(engine, made_before_shards=made_before_shards):
            for s in strategies:  # the embedder changed
                s.reindex()
        return engine
    except BaseException:
        if engine is not None:
            engine.close()
        else:
            try:
                if dense is not None:
                    dense.close(release_files=folder_lock is not None and folder_lock.last())
            finally:
                db.close()
                if folder_lock is not None:
                    folder_lock.release()
        raise


def settle_plugins(engine: Engine, names: Sequence[str]) -> None:
    """Record the strategies given with ``strategies=`` (beyond the built-ins); a memory
    used with one refuses to open without it, so that ``forget_user`` and ``delete``
    always reach its records."""
    stored = json.loads(engine.db.get_meta("plugin_strategies") or "[]")
    missing = [n for n in stored if n not in names]
    if missing:
        raise ConfigError(
            f"strategies: this memory holds records of the strategy {missing[0]!r}; open "
            f"it with that strategy (Memory(..., strategies=[...])), so that deletions "
            f"and forget_user reach them")
    if not engine.read_only and set(names) - set(stored):
        engine.db.set_meta("plugin_strategies", json.dumps(sorted({*stored, *names})))

"""The facade's internals, below the strategies: the engine (database, indexes,
embedder, the write path), index maintenance, deletion, retrieval, opening, export /
import and stats. Nothing here imports a strategy or the facade."""

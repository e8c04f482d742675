"""SQL tables: the episodic log (source of truth), memory units, the embedding cache
and the bookkeeping that lets indexes be repaired after a crash."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "SCHEMA_VERSION",
    "embeddings",
    "expansions",
    "index_tombstones",
    "llm_responses",
    "meta",
    "metadata",
    "sessions",
    "memory_log",
    "store_items",
    "thought_sources",
    "thoughts",
    "turns",
    "unit_events",
    "unit_strength",
    "unit_turns",
    "units",
    "users",
]

SCHEMA_VERSION = "1"

metadata = sa.MetaData()

meta = sa.Table(
    "agentmem_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("user_id", sa.String(256), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
)

turns = sa.Table(
    "turns",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("session_id", sa.String(256), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.ForeignKeyConstraint(["user_id", "session_id"], ["sessions.user_id", "sessions.id"]),
    sa.UniqueConstraint("user_id", "session_id", "position", name="uq_turn_position"),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("session_id", sa.String(256), nullable=False),
    sa.Column("store", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    # The retrieval key when it differs from the text (fact-augmented key expansion);
    # indexed instead of the text, lexically and densely.
    sa.Column("key", sa.Text, nullable=True),
    sa.Column("key_hash", sa.String(64), nullable=True, index=True),
    # Set on a separate key row (kind "key"): the unit it stands for. Search merges a
    # key's rank into its parent's; listing, export order and deletion follow parents.
    sa.Column("parent_id", sa.String(32), nullable=True, index=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    # rowid of the unit's row in the lexical index (SQLite FTS5), when it has one.
    sa.Column("lex_rowid", sa.Integer, nullable=True, index=True),
    # True until the vector is in the dense index: repaired on the next open.
    sa.Column("dense_pending", sa.Boolean, nullable=False, default=True),
    # Why the unit could not be indexed (its vector refused: not finite, wrong shape,
    # the embedder or Chroma failing on it alone): set aside, not retried on every
    # write; retried on open and by reindex(). NULL while all is well.
    sa.Column("index_error", sa.Text, nullable=True),
    sa.Index("ix_units_user_session", "user_id", "session_id", "position"),
    sa.Index("ix_units_pending", "dense_pending"),
)

unit_turns = sa.Table(
    "unit_turns",
    metadata,
    sa.Column("unit_id", sa.String(32), sa.ForeignKey("units.id"), primary_key=True),
    sa.Column("turn_id", sa.String(32), sa.ForeignKey("turns.id"), primary_key=True),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Index("ix_unit_turns_turn", "turn_id"),
)

# Dated events of a unit besides its own timestamp: time expressions in its text ("last
# Saturday", "in May") resolved against the unit's timestamp. Derived, rebuilt by
# reindex(); used by time-aware re-ranking.
unit_events = sa.Table(
    "unit_events",
    metadata,
    sa.Column("unit_id", sa.String(32), sa.ForeignKey("units.id"), nullable=False,
              index=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    sa.Column("start", sa.DateTime, nullable=False),
    sa.Column("end", sa.DateTime, nullable=False),
    sa.Index("ix_unit_events_user_start", "user_id", "start"),
)

# MemoryBank's forgetting curve per unit: strength S (1 at first mention, +1 per
# recall), the last recall (or first mention) time, and when it was archived (None:
# active). A unit without a row is at S=1 since its own timestamp.
unit_strength = sa.Table(
    "unit_strength",
    metadata,
    sa.Column("unit_id", sa.String(32), sa.ForeignKey("units.id"), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("strength", sa.Integer, nullable=False),
    sa.Column("last_recall", sa.DateTime, nullable=False),
    sa.Column("archived_at", sa.DateTime, nullable=True),
)

# LLM key expansions (facts, keyphrases, summary) of unit texts, cached by (prompt
# version, model, content hash); purged with the last unit of that content.
expansions = sa.Table(
    "expansion_cache",
    metadata,
    sa.Column("cache_key", sa.String(64), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    sa.Column("value", sa.Text, nullable=False),
)

llm_responses = sa.Table(
    "llm_cache",
    metadata,
    sa.Column("cache_key", sa.String(64), primary_key=True),
    sa.Column("llm", sa.String(256), nullable=False),
    sa.Column("completion", sa.Text, nullable=False),
)

# Think-in-Memory thoughts: (head, relation, tail) + text, per user. ``head_key`` and
# ``relation_key`` are the normalised head and relation that forgetting matches on;
# ``buckets`` the LSH bucket ids (JSON list, one per table) under the parameters kept
# in the meta table; the vector is the embedding cache's row for ``content_hash``.
thoughts = sa.Table(
    "thoughts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False),
    # the order thoughts were added in, per user (ties between equal ones go by it)
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("session_id", sa.String(256), nullable=True),
    sa.Column("head", sa.Text, nullable=False),
    sa.Column("relation", sa.Text, nullable=False),
    sa.Column("tail", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("head_key", sa.String(256), nullable=False),
    sa.Column("relation_key", sa.String(256), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    sa.Column("buckets", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("replaced_by", sa.String(32), nullable=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_thoughts_user_status", "user_id", "status", "seq"),
    sa.Index("ix_thoughts_user_head", "user_id", "head_key", "relation_key"),
)

# Provenance: the turns a thought was derived from (the union, after merges).
thought_sources = sa.Table(
    "thought_sources",
    metadata,
    sa.Column("thought_id", sa.String(32), sa.ForeignKey("thoughts.id"), primary_key=True),
    sa.Column("turn_id", sa.String(32), primary_key=True),
    sa.Index("ix_thought_sources_turn", "turn_id"),
)

# The audit trail of memory operations: thoughts (insert, merge, forget, ...) and
# units (archive, restore); rows go with their memory when it is purged (delete,
# forget_user).
memory_log = sa.Table(
    "memory_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("memory_id", sa.String(32), nullable=False, index=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("other_id", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

embeddings = sa.Table(
    "embedding_cache",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("content_hash", sa.String(64), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

# Items of a LangGraph long-term store (agentmem.integrations.langgraph.AgentMemStore):
# exact get/put by (namespace, key) with a JSON value. ``namespace`` is the namespace
# tuple joined by "." (LangGraph forbids "." inside a label, so the join is exact).
# ``user_id`` is the agentmem user the namespace maps to; ``unit_id`` the unit (store
# "langgraph", kind "item") holding the item's indexed text, None when not indexed.
# Deleting that unit deletes the item (repository.delete_units); forget_user deletes
# every item of the user.
store_items = sa.Table(
    "store_items",
    metadata,
    sa.Column("namespace", sa.Text, primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("unit_id", sa.String(32), sa.ForeignKey("units.id"), nullable=True,
              index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

# Vectors deleted in SQL whose removal from the dense index has not been confirmed.
# Holds only opaque ids: no text and no raw user id.
index_tombstones = sa.Table(
    "index_tombstones",
    metadata,
    sa.Column("unit_id", sa.String(32), primary_key=True),
    sa.Column("collection", sa.String(128), nullable=False),
)

# Columns added after their table first shipped: (table, column) created on open by
# Database when an older file lacks them.
ADDED_COLUMNS: tuple[tuple[sa.Table, str], ...] = (
    (units, "key"), (units, "key_hash"), (units, "parent_id"), (units, "index_error"))

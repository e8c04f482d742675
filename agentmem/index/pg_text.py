"""Lexical index for PostgreSQL: full text search (``tsvector`` + GIN, ranked by
``ts_rank_cd``) in the same database and transaction as the units it indexes.

Ranking is PostgreSQL's cover density, not BM25 as with SQLite FTS5; the query is the
same (any of the query's content words, English stemming) and scoped to one user.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSVECTOR

from .lexical import owner_token, query_words

__all__ = ["PgTextIndex"]

_meta = sa.MetaData()
lex_docs = sa.Table(
    "units_lex",
    _meta,
    sa.Column("rowid", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("owner", sa.String(32), nullable=False, index=True),
    sa.Column("tsv", TSVECTOR, nullable=False),
    sa.Index("ix_units_lex_tsv", "tsv", postgresql_using="gin"),
)
_CONFIG = "english"


class PgTextIndex:
    """Full text search over unit texts in PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            # several processes may create the schema at once (see storage.database)
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(72451601)")
            _meta.create_all(conn)

    def add(self, conn: sa.Connection, rows: Sequence[tuple[str, str]]) -> list[int]:
        """Index (user_id, text) rows; returns their rowids, in order."""
        if not rows:
            return []
        ids = [int(r) for r in conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('units_lex', 'rowid')) "
                    "FROM generate_series(1, :n)"), {"n": len(rows)}).scalars()]
        conn.execute(
            sa.text("INSERT INTO units_lex (rowid, owner, tsv) "
                    f"VALUES (:rowid, :owner, to_tsvector('{_CONFIG}', :body))"),
            [{"rowid": i, "owner": owner_token(u), "body": t}
             for i, (u, t) in zip(ids, rows, strict=True)],
        )
        return ids

    def delete(self, conn: sa.Connection, rowids: Sequence[int]) -> None:
        """Remove rows by rowid."""
        ids = [int(r) for r in rowids]
        for i in range(0, len(ids), 500):
            conn.execute(sa.delete(lex_docs).where(lex_docs.c.rowid.in_(ids[i : i + 500])))

    def clear(self, conn: sa.Connection) -> None:
        """Remove every row."""
        conn.execute(sa.delete(lex_docs))

    def optimize(self, conn: sa.Connection) -> None:
        """Nothing to merge: PostgreSQL reclaims dead rows with (auto)vacuum."""

    def search(
        self, conn: sa.Connection, user_id: str, text: str, n: int,
        rowids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (rowid, rank) pairs, best first (higher is better); only rows
        among ``rowids`` when given."""
        words = query_words(text)
        if not words or (rowids is not None and not rowids):
            return []
        query = sa.func.websearch_to_tsquery(_CONFIG, " or ".join(words))
        rank = sa.func.ts_rank_cd(lex_docs.c.tsv, query).label("rank")
        among = [] if rowids is None else [lex_docs.c.rowid.in_([int(r) for r in rowids])]
        rows = conn.execute(
            sa.select(lex_docs.c.rowid, rank)
            .where(lex_docs.c.owner == owner_token(user_id), lex_docs.c.tsv.op("@@")(query),
                   *among)
            .order_by(rank.desc(), lex_docs.c.rowid)
            .limit(n)
        ).all()
        return [(int(r[0]), float(r[1])) for r in rows]

"""Lexical BM25 index in SQLite FTS5, in the same database as the log.

Rows live in the same transaction as the units they index, so the lexical index can
never disagree with SQL. Each row carries an ``owner`` token (a hash of the user id)
and every query is ANDed with it, so BM25 matching never crosses users.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import sqlalchemy as sa

__all__ = ["FtsIndex", "fts_query", "owner_token"]

TABLE = "units_fts"

# Common English function words: dropped from queries (kept if nothing else is left).
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been
    before being below between both but by can could did do does doing down during
    each few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most my myself no nor
    not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def owner_token(user_id: str) -> str:
    """The token that tags a user's rows."""
    return "u" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:24]


def fts_query(text: str, owner: str) -> str | None:
    """An FTS5 MATCH expression: any of the query's content words, within ``owner``'s rows."""
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS] or words
    terms = list(dict.fromkeys(content))
    if not terms:
        return None
    ors = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    return f'owner : "{owner}" AND text : ({ors})'


class FtsIndex:
    """BM25 over unit texts with SQLite FTS5 (porter stemming, unicode61)."""

    def __init__(self, engine: sa.Engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                "owner, text, tokenize='porter unicode61 remove_diacritics 2')"
            )

    def add(self, conn: sa.Connection, rows: Sequence[tuple[str, str]]) -> list[int]:
        """Index (user_id, text) rows; returns their rowids, in order."""
        rowids: list[int] = []
        for user_id, text in rows:
            res = conn.exec_driver_sql(
                f"INSERT INTO {TABLE}(owner, text) VALUES (?, ?)", (owner_token(user_id), text)
            )
            rowids.append(int(res.lastrowid or 0))
        return rowids

    def delete(self, conn: sa.Connection, rowids: Sequence[int]) -> None:
        """Remove rows by rowid."""
        ids = [int(r) for r in rowids if r is not None]
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            conn.exec_driver_sql(
                f"DELETE FROM {TABLE} WHERE rowid IN ({','.join('?' * len(part))})", tuple(part)
            )

    def clear(self, conn: sa.Connection) -> None:
        """Remove every row."""
        conn.exec_driver_sql(f"DELETE FROM {TABLE}")

    def optimize(self, conn: sa.Connection) -> None:
        """Merge the index b-trees so deleted terms are physically dropped."""
        conn.exec_driver_sql(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")

    def search(
        self, conn: sa.Connection, user_id: str, text: str, n: int
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (rowid, BM25 score) pairs, best first (higher is better)."""
        expr = fts_query(text, owner_token(user_id))
        if expr is None:
            return []
        rows = conn.exec_driver_sql(
            f"SELECT rowid, bm25({TABLE}, 0.0, 1.0) AS s FROM {TABLE} "
            f"WHERE {TABLE} MATCH ? ORDER BY s LIMIT ?",
            (expr, n),
        ).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

"""Lexical BM25 index in SQLite FTS5, in the same database as the log.

Rows live in the same transaction as the units they index, so the lexical index can
never disagree with SQL. Each row carries an ``owner`` token (a hash of the user id)
and every query is ANDed with it, so BM25 matching never crosses users.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa

__all__ = ["FtsIndex", "LexicalIndex", "fts_query", "owner_token", "query_words"]

TABLE = "units_fts"
TOKENIZE = "'porter unicode61 remove_diacritics 2'"

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
# What is left of "what's", "don't", "I'm", "we're", "I've", "we'll", "I'd".
_CONTRACTIONS = frozenset({"s", "t", "m", "re", "ve", "ll", "d"})
_WORD = re.compile(r"\w+", re.UNICODE)


class LexicalIndex(Protocol):
    """A lexical index living in the SQL database, written in the caller's transaction.
    Rows are (user_id, text); each gets an integer rowid the units table records."""

    def add(self, conn: sa.Connection, rows: Sequence[tuple[str, str]]) -> list[int]:
        """Index rows; return their rowids in order."""
        ...

    def delete(self, conn: sa.Connection, rowids: Sequence[int]) -> None:
        """Remove rows by rowid."""
        ...

    def clear(self, conn: sa.Connection) -> None:
        """Remove every row."""
        ...

    def optimize(self, conn: sa.Connection) -> None:
        """Physically drop deleted entries where the backend keeps them around."""
        ...

    def search(
        self, conn: sa.Connection, user_id: str, text: str, n: int,
        rowids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (rowid, score) pairs of ``user_id``'s rows (only those of
        ``rowids``, when given), best first."""
        ...


def owner_token(user_id: str) -> str:
    """The token that tags a user's rows."""
    return "u" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:24]


def query_words(text: str) -> list[str]:
    """The query's distinct content words, lowercased (stopwords dropped unless
    nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS and w not in _CONTRACTIONS] or words
    return list(dict.fromkeys(content))


def fts_query(words: Sequence[str], owner: str) -> str | None:
    """An FTS5 MATCH expression: any of ``words``, within ``owner``'s rows."""
    if not words:
        return None
    ors = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    return f'owner : "{owner}" AND text : ({ors})'


class FtsIndex:
    """BM25 over unit texts with SQLite FTS5 (porter stemming, unicode61).

    FTS5 scores every row that matches, so an OR query over common words costs time
    in proportion to how many rows hold them. To keep latency flat as a memory grows,
    a query keeps its words rarest first (document frequency from FTS5's vocabulary)
    while their postings fit in ``budget`` rows; the rarest word is always kept.
    Words left out are the most common, which BM25 weighs least. Below ``budget``
    rows in all, every word is used and the ranking is plain BM25.
    """

    def __init__(self, engine: sa.Engine, *, budget: int = 2000, create: bool = True
                 ) -> None:
        if budget < 1:
            raise ValueError("budget: must be >= 1")
        self.budget = budget
        if not create:  # a read-only database: the tables exist or search fails
            return
        with engine.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # other processes may create it too
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                f"owner, text, tokenize={TOKENIZE})"
            )
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_vocab USING fts5vocab({TABLE}, row)"
            )

    def _stems(self, conn: sa.Connection, words: Sequence[str]) -> dict[int, str]:
        """Each word's index term, by running it through the same tokenizer (a
        per-connection temporary FTS5 table)."""
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.agentmem_q "
            f"USING fts5(w, tokenize={TOKENIZE})"
        )
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.agentmem_qv "
            "USING fts5vocab(temp, agentmem_q, instance)"
        )
        conn.exec_driver_sql("DELETE FROM temp.agentmem_q")
        conn.exec_driver_sql(
            "INSERT INTO temp.agentmem_q(rowid, w) VALUES "
            + ",".join("(?, ?)" for _ in words),
            tuple(x for i, w in enumerate(words) for x in (i, w)),
        )
        rows = conn.exec_driver_sql("SELECT doc, term FROM temp.agentmem_qv").all()
        conn.exec_driver_sql("DELETE FROM temp.agentmem_q")
        return {int(d): str(t) for d, t in rows}

    def select_words(self, conn: sa.Connection, words: Sequence[str]) -> list[str]:
        """The words to match: rarest first, within the postings budget."""
        if len(words) <= 1:
            return list(words)
        stems = self._stems(conn, words)
        terms = sorted(set(stems.values()))
        if not terms:
            return list(words)
        df: dict[str, int] = dict(conn.exec_driver_sql(
            f"SELECT term, doc FROM {TABLE}_vocab WHERE term IN ({','.join('?' * len(terms))})",
            tuple(terms),
        ).all())
        ranked = sorted(range(len(words)), key=lambda i: (df.get(stems.get(i, ""), 0), i))
        chosen: list[int] = []
        used = 0
        for i in ranked:
            cost = int(df.get(stems.get(i, ""), 0))
            if chosen and used + cost > self.budget:
                break
            chosen.append(i)
            used += cost
        return [words[i] for i in sorted(chosen)]

    def add(self, conn: sa.Connection, rows: Sequence[tuple[str, str]]) -> list[int]:
        """Index (user_id, text) rows in one statement; returns their rowids, in order."""
        if not rows:
            return []
        last = conn.exec_driver_sql(
            f"SELECT rowid FROM {TABLE} ORDER BY rowid DESC LIMIT 1").first()
        start = (int(last[0]) if last else 0) + 1
        rowids = list(range(start, start + len(rows)))
        conn.exec_driver_sql(
            f"INSERT INTO {TABLE}(rowid, owner, text) VALUES (?, ?, ?)",
            [(r, owner_token(u), t) for r, (u, t) in zip(rowids, rows, strict=True)],
        )
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
        self, conn: sa.Connection, user_id: str, text: str, n: int,
        rowids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (rowid, BM25 score) pairs, best first (higher is better); only
        rows among ``rowids`` when given (then every query word is used)."""
        words = query_words(text)
        expr = fts_query(self.select_words(conn, words) if rowids is None else words,
                         owner_token(user_id))
        if expr is None or (rowids is not None and not rowids):
            return []
        among = "" if rowids is None else \
            f" AND rowid IN ({','.join(str(int(r)) for r in rowids)})"
        rows = conn.exec_driver_sql(
            f"SELECT rowid, bm25({TABLE}, 0.0, 1.0) AS s FROM {TABLE} "
            f"WHERE {TABLE} MATCH ?{among} ORDER BY s LIMIT ?",
            (expr, n),
        ).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

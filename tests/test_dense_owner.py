"""Dense queries in shared collections (issue 20): an owner who holds most of a
collection is served by an unfiltered query whose results are filtered by owner
afterwards (Chroma's ``where`` filter costs ~200 ms at 100k matching vectors, the
unfiltered query ~3 ms); when too few of theirs come back, the filtered query answers.
Real Chroma (in memory), one shared collection, vectors with a known nearest set."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agentmem.index.dense import ChromaIndex


def _cluster(rng: np.random.Generator, centre: np.ndarray, n: int) -> np.ndarray:
    x = centre + 0.3 * rng.standard_normal((n, centre.size))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _truth(ids: list[str], x: np.ndarray, q: np.ndarray, n: int) -> list[str]:
    sims = x @ (q / np.linalg.norm(q))
    return [ids[i] for i in np.argsort(-sims)[:n]]


@pytest.fixture()
def shared() -> Any:
    rng = np.random.default_rng(7)
    d = 32
    a_centre, b_centre = np.zeros(d), np.zeros(d)
    a_centre[0], b_centre[1] = 1.0, 1.0
    index = ChromaIndex(shards=1)
    col = index.collection_name("units", "alice")
    assert col == index.collection_name("units", "bob")  # one shared collection
    a_ids = [f"a{i}" for i in range(300)]
    b_ids = [f"b{i}" for i in range(20)]
    a_x, b_x = _cluster(rng, a_centre, 300), _cluster(rng, b_centre, 20)
    index.upsert(col, a_ids, a_x, user_id="alice")
    index.upsert(col, b_ids, b_x, user_id="bob")
    calls: list[Any] = []
    real = index._get(col, create=False)
    query = real.query

    def recording(**kw: Any) -> Any:
        calls.append(kw.get("where"))
        return query(**kw)

    real.query = recording
    yield index, col, (a_ids, a_x, a_centre), (b_ids, b_x, b_centre), calls
    index.close()


def test_dominant_owner_is_served_unfiltered(shared: Any) -> None:
    index, col, (a_ids, a_x, a_centre), _, calls = shared
    q = a_centre + 0.05
    got = index.query(col, q, 10, user_id="alice", owned=300)
    assert [i for i, _ in got] == _truth(a_ids, a_x, q, 10)
    assert calls == [None]  # one query, no where filter


def test_too_few_own_results_fall_back_to_the_filter(shared: Any) -> None:
    index, col, (a_ids, a_x, _), (_, _, b_centre), calls = shared
    # near bob's 20 vectors: the widened unfiltered query holds few of alice's
    q = b_centre.copy()
    got = index.query(col, q, 10, user_id="alice", owned=300)
    assert [i for i, _ in got] == _truth(a_ids, a_x, q, 10)
    assert calls[0] is None and calls[1] is not None and len(calls) == 2


def test_minor_owner_sees_only_their_own(shared: Any) -> None:
    index, col, (_, _, a_centre), (b_ids, b_x, _), _ = shared
    got = index.query(col, a_centre, 10, user_id="bob", owned=20)
    assert [i for i, _ in got] == _truth(b_ids, b_x, a_centre, 10)


def test_without_a_count_the_filter_answers(shared: Any) -> None:
    index, col, (a_ids, a_x, a_centre), _, calls = shared
    got = index.query(col, a_centre, 5, user_id="alice")
    assert [i for i, _ in got] == _truth(a_ids, a_x, a_centre, 5)
    assert len(calls) == 1 and calls[0] is not None


def test_scores_match_either_way(shared: Any) -> None:
    index, col, (_, _, a_centre), _, _ = shared
    fast = index.query(col, a_centre, 8, user_id="alice", owned=300)
    slow = index.query(col, a_centre, 8, user_id="alice")
    assert [i for i, _ in fast] == [i for i, _ in slow]
    assert np.allclose([s for _, s in fast], [s for _, s in slow], atol=1e-6)

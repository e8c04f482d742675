"""Angular LSH (TiM's thought buckets): hashing properties, determinism, removal, and
recall against exact cosine search on clustered vectors."""

from __future__ import annotations

import numpy as np
import pytest

from agentmem import ConfigError, InvalidInput
from agentmem.index.lsh import AngularLSH, LSHIndex, LSHParams


def _clustered(n: int, dim: int = 64, centres: int = 20, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hash_is_deterministic_scale_free_and_in_range() -> None:
    params = LSHParams(dim=64, buckets=16, tables=3, seed=7)
    x = _clustered(200)
    codes = AngularLSH(params).hash(x)
    assert codes.shape == (200, 3) and codes.min() >= 0 and codes.max() < 16
    # the same seed gives the same buckets in a new object (a restart, a rebuild)
    assert (AngularLSH(LSHParams(dim=64, buckets=16, tables=3, seed=7)).hash(x) == codes).all()
    assert (AngularLSH(params).hash(3.5 * x) == codes).all()  # direction only
    assert not (AngularLSH(LSHParams(dim=64, buckets=16, tables=3, seed=8)).hash(x)
                == codes).all()
    # x and -x fall in the paired bucket: argmax over [xR; -xR]
    assert (AngularLSH(params).hash(-x) == (codes + 8) % 16).all()


def test_probe_lists_the_hash_bucket_first() -> None:
    lsh = AngularLSH(LSHParams(dim=64, buckets=16, tables=2))
    x = _clustered(5)
    for v in x:
        p = lsh.probe(v, probes=4)
        assert p.shape == (2, 4) and (p[:, 0] == lsh.hash(v)[0]).all()
        assert all(len(set(row)) == 4 for row in p)


def test_index_finds_a_stored_vector_and_forgets_removed_ones() -> None:
    x = _clustered(500)
    index = LSHIndex(LSHParams(dim=64, buckets=16, tables=2))
    index.add([f"t{i}" for i in range(500)], x)
    assert len(index) == 500
    assert index.query(x[42], k=1)[0][0] == "t42"  # its own bucket holds it
    index.remove(["t42", "unknown"])
    assert len(index) == 499 and all(i != "t42" for i, _ in index.query(x[42], k=10))
    index.add(["t42"], x[43])  # re-added under another vector
    assert index.query(x[43], k=2)[0][1] == pytest.approx(1.0, abs=1e-5)


def test_more_tables_and_probes_raise_recall_against_exact_search() -> None:
    x = _clustered(3000)
    rng = np.random.default_rng(3)
    queries = x[rng.integers(0, 3000, 50)] + 0.1 * rng.standard_normal((50, 64))

    def recall(tables: int, probes: int) -> float:
        index = LSHIndex(LSHParams(dim=64, buckets=32, tables=tables))
        index.add(list(range(3000)), x)
        hits = 0
        for q in queries:
            qn = q / np.linalg.norm(q)
            exact = set(np.argsort(-(x @ qn))[:5].tolist())
            hits += len(exact & {i for i, _ in index.query(q, k=5, probes=probes)})
        return hits / (5 * len(queries))

    low, high = recall(1, 1), recall(4, 3)
    assert high > low and high >= 0.9


def test_bad_parameters_and_inputs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="buckets"):
        LSHParams(dim=8, buckets=5)
    with pytest.raises(ConfigError, match="tables"):
        LSHParams(dim=8, tables=0)
    index = LSHIndex(LSHParams(dim=8))
    with pytest.raises(InvalidInput, match="vectors"):
        index.add(["a"], np.zeros((1, 8)))
    with pytest.raises(InvalidInput, match="vectors"):
        index.add(["a"], np.ones((1, 7)))
    with pytest.raises(InvalidInput, match="ids"):
        index.add(["a", "a"], np.ones((2, 8)))
    with pytest.raises(InvalidInput, match="k"):
        index.query(np.ones(8), k=0)
    assert len(index) == 0

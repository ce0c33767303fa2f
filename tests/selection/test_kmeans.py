"""kmeans_sensitivity: the bicriteria solution, the sensitivity formula and its bound, degenerate data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_explore.selection import kmeans_sensitivity


def blobs(n=600, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, d, generator=g, dtype=dtype) * 6
    return centers[torch.randint(4, (n,), generator=g)] + torch.randn(n, d, generator=g, dtype=dtype)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_scores_follow_the_formula_and_sum_to_at_most_1_plus_k(k):
    X = blobs()
    r = kmeans_sensitivity(X, k, random_state=0)
    assert r.k == k and r.centers.shape == (k, X.shape[1])
    torch.testing.assert_close(r.centers, X[r.center_indices])
    assert len(set(r.center_indices.tolist())) == k
    # assignment and distances agree with a brute-force nearest-center computation
    d2 = torch.cdist(X, r.centers).pow(2)
    torch.testing.assert_close(r.distances_sq, d2.min(1).values, atol=1e-6, rtol=1e-6)
    assert bool((d2[torch.arange(len(X)), r.assignment] <= d2.min(1).values + 1e-6).all())
    assert int(r.cluster_sizes.sum()) == len(X)
    assert torch.all(r.distances_sq[r.center_indices] == 0)
    cost = float(r.distances_sq.sum())
    assert r.cost == pytest.approx(cost, rel=1e-9)
    expected = r.distances_sq / cost + 1.0 / r.cluster_sizes[r.assignment].double()
    torch.testing.assert_close(r.scores, expected)
    nonempty = int((r.cluster_sizes > 0).sum())
    assert float(r.scores.sum()) == pytest.approx(1 + nonempty, rel=1e-9)
    assert float(r.scores.sum()) <= 1 + k + 1e-9
    assert float(r.probabilities.sum()) == pytest.approx(1.0)


def test_float32_and_numpy_input_and_chunking_agree():
    X = blobs(dtype=torch.float32)
    a = kmeans_sensitivity(X, 5, random_state=3)
    b = kmeans_sensitivity(X.numpy(), 5, random_state=3, chunk_size=7)
    assert a.center_indices.tolist() == b.center_indices.tolist()
    torch.testing.assert_close(a.scores, b.scores, rtol=1e-5, atol=1e-8)
    assert a.scores.dtype == torch.float64 and a.centers.dtype == torch.float32


def test_same_seed_same_result_different_seed_differs():
    X = blobs()
    a, b = kmeans_sensitivity(X, 6, random_state=11), kmeans_sensitivity(X, 6, random_state=11)
    assert a.center_indices.tolist() == b.center_indices.tolist()
    others = {tuple(kmeans_sensitivity(X, 6, random_state=s).center_indices.tolist()) for s in range(5)}
    assert len(others) > 1
    gen = torch.Generator().manual_seed(11)
    c = kmeans_sensitivity(X, 6, random_state=gen)
    assert c.center_indices.tolist() == a.center_indices.tolist()


def test_outlier_gets_the_highest_score():
    X = blobs(n=300)
    X[17] = 1000.0
    r = kmeans_sensitivity(X, 3, random_state=0)
    assert int(torch.argmax(r.scores)) == 17


def test_kmeanspp_prefers_far_points():
    # two tight groups far apart: with k=2 the seeding practically always covers both
    X = torch.cat([torch.zeros(100, 2), torch.full((5, 2), 50.0)]) + 0.01 * torch.randn(105, 2, generator=torch.Generator().manual_seed(0))
    hits = sum(int((kmeans_sensitivity(X, 2, random_state=s).center_indices >= 100).any()) for s in range(20))
    assert hits >= 19


def test_all_identical_points_warn_and_fall_back_to_uniform():
    X = torch.full((40, 3), 2.5)
    with pytest.warns(RuntimeWarning, match="identical"):
        r = kmeans_sensitivity(X, 4, random_state=0)
    assert r.uniform_fallback
    assert torch.all(torch.isfinite(r.scores))
    torch.testing.assert_close(r.scores, torch.full((40,), 1 / 40, dtype=torch.float64))
    assert r.cost == 0.0 and len(set(r.center_indices.tolist())) == 4


def test_fewer_distinct_points_than_k_warns_and_stays_finite():
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]).repeat(10, 1)
    with pytest.warns(RuntimeWarning, match="cost"):
        r = kmeans_sensitivity(X, 5, random_state=1)
    assert r.uniform_fallback and torch.all(torch.isfinite(r.scores))
    assert len(set(r.center_indices.tolist())) == 5
    assert float(r.scores.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_duplicates_with_float_rounding_count_as_cost_zero(offset):
    # 3 distinct float32 rows of 784 values, repeated: the norm expansion leaves rounding noise that
    # must not pass for a positive cost
    base = torch.randn(3, 784, generator=torch.Generator().manual_seed(1)) + offset
    with pytest.warns(RuntimeWarning, match="cost"):
        r = kmeans_sensitivity(base.repeat(10, 1), 5, random_state=0)
    assert r.uniform_fallback and r.cost == 0.0
    # genuine distances stay accurate next to exact zeros for duplicates of a center
    X = torch.cat([base, base[:1], torch.randn(50, 784, generator=torch.Generator().manual_seed(2)) + offset])
    r = kmeans_sensitivity(X, 4, random_state=0)
    C = X[r.center_indices].double()
    exact = torch.stack([((X.double() - c) ** 2).sum(1) for c in C], 1).min(1).values
    torch.testing.assert_close(r.distances_sq.double(), exact, rtol=1e-4, atol=0.0)


@pytest.mark.parametrize(
    "X, k, match",
    [
        (np.zeros((5, 2)) + np.arange(5)[:, None], 0, "k must be a positive int no larger than the number of points"),
        (np.arange(10.0).reshape(5, 2), 6, r"k must be .* \(5\); got 6"),
        (np.arange(10.0).reshape(5, 2), 2.0, "k must be"),
        (np.arange(10.0).reshape(5, 2), True, "k must be"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), 1, "X must be finite; found 1 NaN/inf"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), 1, "X must be finite"),
        (np.arange(5.0), 1, "X must be 2-dimensional"),
        (np.zeros((3, 2, 2)), 1, "X must be 2-dimensional"),
        (np.ones((1, 4)), 1, "X must hold at least 2 points; got 1"),
    ],
)
def test_bad_input(X, k, match):
    with pytest.raises(ValueError, match=match):
        kmeans_sensitivity(X, k, random_state=0)


def test_bad_random_state():
    with pytest.raises(ValueError, match="random_state must be"):
        kmeans_sensitivity(np.random.rand(10, 2), 2, random_state=-1)

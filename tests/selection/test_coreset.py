"""The coreset property of k-means sensitivity sampling on Gaussian mixtures (n = 5000, m = 200)."""

from __future__ import annotations

import numpy as np
import torch

from dd_explore.selection import select


def mixture(far: bool, n: int = 5000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(5, 2, generator=g, dtype=torch.float64) * 5
    X = centers[torch.randint(5, (n,), generator=g)] + torch.randn(n, 2, generator=g, dtype=torch.float64)
    if far:  # a small cluster (0.5% of the points) far away
        X[:25] = 60.0 + torch.randn(25, 2, generator=g, dtype=torch.float64)
    return X


def center_sets(X, seed, count=20, k=5):
    """``count`` random center sets of ``k`` data points each: (count, k, d)."""
    gc = torch.Generator().manual_seed(1000 + seed)
    return torch.stack([X[torch.randperm(len(X), generator=gc)[:k]] for _ in range(count)])


def kmeans_costs(X, centers, w=None):
    """k-means cost of the (weighted) points X for each center set: (count,)."""
    d2 = ((X[:, None, None, :] - centers[None]) ** 2).sum(-1).min(-1).values  # (n, count)
    return (d2 if w is None else w[:, None] * d2).sum(0)


def signed_errors(X, method, seed, m=200, **kw):
    """(weighted coreset cost - full cost) / full cost for 20 random center sets of 5 data points."""
    y = np.zeros(len(X), dtype=np.int64)
    sel = select(X, y, m, method=method, random_state=seed, **kw)
    centers = center_sets(X, seed)
    full = kmeans_costs(X, centers)
    core = kmeans_costs(X[torch.as_tensor(sel.indices)], centers, torch.as_tensor(sel.weights))
    return ((core - full) / full).numpy()


def relative_errors(X, method, seed, **kw):
    return np.abs(signed_errors(X, method, seed, **kw))


def test_coreset_cost_within_15_percent_on_a_mixture():
    X = mixture(far=False)
    errs = np.concatenate([relative_errors(X, "sensitivity-kmeans", s, k=10) for s in range(5)])
    # 5 draws x 20 center sets; measured median ~0.07
    assert np.median(errs) <= 0.15, np.median(errs)


def test_coreset_beats_uniform_sampling_with_a_small_far_cluster():
    X = mixture(far=True)
    sens = np.concatenate([relative_errors(X, "sensitivity-kmeans", s, k=10) for s in range(6)])
    unif = np.concatenate([relative_errors(X, "random", s) for s in range(6)])
    # measured: sensitivity ~0.15 mean error, uniform ~0.4 (it often misses the far points entirely)
    assert sens.mean() < 0.6 * unif.mean(), (sens.mean(), unif.mean())
    assert np.median(sens) <= 0.25


def test_inclusion_weighting_removes_the_bias_for_heavy_points():
    X = mixture(far=True)
    signed = {w: np.concatenate([signed_errors(X, "sensitivity-kmeans", s, k=10, weighting=w) for s in range(6)])
              for w in ("sampling", "inclusion")}
    # 1/(m p) under-weights points whose m p is not small (drawn at most once); 1/pi corrects most of it
    # (measured mean signed error: -0.22 with 1/(m p), -0.10 with 1/pi)
    assert abs(signed["inclusion"].mean()) < abs(signed["sampling"].mean())

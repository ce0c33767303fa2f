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


def kmeans_cost(X, C, w=None):
    d2 = torch.cdist(X, C).pow(2).min(1).values
    return float(d2.sum() if w is None else (w * d2).sum())


def relative_errors(X, method, seed, m=200, center_sets=20, k=5, **kw):
    """|weighted coreset cost - full cost| / full cost for random center sets (k points of X)."""
    y = np.zeros(len(X), dtype=np.int64)
    sel = select(X, y, m, method=method, random_state=seed, **kw)
    S = X[torch.as_tensor(sel.indices)]
    w = torch.as_tensor(sel.weights)
    gc = torch.Generator().manual_seed(1000 + seed)
    errs = []
    for _ in range(center_sets):
        C = X[torch.randperm(len(X), generator=gc)[:k]]
        full = kmeans_cost(X, C)
        errs.append(abs(kmeans_cost(S, C, w) - full) / full)
    return np.array(errs)


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
    y = np.zeros(len(X), dtype=np.int64)
    signed = {"sampling": [], "inclusion": []}
    for s in range(6):
        for weighting in signed:
            sel = select(X, y, 200, method="sensitivity-kmeans", random_state=s, k=10, weighting=weighting)
            S, w = X[torch.as_tensor(sel.indices)], torch.as_tensor(sel.weights)
            gc = torch.Generator().manual_seed(1000 + s)
            for _ in range(20):
                C = X[torch.randperm(len(X), generator=gc)[:5]]
                full = kmeans_cost(X, C)
                signed[weighting].append((kmeans_cost(S, C, w) - full) / full)
    # 1/(m p) under-weights points whose m p is not small (drawn at most once); 1/pi corrects it
    assert abs(np.mean(signed["inclusion"])) < abs(np.mean(signed["sampling"]))

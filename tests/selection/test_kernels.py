"""Kernels: closed forms against independent computations, random features converging to them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dd_explore.selection import (
    feature_map,
    median_bandwidth,
    nngp_features,
    nngp_kernel,
    ntk_features,
    ntk_kernel,
    rbf_features,
    rbf_kernel,
)


def points(n=30, d=12, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kernel", [nngp_kernel, ntk_kernel, rbf_kernel])
def test_exact_kernels_are_symmetric_psd_and_consistent(kernel):
    X, Z = points(), points(7, seed=1)
    K = kernel(X)
    assert K.shape == (30, 30) and K.dtype == torch.float64
    torch.testing.assert_close(K, K.T)
    assert float(torch.linalg.eigvalsh(K).min()) > -1e-9 * float(K.diagonal().max())
    kw = {"bandwidth": median_bandwidth(X)} if kernel is rbf_kernel else {}
    cross = kernel(X, Z, **kw)
    assert cross.shape == (30, 7)
    full = kernel(torch.cat([X, Z]), **kw)
    torch.testing.assert_close(cross, full[:30, 30:], rtol=1e-6, atol=1e-9)


def test_nngp_depth1_matches_the_arccos_formula():
    X = points(10, 6).numpy().astype(np.float64)
    d = X.shape[1]
    norms = np.linalg.norm(X, axis=1)
    cos = np.clip(X @ X.T / np.outer(norms, norms), -1, 1)
    theta = np.arccos(cos)
    expected = (2.0 / d) * np.outer(norms, norms) * (np.sin(theta) + (np.pi - theta) * cos) / np.pi
    np.testing.assert_allclose(nngp_kernel(X, depth=1).numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_he_init_preserves_the_diagonal(depth):
    X = points(8, 5)
    expected = 2.0 * (X.double() ** 2).sum(1) / 5
    torch.testing.assert_close(nngp_kernel(X, depth=depth).diagonal(), expected)
    # NTK diagonal: Theta^h = Theta^(h-1) * 2 * 1/2 + Sigma = (h + 1) Sigma on the diagonal
    torch.testing.assert_close(ntk_kernel(X, depth=depth).diagonal(), (depth + 1) * expected)


def test_ntk_matches_the_empirical_ntk_of_a_wide_network():
    # independent reference: gradients of a finite, wide network (errors ~0.05 at width 2048 over seeds)
    g = torch.Generator().manual_seed(0)
    X = points(6, 10, seed=3)
    d, width = 10, 2048
    W1 = torch.randn(width, d, generator=g).requires_grad_()
    W2 = torch.randn(width, width, generator=g).requires_grad_()
    w3 = torch.randn(width, generator=g).requires_grad_()

    def f(x):  # NTK parameterization, weight variance 2, no bias, 2 hidden layers
        h = torch.relu(W1 @ x * math.sqrt(2 / d))
        h = torch.relu(W2 @ h * math.sqrt(2 / width))
        return w3 @ h * math.sqrt(2 / width)

    grads = [torch.autograd.grad(f(x), [W1, W2, w3]) for x in X]
    emp = torch.tensor([[sum(float((a * b).sum()) for a, b in zip(gi, gj)) for gj in grads] for gi in grads],
                       dtype=torch.float64)
    exact = ntk_kernel(X, depth=2)
    assert _rel_err(emp, exact) < 0.12


def _rel_err(approx, exact):
    return float((approx - exact).norm() / exact.norm())


@pytest.mark.parametrize("name", ["nngp", "ntk", "rbf"])
def test_random_features_converge_to_the_exact_kernel(name):
    X = points(40, 20)
    if name == "nngp":
        exact = nngp_kernel(X, depth=2, bias_var=0.1)
        feats = lambda D, s: nngp_features(X, D, depth=2, bias_var=0.1, random_state=s)  # noqa: E731
    elif name == "ntk":
        exact = ntk_kernel(X, depth=2, bias_var=0.1)
        feats = lambda D, s: ntk_features(X, D, depth=2, bias_var=0.1, random_state=s)  # noqa: E731
    else:
        bw = median_bandwidth(X)
        exact = rbf_kernel(X, bandwidth=bw)
        feats = lambda D, s: rbf_features(X, D, bandwidth=bw, random_state=s)  # noqa: E731
    errors = []
    for D in (64, 512, 4096):
        errs = []
        for s in range(3):
            P = feats(D, s).double()
            errs.append(_rel_err(P @ P.T, exact))
        errors.append(float(np.mean(errs)))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 4, errors  # ~ 1/sqrt(D): 8x more features twice
    assert errors[2] < 0.12, errors


def test_feature_dimensions_and_seeding():
    X = points(5, 3)
    assert nngp_features(X, 16, random_state=0).shape == (5, 16)
    assert nngp_features(X, 16, bias_var=0.5, random_state=0).shape == (5, 17)
    assert ntk_features(X, 16, random_state=0).shape == (5, 16)
    assert rbf_features(X, 15, bandwidth=1.0, random_state=0).shape == (5, 14)
    torch.testing.assert_close(ntk_features(X, 16, random_state=4), ntk_features(X, 16, random_state=4))
    assert not torch.equal(ntk_features(X, 16, random_state=4), ntk_features(X, 16, random_state=5))
    fmap = feature_map("ntk", 3, 16, random_state=4)
    torch.testing.assert_close(torch.cat([fmap(X[:2]), fmap(X[2:])]), fmap(X))  # chunk-wise application


def test_median_bandwidth_and_rbf_values():
    X = torch.tensor([[0.0], [1.0], [2.0], [2.0]])  # nonzero distances 1, 2, 2, 1, 1 -> median 1
    assert median_bandwidth(X) == pytest.approx(1.0)
    assert median_bandwidth(torch.ones(4, 2)) == 1.0
    K = rbf_kernel(X, bandwidth=1.0)
    assert float(K[0, 1]) == pytest.approx(math.exp(-0.5))
    torch.testing.assert_close(K.diagonal(), torch.ones(4, dtype=torch.float64))


def test_kernel_bad_input():
    with pytest.raises(ValueError, match="kernel must be one of"):
        feature_map("poly", 3, 8)
    with pytest.raises(ValueError, match="depth must be"):
        ntk_kernel(points(), depth=0)
    with pytest.raises(ValueError, match="bandwidth must be a finite float > 0"):
        rbf_kernel(points(), bandwidth=-1.0)
    with pytest.raises(ValueError, match="X2 must be 2-dimensional with 12 features"):
        nngp_kernel(points(), points(3, 4))

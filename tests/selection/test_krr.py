"""krr_sensitivity: exact ridge leverage and residuals against independent linear algebra; random features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_explore.selection import krr_sensitivity, nngp_kernel, ntk_kernel, rbf_kernel
from dd_explore.selection.krr import DEFAULT_NUM_FEATURES


def data(n=120, d=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (n,), generator=g)
    X = torch.randn(n, d, generator=g) + 1.5 * torch.nn.functional.one_hot(y, d).float()
    return X, y


@pytest.mark.parametrize("kernel", ["ntk", "nngp", "rbf"])
def test_exact_leverage_is_diag_of_the_hat_matrix(kernel):
    X, y = data()
    r = krr_sensitivity(X, y, kernel=kernel, ridge=0.05)
    assert r.exact and r.num_features is None
    if kernel == "ntk":
        K = ntk_kernel(X).numpy()
    elif kernel == "nngp":
        K = nngp_kernel(X).numpy()
    else:
        K = rbf_kernel(X, bandwidth=r.bandwidth).numpy()
    lam = r.ridge
    assert lam == pytest.approx(0.05 * np.mean(np.diag(K)))
    H = np.linalg.solve(K + lam * np.eye(len(K)), K).T  # K (K + lam I)^-1
    np.testing.assert_allclose(r.leverage.numpy(), np.diag(H), rtol=1e-6, atol=1e-9)
    assert r.d_eff == pytest.approx(np.trace(H), rel=1e-8)
    assert float(r.leverage.min()) >= 0 and float(r.leverage.max()) <= 1
    Y = np.eye(3)[y.numpy()]
    res = Y - H @ Y
    np.testing.assert_allclose(r.residual_sq.numpy(), (res**2).sum(1), rtol=1e-6, atol=1e-10)
    assert float(r.residual_term.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(r.scores, r.leverage + r.residual_term)


def test_int_labels_and_one_hot_agree():
    X, y = data()
    a = krr_sensitivity(X, y)
    b = krr_sensitivity(X, torch.nn.functional.one_hot(y, 3).numpy())
    torch.testing.assert_close(a.scores, b.scores)


def test_larger_ridge_means_smaller_effective_dimension():
    X, y = data()
    d = [krr_sensitivity(X, y, ridge=r).d_eff for r in (1e-3, 1e-1, 1.0)]
    assert d[0] > d[1] > d[2] > 0


@pytest.mark.parametrize("kernel", ["rbf", "ntk"])
def test_random_features_approximate_the_exact_scores(kernel):
    X, y = data(n=200)
    exact = krr_sensitivity(X, y, kernel=kernel, ridge=0.5)
    approx = krr_sensitivity(X, y, kernel=kernel, ridge=0.5, num_features=2048, random_state=0)
    assert not approx.exact and approx.num_features == 2048
    assert approx.d_eff == pytest.approx(exact.d_eff, rel=0.2)
    corr = np.corrcoef(exact.scores.numpy(), approx.scores.numpy())[0, 1]
    assert corr > 0.85
    assert float(approx.leverage.min()) >= 0 and float(approx.leverage.max()) <= 1 + 1e-9


def test_random_features_used_above_exact_max_n_and_seeded():
    X, y = data(n=150)
    a = krr_sensitivity(X, y, exact_max_n=100, random_state=1)
    b = krr_sensitivity(X, y, exact_max_n=100, random_state=1)
    c = krr_sensitivity(X, y, exact_max_n=100, random_state=2)
    assert not a.exact and a.num_features == DEFAULT_NUM_FEATURES
    torch.testing.assert_close(a.scores, b.scores)
    assert not torch.equal(a.scores, c.scores)


def test_far_point_has_high_krr_score():
    X, y = data()
    X[5] += 25.0
    r = krr_sensitivity(X, y, kernel="rbf", ridge=0.1)
    assert int(torch.argmax(r.scores)) == 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel": "poly"}, "kernel must be one of"),
        ({"ridge": 0.0}, "ridge must be a finite float > 0"),
        ({"depth": 0}, "depth must be"),
        ({"num_features": 0}, "num_features must be"),
        ({"random_state": "x"}, "random_state must be"),
    ],
)
def test_bad_options(kwargs, match):
    X, y = data(n=20)
    with pytest.raises(ValueError, match=match):
        krr_sensitivity(X, y, **kwargs)


def test_bad_targets():
    X, y = data(n=20)
    with pytest.raises(ValueError, match=r"Y must have one row per point of X \(20\); got 19"):
        krr_sensitivity(X, y[:19])
    with pytest.raises(ValueError, match="Y labels must be non-negative"):
        krr_sensitivity(X, y - 5)
    with pytest.raises(ValueError, match="Y must be int labels"):
        krr_sensitivity(X, torch.zeros(20, 2, 2))
    with pytest.raises(ValueError, match="X must be finite"):
        krr_sensitivity(torch.full((20, 3), float("nan")), y)

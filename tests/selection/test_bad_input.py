"""select(): bad input gives a ValueError that names the parameter, the rule and the value, before any work."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore.selection import select

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 4)).astype(np.float32)
y = np.repeat([0, 1, 2], 10)
y[:3] = 1  # class 0 has 7 points, class 1 has 13


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ipc": 0}, r"ipc must be a positive int no larger than the smallest class \(7 images in class 0\); got 0"),
        ({"ipc": -2}, "ipc must be a positive int"),
        ({"ipc": 8}, r"smallest class \(7 images in class 0\); got 8"),
        ({"ipc": 2.0}, "ipc must be a positive int"),
        ({"ipc": True}, "ipc must be a positive int"),
        ({"method": "kmedoids"}, r"method must be one of \['herding', 'kcenter', 'random', 'sensitivity-kmeans'"),
        ({"features": "hog"}, "features must be 'pixels', 'convnet'"),
        ({"features": "pca:0"}, "features must be"),
        ({"features": "pca:9"}, r"PCA dimension must be at most min\(n, d\) = 4; got 9"),
        ({"features": "convnet"}, r"needs images X of shape \(n, C, H, W\)"),
        ({"delta": -1.0}, "delta must be a finite float >= 0; got -1.0"),
        ({"delta": float("nan")}, "delta must be"),
        ({"random_state": -3}, "random_state must be None or a non-negative int; got -3"),
        ({"random_state": 1.5}, "random_state must be"),
        ({"k": 0}, r"k must be a positive int no larger than the smallest class \(7 points in class 0\); got 0"),
        ({"k": 8}, "k must be .*; got 8"),
        ({"kernel": "poly", "method": "sensitivity-krr"}, "kernel must be one of"),
        ({"scope": "both", "method": "sensitivity-krr"}, "scope must be one of"),
        ({"weighting": "hajek"}, "weighting must be one of"),
        ({"first": "median", "method": "kcenter"}, "first must be one of"),
        ({"bogus": 1}, r"options for method 'sensitivity-kmeans' must be among \['k', 'weighting', 'chunk_size'\]; got \['bogus'\]"),
        ({"feature_options": {"width": 8}}, "feature_options apply to ConvNet features only"),
    ],
)
def test_bad_options(kwargs, match):
    kw = {"ipc": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        select(X, y, **kw)


def test_bad_data():
    with pytest.raises(ValueError, match=r"y must have one label per point of X \(30\); got 29"):
        select(X, y[:29], 2)
    with pytest.raises(ValueError, match=r"y must be 1-dimensional int labels \(n,\); got shape \(30, 1\)"):
        select(X, y[:, None], 2)
    with pytest.raises(ValueError, match="y must hold int labels; got non-integer"):
        select(X, y + 0.5, 2)
    with pytest.raises(ValueError, match=r"X must have shape \(n, ...\) with at least 2 dims; got shape \(30,\)"):
        select(X[:, 0], y, 2)
    with pytest.raises(ValueError, match="X must hold at least 2 points; got 1"):
        select(X[:1], y[:1], 1)
    bad = X.copy()
    bad[3, 1] = np.nan
    bad[5, 0] = np.inf
    with pytest.raises(ValueError, match="X must be finite; found 2 NaN/inf values"):
        select(bad, y, 2)
    with pytest.raises(ValueError, match="X must hold numbers"):
        select(np.array([["a", "b"], ["c", "d"]]), [0, 1], 1)


def test_validation_happens_before_feature_extraction(monkeypatch):
    import dd_explore.selection.selector as selector

    def boom(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("features were computed before validation finished")

    monkeypatch.setattr(selector, "extract_features", boom)
    with pytest.raises(ValueError, match="k must be"):
        select(X, y, 2, k=50)

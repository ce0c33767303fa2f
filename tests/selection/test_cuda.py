"""The selection code on a CUDA device (skipped without one): same contracts, results on the data's device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_explore.selection import kmeans_sensitivity, krr_sensitivity, list_methods, select

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def images(n=600, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    X = torch.randn(n, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return X, y


def test_kmeans_sensitivity_on_cuda():
    X = torch.randn(20_000, 16, generator=torch.Generator().manual_seed(0)).cuda()
    r = kmeans_sensitivity(X, 8, random_state=0)
    for t in (r.scores, r.centers, r.center_indices, r.assignment, r.distances_sq, r.cluster_sizes):
        assert t.device.type == "cuda"
    assert float(r.scores.sum()) <= 1 + 8 + 1e-6
    d2 = torch.cdist(X, r.centers).pow(2).min(1).values
    torch.testing.assert_close(r.distances_sq, d2, atol=1e-3, rtol=1e-4)
    again = kmeans_sensitivity(X, 8, random_state=0)
    assert r.center_indices.tolist() == again.center_indices.tolist()
    with pytest.raises(ValueError, match="torch.Generator on cpu"):
        kmeans_sensitivity(X, 8, random_state=torch.Generator())


def test_krr_sensitivity_on_cuda_matches_cpu_for_the_exact_kernel():
    X, y = images(300)
    X = X.flatten(1)
    cpu = krr_sensitivity(X, y, kernel="ntk", ridge=0.1)
    gpu = krr_sensitivity(X.cuda(), y.cuda(), kernel="ntk", ridge=0.1)
    assert gpu.scores.device.type == "cuda"
    torch.testing.assert_close(gpu.scores.cpu(), cpu.scores, rtol=1e-4, atol=1e-6)
    rf = krr_sensitivity(X.cuda(), y.cuda(), kernel="rbf", num_features=512, random_state=0)
    assert rf.scores.device.type == "cuda" and not rf.exact


@pytest.mark.parametrize("method", list_methods())
@pytest.mark.parametrize("features", ["pixels", "convnet+pca:8"])
def test_select_on_cuda(method, features):
    X, y = images()
    opts = {"width": 16} if features.startswith("convnet") else None
    sel = select(X.cuda(), y.cuda(), 5, method=method, features=features, random_state=0, delta=0.1,
                 feature_options=opts)
    again = select(X, y, 5, method=method, features=features, random_state=0, delta=0.1, device="cuda",
                   feature_options=opts)
    np.testing.assert_array_equal(sel.indices, again.indices)
    assert isinstance(sel.indices, np.ndarray) and len(sel.indices) == 20 and len(set(sel.indices.tolist())) == 20
    yn = y.numpy()
    np.testing.assert_array_equal(sel.labels, yn[sel.indices])
    for c in range(4):
        assert sel.probabilities[yn == c].sum() == pytest.approx(1.0)

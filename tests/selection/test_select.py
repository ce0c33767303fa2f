"""select(): the same checks over every registered method, determinism, sampling behaviour, results."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dd_explore.selection import METHODS, Selection, list_methods, select
from dd_explore.selection._sampling import inclusion_probabilities

ALL = list_methods()
RANDOMIZED = ["random", "sensitivity-kmeans", "sensitivity-kmeans-stratified", "sensitivity-krr"]


def test_registry_lists_every_method():
    assert set(ALL) == {"random", "herding", "kcenter", "sensitivity-kmeans", "sensitivity-kmeans-stratified",
                        "sensitivity-krr"}
    assert METHODS.names() == ALL


def make_data(sizes, d, seed, discrete=False):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)])
    rng.shuffle(y)
    X = rng.integers(0, 3, (len(y), d)).astype(np.float32) if discrete else rng.normal(size=(len(y), d)).astype(np.float32)
    return X, y


def check_selection(sel: Selection, X, y, ipc: int):
    n = len(y)
    classes = np.unique(y)
    assert sel.indices.dtype == np.int64
    assert len(set(sel.indices.tolist())) == len(sel.indices)  # unique
    assert sel.indices.min() >= 0 and sel.indices.max() < n
    np.testing.assert_array_equal(sel.labels, y[sel.indices])
    assert len(sel.indices) == ipc * len(classes)
    assert sel.probabilities.shape == (n,) and sel.scores.shape == (n,)
    assert np.all(sel.probabilities >= 0) and np.all(np.isfinite(sel.scores))
    assert np.all(np.isfinite(sel.weights)) and np.all(sel.weights > 0)
    assert [d.label for d in sel.per_class] == classes.tolist()
    for pos, d in enumerate(sel.per_class):
        members = np.flatnonzero(y == d.label)
        np.testing.assert_array_equal(np.sort(d.candidates), members)
        assert len(d.chosen) == ipc and np.all(y[d.chosen] == d.label)
        np.testing.assert_array_equal(sel.indices[pos * ipc : (pos + 1) * ipc], d.chosen)  # grouped in class order
        assert sel.probabilities[members].sum() == pytest.approx(1.0, abs=1e-9)
        if d.assignment is not None:
            assert d.assignment.shape == (d.size,) and d.distances_sq.shape == (d.size,)
            assert int(d.cluster_sizes.sum()) == d.size
            assert set(d.center_indices.tolist()) <= set(members.tolist())
        if d.leverage is not None:
            assert d.leverage.shape == (d.size,) and d.d_eff == pytest.approx(d.leverage.sum())


@pytest.mark.parametrize("method", ALL)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(2, 30), min_size=1, max_size=4),
    d=st.integers(1, 6),
    ipc_frac=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    discrete=st.booleans(),
    delta=st.sampled_from([None, 0.0, 0.5]),
)
@example(sizes=[2, 2], d=1, ipc_frac=1.0, seed=0, discrete=False, delta=None)  # ipc == every class size
@example(sizes=[5, 9], d=3, ipc_frac=0.0, seed=1, discrete=False, delta=None)  # ipc = 1
@example(sizes=[12], d=2, ipc_frac=0.5, seed=2, discrete=True, delta=0.5)  # one class, many duplicates
@example(sizes=[30, 3], d=4, ipc_frac=0.9, seed=3, discrete=False, delta=10.0)  # delta too large: fill-ups
def test_every_method_respects_the_budget(method, sizes, d, ipc_frac, seed, discrete, delta):
    X, y = make_data(sizes, d, seed, discrete)
    ipc = 1 + int(ipc_frac * (min(sizes) - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cost-0 fallbacks and delta fill-ups are expected here
        sel = select(X, y, ipc, method=method, random_state=seed, delta=delta)
    check_selection(sel, X, y, ipc)


def test_all_identical_class_warns_and_still_selects():
    X = np.zeros((40, 3), dtype=np.float32)
    X[20:] = 1.0
    y = np.repeat([0, 1], 20)
    with pytest.warns(RuntimeWarning, match="identical"):
        sel = select(X, y, 4, method="sensitivity-kmeans", random_state=0)
    check_selection(sel, X, y, 4)
    np.testing.assert_allclose(sel.probabilities, 1 / 20)
    assert "uniform fallback" in sel.per_class[0].note


@pytest.mark.parametrize("method", ALL)
def test_same_seed_same_selection_and_seeds_matter(method, digits):
    X, y = digits.train.images[:400], digits.train.labels[:400]
    a = select(X, y, 5, method=method, random_state=7)
    b = select(X, y, 5, method=method, random_state=7)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    np.testing.assert_array_equal(a.weights, b.weights)
    c = select(X, y, 5, method=method, random_state=8)
    if method in RANDOMIZED:
        assert not np.array_equal(a.indices, c.indices)
    else:  # herding and kcenter (first="mean") are deterministic
        np.testing.assert_array_equal(a.indices, c.indices)


def test_kcenter_random_first_depends_on_the_seed(digits):
    X, y = digits.train.images[:300], digits.train.labels[:300]
    picks = {tuple(select(X, y, 3, method="kcenter", first="random", random_state=s).indices) for s in range(4)}
    assert len(picks) > 1


def far_cluster(n=2000, far=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    X[:far] = rng.normal(loc=30.0, size=(far, 2))
    return X.astype(np.float32), np.zeros(n, dtype=np.int64)


@pytest.mark.parametrize("method", ["sensitivity-kmeans", "sensitivity-kmeans-stratified", "sensitivity-krr"])
def test_tiny_far_cluster_is_drawn_far_more_often_than_uniformly(method):
    X, y = far_cluster()
    kw = {"kernel": "rbf", "num_features": 256} if method == "sensitivity-krr" else {}
    runs, ipc = 10, 20
    hits = {m: 0 for m in (method, "random")}
    for s in range(runs):
        for m in hits:
            sel = select(X, y, ipc, method=m, random_state=s, **(kw if m == method else {}))
            hits[m] += int((sel.indices < 10).sum())
    expected_uniform = runs * ipc * 10 / 2000  # = 1 point over all runs
    assert hits["random"] <= 6
    assert hits[method] >= 10 * max(expected_uniform, 1), hits
    sel = select(X, y, ipc, method=method, random_state=0, **kw)
    assert sel.probabilities[:10].sum() > 8 * 10 / 2000  # > 8x the uniform mass (stratified: 1 of 20 slots)


def test_sensitivity_kmeans_weights_and_probabilities():
    X, y = far_cluster(500, 5)
    sel = select(X, y, 20, method="sensitivity-kmeans", random_state=0, k=5)
    d = sel.per_class[0]
    assert d.cluster_sizes.shape == (5,) and sel.params["k"] == 5
    np.testing.assert_allclose(sel.probabilities, sel.scores / sel.scores.sum())
    np.testing.assert_allclose(sel.weights, 1 / (20 * sel.probabilities[sel.indices]))
    assert sel.scores.sum() <= 1 + 5 + 1e-9
    inc = select(X, y, 20, method="sensitivity-kmeans", random_state=0, k=5, weighting="inclusion")
    np.testing.assert_array_equal(inc.indices, sel.indices)  # same draw, other weights
    assert np.all(inc.weights >= 1.0 - 1e-12)  # 1 / pi with pi <= 1
    assert abs(inc.weights.sum() - 500) < abs(sel.weights.sum() - 500) + 200


def test_inclusion_probabilities():
    p = torch.full((50,), 1 / 50, dtype=torch.float64)
    torch.testing.assert_close(inclusion_probabilities(p, 10), torch.full((50,), 0.2, dtype=torch.float64))
    p = torch.tensor([0.5, 0.2, 0.1, 0.1, 0.05, 0.05], dtype=torch.float64)
    pi = inclusion_probabilities(p, 3)
    assert float(pi.sum()) == pytest.approx(3.0) and bool((pi <= 1).all())
    assert bool((pi[:-1] >= pi[1:]).all())


def test_stratified_takes_one_point_per_cluster():
    X, y = far_cluster(400, 5)
    sel = select(X, y, 6, method="sensitivity-kmeans-stratified", random_state=1)
    d = sel.per_class[0]
    pos = {int(g): i for i, g in enumerate(d.candidates)}
    clusters = [int(d.assignment[pos[int(c)]]) for c in d.chosen]
    assert sorted(clusters) == list(range(6))
    s = sel.scores
    for c, b in zip(d.chosen, clusters):
        members = d.candidates[d.assignment == b]
        assert sel.probabilities[c] == pytest.approx(s[c] / s[members].sum() / 6)


def test_delta_filter_spreads_the_points_and_zero_delta_changes_nothing():
    X, y = far_cluster(600, 0)
    base = select(X, y, 8, method="random", random_state=3)
    np.testing.assert_array_equal(select(X, y, 8, method="random", random_state=3, delta=0.0).indices, base.indices)
    for method in ("random", "sensitivity-kmeans", "sensitivity-kmeans-stratified", "herding"):
        sel = select(X, y, 8, method=method, random_state=3, delta=1.0)
        P = X[sel.indices]
        dist = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1)) + np.eye(8) * 1e9
        assert dist.min() >= 1.0 - 1e-5, method
        assert sel.per_class[0].filled == 0


def test_delta_larger_than_the_data_fills_and_warns():
    X, y = far_cluster(100, 0)
    with pytest.warns(RuntimeWarning, match="delta"):
        sel = select(X, y, 5, method="random", random_state=0, delta=1e3)
    assert sel.per_class[0].filled == 4 and len(set(sel.indices.tolist())) == 5


def test_kcenter_details_and_weights():
    X, y = far_cluster(300, 3)
    sel = select(X, y, 4, method="kcenter", random_state=0)
    d = sel.per_class[0]
    np.testing.assert_array_equal(d.center_indices, d.chosen)
    np.testing.assert_allclose(sel.weights, d.cluster_sizes)
    assert sel.weights.sum() == 300
    assert np.any(d.chosen < 3)  # the far cluster is covered
    assert sel.probabilities[d.chosen] == pytest.approx(np.full(4, 0.25))


def test_herding_matches_the_class_mean_better_than_random(digits):
    X, y = digits.train.images, digits.train.labels
    F = X.flatten(1).numpy()
    h = select(X, y, 5, method="herding")
    errs = []
    for method_sel in [h] + [select(X, y, 5, method="random", random_state=s) for s in range(5)]:
        e = 0.0
        for d in method_sel.per_class:
            e += np.linalg.norm(F[d.candidates].mean(0) - F[d.chosen].mean(0))
        errs.append(e)
    assert errs[0] < min(errs[1:])
    assert h.scores[h.per_class[0].chosen[0]] == 5  # picked first


def test_krr_scopes_and_details(digits):
    X, y = digits.train.images[:300], digits.train.labels[:300]
    g = select(X, y, 3, method="sensitivity-krr", random_state=0)
    c = select(X, y, 3, method="sensitivity-krr", random_state=0, scope="class", kernel="rbf")
    for sel in (g, c):
        check_selection(sel, X.numpy(), y.numpy(), 3)
        assert all(d.leverage is not None and d.residual_term is not None for d in sel.per_class)
    assert g.params["scope"] == "global" and c.params["kernel"] == "rbf"
    for d in c.per_class:  # per-class problems: residual terms sum to 1 within each class
        assert d.residual_term.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("features, dim", [("pixels", 64), ("pca:5", 5), ("convnet", 8), ("convnet+pca:3", 3)])
def test_feature_spaces(features, dim, digits):
    X, y = digits.train.images[:200], digits.train.labels[:200]
    opts = {"width": 8} if features.startswith("convnet") else None
    sel = select(X, y, 2, method="sensitivity-kmeans", features=features, random_state=0, feature_options=opts)
    assert sel.feature_dim == dim and sel.features == features
    again = select(X, y, 2, method="sensitivity-kmeans", features=features, random_state=0, feature_options=opts)
    np.testing.assert_array_equal(sel.indices, again.indices)
    if features != "pixels":
        assert sel.per_class[0].centers.shape == (2, dim)


def test_torch_and_numpy_inputs_agree(digits):
    X, y = digits.train.images[:200], digits.train.labels[:200]
    a = select(X, y, 3, method="sensitivity-kmeans", random_state=0, device="cpu")
    b = select(X.numpy(), y.numpy().tolist(), 3, method="sensitivity-kmeans", random_state=0, device="cpu")
    np.testing.assert_array_equal(a.indices, b.indices)


def test_save_load_roundtrip_and_to_dict(tmp_path, digits):
    X, y = digits.train.images[:300], digits.train.labels[:300]
    for method in ("sensitivity-kmeans", "sensitivity-krr", "herding"):
        sel = select(X, y, 3, method=method, random_state=0, delta=0.1)
        out = sel.save(tmp_path / method)
        assert (out / "selection.npz").is_file() and (out / "summary.json").is_file()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["method"] == method and len(summary["per_class"]) == 10
        assert summary["per_class"][0]["size"] == sel.per_class[0].size
        json.dumps(sel.to_dict())
        back = Selection.load(out)
        for name in ("indices", "labels", "weights", "probabilities", "scores"):
            np.testing.assert_array_equal(getattr(back, name), getattr(sel, name))
        assert (back.method, back.ipc, back.features, back.random_state, back.delta, back.params) == (
            sel.method, sel.ipc, sel.features, sel.random_state, sel.delta, sel.params)
        for a, b in zip(sel.per_class, back.per_class):
            for f in ("candidates", "chosen", "centers", "assignment", "leverage", "residual_term"):
                va, vb = getattr(a, f), getattr(b, f)
                assert (va is None and vb is None) or np.array_equal(va, vb)
            assert (a.label, a.cost, a.d_eff, a.note) == (b.label, b.cost, b.d_eff, b.note)
    with pytest.raises(ValueError, match="selection.npz"):
        Selection.load(tmp_path / "missing")


def test_class_details_lookup(digits):
    sel = select(digits.train.images[:200], digits.train.labels[:200], 2, method="random", random_state=0)
    assert sel.class_details(3).label == 3
    with pytest.raises(ValueError, match="label must be one of"):
        sel.class_details(42)

"""Embedding: PCA/UMAP coordinates, the on-disk cache, the PCA fallback, and the scatter figure."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore.viz import embedding as emb_mod
from dd_explore.viz import compute_embedding, embedding_figure


@pytest.fixture(scope="module")
def X(digits):
    return digits.train.images[:300].reshape(300, -1).numpy()


def test_pca_matches_sklearn_and_is_cached(X, tmp_path, monkeypatch):
    from sklearn.decomposition import PCA

    e = compute_embedding(X, "pca", cache_dir=tmp_path)
    ref = PCA(2, random_state=0).fit_transform(X)
    assert e.method == "pca" and not e.from_cache and e.coords.shape == (300, 2)
    np.testing.assert_allclose(np.abs(e.coords), np.abs(ref), rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(emb_mod, "_fit_pca", lambda *a, **k: pytest.fail("cache miss: PCA recomputed"))
    again = compute_embedding(X, "pca", cache_dir=tmp_path)
    assert again.from_cache and again.key == e.key
    np.testing.assert_array_equal(again.coords, e.coords)


def test_umap_cached_on_disk(X, tmp_path, monkeypatch):
    """One real (small) UMAP; the second call must read the file, not call UMAP."""
    small = X[:120]
    first = compute_embedding(small, "umap", cache_dir=tmp_path, n_neighbors=10, random_state=3)
    assert first.method == "umap" and first.fallback_reason == "" and not first.from_cache
    assert first.coords.shape == (120, 2) and np.isfinite(first.coords).all()
    assert len(list(tmp_path.glob("embedding-umap-*.npz"))) == 1

    def no_umap(*args, **kwargs):
        raise AssertionError("UMAP recomputed despite the cache")

    monkeypatch.setattr(emb_mod, "_fit_umap", no_umap)
    second = compute_embedding(small, "umap", cache_dir=tmp_path, n_neighbors=10, random_state=3)
    assert second.from_cache and second.method == "umap"
    np.testing.assert_array_equal(second.coords, first.coords)


def test_cache_key_covers_data_features_and_parameters(X, tmp_path, monkeypatch):
    calls = []

    def fake_umap(Z, n_neighbors, min_dist, random_state):
        calls.append((Z.shape, n_neighbors, random_state))
        return np.random.default_rng(len(calls)).standard_normal((Z.shape[0], 2))

    monkeypatch.setattr(emb_mod, "_fit_umap", fake_umap)
    base = compute_embedding(X, cache_dir=tmp_path)
    compute_embedding(X, cache_dir=tmp_path)  # hit
    assert len(calls) == 1
    compute_embedding(X, cache_dir=tmp_path, features="convnet")  # other features
    compute_embedding(X, cache_dir=tmp_path, random_state=1)  # other parameters
    X2 = X.copy()
    X2[0, 0] += 1.0
    other = compute_embedding(X2, cache_dir=tmp_path)  # other data
    assert len(calls) == 4 and other.key != base.key
    compute_embedding(X, cache_dir=tmp_path, cache=False)  # cache disabled
    assert len(calls) == 5


def test_umap_failure_falls_back_to_pca(X, tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("numba exploded")

    monkeypatch.setattr(emb_mod, "_fit_umap", broken)
    e = compute_embedding(X, "umap", cache_dir=tmp_path)
    assert e.method == "pca" and e.requested == "umap" and "numba exploded" in e.fallback_reason
    np.testing.assert_array_equal(e.coords, compute_embedding(X, "pca", cache=False).coords)
    assert "using PCA" in caplog.text


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="tsne"), "method must be one of umap, pca; got 'tsne'"),
    (dict(n_neighbors=1), "n_neighbors must be an int >= 2; got 1"),
    (dict(min_dist=2.0), r"min_dist must be a number in \[0, 1\]; got 2.0"),
])
def test_invalid_arguments_are_named(X, kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        compute_embedding(X, cache_dir=tmp_path, **kwargs)


def test_nonfinite_data_rejected(tmp_path):
    X = np.ones((5, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite; 1 entries"):
        compute_embedding(X, "pca", cache_dir=tmp_path)


def test_figure_colours_marks_and_hover(digits, X, tmp_path):
    y = digits.train.labels[:300].numpy()
    e = compute_embedding(X, "pca", cache_dir=tmp_path)
    color = np.linspace(0.0, 1.0, 300)
    chosen = np.array([3, 50, 77, 299])
    fig = embedding_figure(e, y, color=color, marked=chosen, centers=[1, 2], class_names=digits.classes)
    pts, marked, centers = fig.data
    np.testing.assert_array_equal(pts.marker.color, color)
    np.testing.assert_array_equal(pts.customdata[:, 0], np.arange(300))
    np.testing.assert_array_equal(pts.customdata[:, 1], y)
    np.testing.assert_array_equal(marked.customdata[:, 0], chosen)
    np.testing.assert_array_equal(marked.x, e.coords[chosen, 0])
    np.testing.assert_array_equal(centers.customdata[:, 0], [1, 2])
    assert "index %{customdata[0]}" in pts.hovertemplate
    with pytest.raises(ValueError, match=r"chosen indices must lie in 0..299; got min 3, max 300"):
        embedding_figure(e, y, marked=[3, 300])
    with pytest.raises(ValueError, match=r"color must have one entry per embedded point \(300\); got 2"):
        embedding_figure(e, y, color=[1.0, 2.0])

"""Views at scale: WebGL above the threshold, colour scales for skewed values, clipped draw counts, log axes,
binned heatmap columns, embeddings of large sets fitted on a subsample, class labels of the evolution grid."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore import viz
from dd_explore.viz import embedding as emb_mod
from dd_explore.viz import importance, scales


def test_embedding_uses_webgl_above_the_threshold_and_marks_exactly_the_chosen(monkeypatch):
    rng = np.random.default_rng(0)
    n = scales.WEBGL_THRESHOLD + 1
    coords = rng.standard_normal((n, 2)).astype(np.float32)
    labels = np.arange(n) % 7
    chosen = rng.choice(n, 37, replace=False)
    centers = rng.choice(n, 5, replace=False)
    fig = viz.embedding_figure(coords, labels, color=rng.random(n), marked=chosen, centers=centers,
                               class_names=[f"k{i}" for i in range(7)])
    assert [t.type for t in fig.data] == ["scattergl", "scatter", "scatter"]
    pts, marked, cen = fig.data
    assert len(pts.x) == n
    np.testing.assert_array_equal(np.asarray(marked.customdata)[:, 0].astype(np.int64), chosen)
    np.testing.assert_array_equal(np.asarray(marked.x), coords[chosen, 0])
    np.testing.assert_array_equal(np.asarray(marked.y), coords[chosen, 1])
    np.testing.assert_array_equal(np.asarray(cen.customdata)[:, 0].astype(np.int64), centers)
    np.testing.assert_array_equal(np.asarray(pts.customdata)[:, 0], np.arange(n))  # exact in float32
    small = viz.embedding_figure(coords[:100], labels[:100], marked=[3, 4])
    assert [t.type for t in small.data] == ["scatter", "scatter"]
    # the draw-count view over the embedding too
    counts = rng.poisson(3.0, n)
    fig = viz.draw_count_embedding_figure(coords, counts, labels, marked=chosen)
    assert fig.data[0].type == "scattergl" and len(fig.data[1].x) == chosen.size


def test_skewed_scores_get_a_log_or_rank_colour_scale_that_the_colour_bar_names():
    rng = np.random.default_rng(1)
    n = 2000
    coords = rng.standard_normal((n, 2))
    labels = np.zeros(n, dtype=int)
    skewed = rng.lognormal(0.0, 2.0, n)
    fig = viz.embedding_figure(coords, labels, color=skewed, color_scale="auto")
    bar = fig.data[0].marker.colorbar
    assert "log colour scale" in bar.title.text
    np.testing.assert_allclose(fig.data[0].marker.color, np.log10(skewed))
    np.testing.assert_array_equal(np.asarray(fig.data[0].customdata)[:, 2], skewed)  # hover: raw values
    assert all(t.endswith(("0", "1", "2", "5")) or "e" in t for t in bar.ticktext)
    with_zeros = np.concatenate([np.zeros(1500), rng.pareto(1.0, 500) * 100])
    fig = viz.embedding_figure(coords, labels, color=with_zeros, color_scale="auto")
    assert "rank colour scale" in fig.data[0].marker.colorbar.title.text
    shown = np.asarray(fig.data[0].marker.color)
    assert shown.min() >= 0 and shown.max() == 100 and len(set(shown[with_zeros == 0])) == 1  # ties share a colour
    even = rng.random(n)
    fig = viz.embedding_figure(coords, labels, color=even, color_scale="auto")
    np.testing.assert_array_equal(fig.data[0].marker.color, even)  # not skewed: linear, raw values
    assert fig.data[0].marker.colorbar.title.text == "score"
    with pytest.raises(ValueError, match="color_scale must be one of auto, linear, log, rank; got 'sqrt'"):
        viz.embedding_figure(coords, labels, color=even, color_scale="sqrt")


def test_log_axes_label_decades_only():
    scores = np.logspace(-5, -1, 200)
    assert scales.log_axis(scores)["dtick"] == 1
    assert scales.log_axis(np.linspace(1, 30, 50))["dtick"] == "D2"  # under two decades: 1-2-5
    fig = viz.loss_figure(np.arange(50), np.logspace(1, -3, 50), log_y=True)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1 and fig.layout.yaxis.minor.ticks == "outside"


def test_draw_count_histogram_clips_a_long_tail():
    counts = np.concatenate([np.full(997, 5), np.arange(3) + 2000])
    labels = np.arange(1000) % 2
    fig = importance.draw_count_figure(counts, labels)
    xs = np.concatenate([np.asarray(t.x) for t in fig.data])
    assert xs.max() < 2000 and xs.size == 1000
    assert "the 3 points drawn more than 5 times" in fig.layout.xaxis.title.text and "up to 2002" in fig.layout.xaxis.title.text
    flat = importance.draw_count_figure(np.arange(1000) % 7, labels)
    assert flat.layout.xaxis.title.text == "times drawn"


def test_heatmap_bins_columns_of_large_classes():
    rng = np.random.default_rng(2)
    n, R = 3000, 4
    labels = np.arange(n) % 2
    q = rng.random((R, n))
    for c in (0, 1):
        q[:, labels == c] /= q[:, labels == c].sum(1, keepdims=True)
    fig = importance.importance_heatmap_figure(np.arange(R), q, labels, max_columns=100)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (R, 100)
    np.testing.assert_allclose(z.mean(1), 1.0, rtol=1e-3)  # means of n_c q over groups of equal size
    assert "mean of ~15 points" in fig.layout.xaxis.title.text
    full = importance.importance_heatmap_figure(np.arange(R), q, labels, max_columns=None)
    assert np.asarray(full.data[0].z).shape == (R, 1500)
    assert np.asarray(full.data[0].customdata).dtype == np.int32
    many = np.repeat(q, 30, axis=0)  # 120 refreshes
    fig = importance.importance_heatmap_figure(np.arange(120), many, labels, max_rows=40)
    assert list(fig.data[0].y)[0] == "0" and list(fig.data[0].y)[-1] == "119" and len(fig.data[0].y) == 40
    assert "(40 of 120 shown)" in fig.layout.yaxis.title.text


def test_large_sets_are_embedded_from_a_subsample_and_cached(tmp_path, monkeypatch):
    from dd_explore import data

    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (600, 3, 6, 6), dtype=np.uint8)
    ds = data.from_arrays(X, np.arange(600) % 3)
    calls = []

    def fake_umap(Z, n_neighbors, min_dist, random_state):
        calls.append(Z.shape)
        return Z[:, :2] * 1.0

    monkeypatch.setattr(emb_mod, "_fit_umap", fake_umap)
    e = viz.compute_embedding(ds.train, "umap", cache_dir=tmp_path, max_fit=200, pca_dims=5)
    assert calls == [(200, 5)] and e.coords.shape == (len(ds.train), 2) and np.isfinite(e.coords).all()
    assert "fitted on a seeded 200 of the 480 points" in e.note and e.params["max_fit"] == 200
    again = viz.compute_embedding(ds.train, "umap", cache_dir=tmp_path, max_fit=200, pca_dims=5)
    assert again.from_cache and again.note == e.note and len(calls) == 1
    fig = viz.embedding_figure(e, ds.train.labels)
    assert any(e.note in a.text for a in fig.layout.annotations)
    # every point fitted: no note, same numbers as the array path
    small = viz.compute_embedding(ds.train, "pca", cache=False)
    ref = viz.compute_embedding(ds.train.images.numpy(), "pca", cache=False)
    assert small.note == "" and np.allclose(small.coords, ref.coords, atol=1e-4)


def test_evolution_class_labels_are_horizontal_and_fit_their_rows():
    rng = np.random.default_rng(4)
    names = ["airplane", "automobile", "a very long class name indeed", "cat"]
    images = rng.standard_normal((2, 8, 3, 8, 8)).astype(np.float32)
    labels = np.repeat(np.arange(4), 2)
    fig = viz.evolution_figure([0, 10], images, labels, class_names=names, tile_px=20)
    anns = [a for a in fig.layout.annotations if (a.name or "").startswith("class label")]
    assert [a.hovertext for a in anns] == names
    assert all(a.textangle == 0 for a in anns) and anns[2].text.endswith("…") and len(anns[2].text) <= 16
    ys = sorted(a.y for a in anns)
    row_px = 20
    gap_px = min(np.diff(ys)) * (fig.layout.height - fig.layout.margin.t - fig.layout.margin.b)
    assert all(a.font.size <= 0.7 * row_px + 1 for a in anns) and gap_px >= anns[0].font.size
    assert fig.layout.margin.l >= 14 + anns[0].font.size * 0.62 * 16 - 1

"""Sensitivity views on real selections: the marked points are exactly the chosen ones, colours carry the scores."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dd_explore.viz import compute_embedding, sensitivity, tile, to_pixels


def _chosen_trace(fig):
    (tr,) = [t for t in fig.data if t.name == "chosen"]
    return tr


def test_ranked_curve_marks_exactly_the_chosen_points(kmeans_selection, digits):
    sel = kmeans_selection
    fig = sensitivity.ranked_scores_figure(sel, class_names=digits.classes)
    lines = [t for t in fig.data if t.name != "chosen"]
    assert len(lines) == digits.num_classes
    chosen = _chosen_trace(fig)
    assert sorted(chosen.customdata[:, 0].astype(int).tolist()) == sorted(sel.indices.tolist())
    np.testing.assert_allclose(chosen.customdata[:, 2], sel.scores[chosen.customdata[:, 0].astype(int)])
    for line, d in zip(lines, sel.per_class):
        order = np.argsort(-sel.scores[d.candidates], kind="stable")
        np.testing.assert_array_equal(line.customdata, d.candidates[order])
        np.testing.assert_array_equal(line.y, sel.scores[d.candidates][order])
        assert np.all(np.diff(line.y) <= 0)
    # each chosen point sits on its class curve at its rank
    for idx, x, y in zip(chosen.customdata[:, 0].astype(int), chosen.x, chosen.y):
        cls = int(digits.train.labels[idx])
        line = lines[cls]
        pos = int(np.flatnonzero(line.customdata == idx)[0])
        assert line.x[pos] == pytest.approx(x) and line.y[pos] == pytest.approx(y)


def test_distribution_boxes_carry_the_scores(kmeans_selection, digits):
    sel = kmeans_selection
    fig = sensitivity.score_distribution_figure(sel, class_names=digits.classes)
    boxes = [t for t in fig.data if t.type == "box"]
    assert len(boxes) == digits.num_classes
    for box, d in zip(boxes, sel.per_class):
        np.testing.assert_array_equal(box.y, sel.scores[d.candidates])
    chosen = _chosen_trace(fig)
    np.testing.assert_array_equal(np.sort(chosen.customdata), np.sort(sel.indices))
    np.testing.assert_array_equal(chosen.y, sel.scores[chosen.customdata])


def test_kmeans_detail_is_score_against_distance(kmeans_selection):
    sel = kmeans_selection
    fig = sensitivity.score_detail_figure(sel)
    classes = [t for t in fig.data if t.name != "chosen"]
    assert len(classes) == len(sel.per_class)
    for tr, d in zip(classes, sel.per_class):
        np.testing.assert_allclose(tr.x, np.sqrt(d.distances_sq))
        np.testing.assert_array_equal(tr.y, sel.scores[d.candidates])
        # the k-means bound: s = d^2/cost + 1/|cluster| (what the view tells the reader)
        np.testing.assert_allclose(tr.y, d.distances_sq / d.cost + 1.0 / d.cluster_sizes[d.assignment], rtol=1e-6)
    chosen = _chosen_trace(fig)
    np.testing.assert_array_equal(np.sort(chosen.customdata[:, 0]), np.sort(sel.indices))


def test_krr_detail_is_leverage_against_residual(krr_selection):
    sel = krr_selection
    fig = sensitivity.score_detail_figure(sel)
    classes = [t for t in fig.data if t.name != "chosen"]
    for tr, d in zip(classes, sel.per_class):
        np.testing.assert_array_equal(tr.x, d.leverage)
        np.testing.assert_array_equal(tr.y, d.residual_term)
        np.testing.assert_array_equal(tr.marker.color, sel.scores[d.candidates])
    np.testing.assert_array_equal(np.sort(_chosen_trace(fig).customdata[:, 0]), np.sort(sel.indices))


def test_detail_is_none_without_clusters_or_leverage(digits):
    from dd_explore import selection

    sel = selection.select(digits.train.images, digits.train.labels, ipc=2, method="random", random_state=0)
    assert sensitivity.score_detail_figure(sel) is None


def _decode(uri):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_thumbnails_are_the_extreme_scores(kmeans_selection, digits):
    sel, k = kmeans_selection, 3
    fig = sensitivity.extreme_thumbnails_figure(sel, digits.train.images, k=k, mean=digits.mean, std=digits.std)
    img, overlay = fig.data
    idx = overlay.customdata[:, 0].astype(int)
    assert idx.shape[0] == 2 * k * len(sel.per_class)
    for r, d in enumerate(sel.per_class):
        order = d.candidates[np.argsort(-sel.scores[d.candidates], kind="stable")]
        row = idx[r * 2 * k:(r + 1) * 2 * k]
        np.testing.assert_array_equal(row[:k], order[:k])
        np.testing.assert_array_equal(row[k:], order[-k:])
    # the pixels shown are the pixels of those points
    grid = _decode(img.source)
    pix = to_pixels(digits.train.images[order[:k]], digits.mean, digits.std)
    last_row = grid[(len(sel.per_class) - 1) * 9:(len(sel.per_class) - 1) * 9 + 8]
    np.testing.assert_array_equal(last_row[:, : tile(pix, k).shape[1]], tile(pix, k)[:, :, 0])


def test_embedding_colours_are_the_scores_and_marks_the_selection(kmeans_selection, digits, tmp_path):
    sel = kmeans_selection
    emb = compute_embedding(digits.train.images, "pca", cache_dir=tmp_path)
    fig = sensitivity.selection_embedding_figure(sel, emb, digits.train.labels, class_names=digits.classes)
    points, marked, centers = fig.data
    np.testing.assert_array_equal(points.marker.color, sel.scores)
    np.testing.assert_array_equal(marked.customdata[:, 0], sel.indices)
    np.testing.assert_array_equal(centers.customdata[:, 0], sensitivity.center_indices(sel))
    assert centers.customdata.shape[0] == sum(d.center_indices.shape[0] for d in sel.per_class)

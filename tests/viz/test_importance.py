"""Importance views on a real run with importance batches."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore.viz import compute_embedding, entropy_ess, importance, relative_to_uniform


def test_heatmap_is_q_relative_to_uniform_per_class(run_record, digits):
    run = run_record
    fig = importance.run_importance_heatmap_figure(run)
    assert len(fig.data) == digits.num_classes
    assert [t.visible for t in fig.data] == [True] + [False] * (digits.num_classes - 1)
    assert len(fig.layout.updatemenus[0].buttons) == digits.num_classes
    rel = relative_to_uniform(run.q, run.train_labels)
    for c, tr in enumerate(fig.data):
        cols = tr.customdata[0].astype(int)
        assert sorted(cols.tolist()) == np.flatnonzero(run.train_labels == c).tolist()
        np.testing.assert_allclose(tr.z, rel[:, cols], rtol=1e-6)
        assert tr.z.shape[0] == run.refresh_steps.shape[0]
        assert np.all(np.diff(tr.z[-1]) <= 1e-6)  # sorted by final q, largest first
        np.testing.assert_allclose(np.mean(tr.z, axis=1), 1.0, rtol=1e-4)  # q sums to 1 in each class
    by_index = importance.run_importance_heatmap_figure(run, sort="index")
    np.testing.assert_array_equal(by_index.data[0].customdata[0], np.flatnonzero(run.train_labels == 0))
    with pytest.raises(ValueError, match="sort must be one of final, index; got 'size'"):
        importance.run_importance_heatmap_figure(run, sort="size")


def test_entropy_curve_agrees_with_q(run_record, digits):
    run = run_record
    fig = importance.run_entropy_figure(run)
    steps = [e["step"] for e in run.events if e.get("importance")]
    assert list(fig.data[-1].x) == steps
    H, E = entropy_ess(run.q, run.train_labels)
    assert np.all((H > 0) & (H <= 1 + 1e-9)) and np.all((E > 0) & (E <= 1 + 1e-9))
    # an event whose sampler used refresh r reports the same entropy / ESS as q[r]
    for ev in run.events:
        if ev.get("importance") and ev["importance_step"] in run.refresh_steps.tolist():
            r = run.refresh_steps.tolist().index(ev["importance_step"])
            got_h = [s["entropy_ratio"] for s in sorted(ev["importance"], key=lambda s: s["cls"])]
            got_e = [s["ess"] / s["n"] for s in sorted(ev["importance"], key=lambda s: s["cls"])]
            np.testing.assert_allclose(got_h, H[r], rtol=1e-4)
            np.testing.assert_allclose(got_e, E[r], rtol=1e-4)


def test_draw_counts_histogram_and_embedding(run_record, digits, tmp_path):
    run = run_record
    fig = importance.run_draw_count_figure(run)
    assert len(fig.data) == digits.num_classes
    for c, tr in enumerate(fig.data):
        np.testing.assert_array_equal(np.sort(tr.x), np.sort(run.draw_counts[run.train_labels == c]))
    drawn = sum(len(ix) for ev in run.events for ix in ev["drawn"])
    assert int(run.draw_counts.sum()) == drawn
    emb = compute_embedding(digits.train.images, "pca", cache_dir=tmp_path)
    efig = importance.run_draw_count_embedding_figure(run, emb)
    np.testing.assert_array_equal(efig.data[0].marker.color, run.draw_counts)


def test_uniform_runs_have_no_q_views(digits, tmp_path):
    from dd_explore import distill

    distill.run(digits, "dm", ipc=1, init="random", steps=2, out=tmp_path / "u", width=8)
    run = distill.load_run(tmp_path / "u")
    assert not importance.run_uses_importance(run)
    with pytest.raises(ValueError, match="batches='importance'"):
        importance.run_importance_heatmap_figure(run)
    fig = importance.run_draw_count_figure(run)  # the uniform baseline still draws
    assert sum(int(np.sum(t.x)) for t in fig.data) == int(run.draw_counts.sum()) > 0

"""Synthetic evolution on a real run: one trace per class, one frame per snapshot, the pixels of each frame."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dd_explore.viz import drift, evolution, tile, to_pixels


def _decode(uri):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_frames_and_traces_match_snapshots_and_classes(run_record, digits):
    run = run_record
    fig = evolution.run_evolution_figure(run)
    classes = np.unique(run.labels)
    assert len(fig.data) == classes.size == digits.num_classes
    assert [f.name for f in fig.frames] == [str(int(s)) for s in run.snapshot_steps]
    assert all(len(f.data) == classes.size for f in fig.frames)
    slider = fig.layout.sliders[0]
    assert [s.label for s in slider.steps] == [f.name for f in fig.frames]
    assert slider.active == len(fig.frames) - 1
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["Play", "Pause"]
    for s in (0, len(run.snapshot_steps) - 1):
        for c in classes:
            want = tile(to_pixels(run.snapshot_images[s][run.labels == c], digits.mean, digits.std), ncols=2)[:, :, 0]
            np.testing.assert_array_equal(_decode(fig.frames[s].data[int(c)].source), want)
    assert fig.data[0].source == fig.frames[-1].data[0].source


def test_class_subset_and_validation(run_record):
    fig = evolution.run_evolution_figure(run_record, classes=[3, 7])
    assert len(fig.data) == 2 and all(len(f.data) == 2 for f in fig.frames)
    with pytest.raises(ValueError, match=r"classes must be labels of synthetic images .*got \[11\]"):
        evolution.run_evolution_figure(run_record, classes=[11])
    with pytest.raises(ValueError, match="one snapshot per step: 2 steps but"):
        evolution.evolution_figure([0, 1], run_record.snapshot_images, run_record.labels)


def test_drift_from_the_initial_images(run_record, digits):
    run = run_record
    d = drift(run.snapshot_images, digits.mean, digits.std)
    assert d.shape == (len(run.snapshot_steps), run.labels.shape[0])
    np.testing.assert_array_equal(d[0], 0.0)
    j, s = 5, len(run.snapshot_steps) - 1
    diff = (run.snapshot_images[s, j] - run.snapshot_images[0, j]).astype(np.float64) * digits.std[0]
    assert d[s, j] == pytest.approx(np.sqrt(np.mean(diff ** 2)), rel=1e-6)
    assert d[s].max() > 0  # the run moved its images
    fig = evolution.run_drift_figure(run)
    assert len(fig.data) == digits.num_classes
    tr = fig.data[2]  # class 2: its images as NaN-separated lines
    ys = np.array([np.nan if v is None else v for v in tr.y], dtype=float)
    members = np.flatnonzero(run.labels == 2)
    np.testing.assert_allclose(ys[: len(run.snapshot_steps)], d[:, members[0]])
    assert np.isnan(ys[len(run.snapshot_steps)])


def test_long_runs_show_evenly_spaced_frames(run_record):
    run = run_record
    S = len(run.snapshot_steps)
    fig = evolution.run_evolution_figure(run, max_frames=2)
    assert [f.name for f in fig.frames] == [str(run.snapshot_steps[0]), str(run.snapshot_steps[-1])]
    assert len(evolution.run_evolution_figure(run, max_frames=None).frames) == S
    with pytest.raises(ValueError, match="max_frames must be an int >= 2 or None; got 1"):
        evolution.run_evolution_figure(run, max_frames=1)

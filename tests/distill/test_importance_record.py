"""The compact q_t record: thinned float16 rows once the dense record outgrows its budget."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore import distill
from dd_explore.distill import rundir
from dd_explore.distill.rundir import kept_refreshes, load_run

KW = dict(method="dm", ipc=2, init="random", batches="importance", seed=3, device="cpu", refresh=1, width=8,
          probe_width=8, probe_epochs=1, probe_warmup_epochs=1, checkpoint_every=6)


def test_kept_refreshes_is_bounded_nested_and_keeps_the_last():
    assert kept_refreshes(0, 4) == [] and kept_refreshes(3, 4) == [0, 1, 2]
    assert kept_refreshes(12, 4) == [0, 4, 8, 11]
    prev = set()
    for count in range(1, 200):
        rows = kept_refreshes(count, 8)
        assert rows[-1] == count - 1 and len(rows) <= 9 and rows == sorted(set(rows))
        # a row dropped once is never kept again: what is kept now was kept before (or is new)
        assert set(rows) - {count - 1} <= prev
        prev = set(rows)


def test_compact_record_round_trips_and_is_smaller(digits, tmp_path, monkeypatch):
    dense = distill.run(digits, steps=12, out=tmp_path / "dense", **KW)
    n = len(digits.train)
    monkeypatch.setattr(rundir, "Q_RECORD_BYTES", 4 * 2 * n)  # room for 4 float16 rows
    compact = distill.run(digits, steps=12, out=tmp_path / "compact", **KW)
    assert np.array_equal(dense.images.numpy(), compact.images.numpy())  # the record does not change the run
    a, b = load_run(tmp_path / "dense"), load_run(tmp_path / "compact")
    assert a.q_format == "dense" and b.q_format == "compact" and b.q_thinned and not a.q_thinned
    np.testing.assert_array_equal(a.refresh_steps, np.arange(12))
    np.testing.assert_array_equal(b.all_refresh_steps, a.refresh_steps)
    np.testing.assert_array_equal(b.refresh_steps, [0, 4, 8, 11])
    np.testing.assert_allclose(b.q, a.q[[0, 4, 8, 11]], rtol=2e-3, atol=1e-7)  # float16 of n_c q
    labels = b.train_labels
    for row in b.q:
        np.testing.assert_allclose(np.bincount(labels, weights=row.astype(np.float64)), 1.0, atol=1e-5)
    size = {k: (tmp_path / k / "importance.npz").stat().st_size for k in ("dense", "compact")}
    assert size["compact"] < 0.5 * size["dense"], size
    with np.load(tmp_path / "dense" / "importance.npz") as zd, np.load(tmp_path / "compact" / "importance.npz") as zc:
        assert zc["q_rel16"].dtype == np.float16 and zc["q_rel16"].nbytes * 6 == zd["q"].nbytes  # 4 of 12 rows, half
    # the views read it back
    from dd_explore.viz import importance

    fig = importance.run_importance_heatmap_figure(b)
    assert fig.data[0].z.shape[0] == 4 and "every" in fig.layout.title.text
    importance.run_entropy_figure(b)
    importance.run_draw_count_figure(b)


def test_compact_record_resumes_exactly(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "Q_RECORD_BYTES", 3 * 2 * len(digits.train))
    full = distill.run(digits, steps=12, out=tmp_path / "full", **KW)
    distill.run(digits, steps=6, out=tmp_path / "r", **KW)
    resumed = distill.run(digits, steps=12, out=tmp_path / "r", resume=True, **KW)
    assert resumed.steps_done == 12
    a, b = load_run(tmp_path / "full"), load_run(tmp_path / "r")
    assert a.q_format == b.q_format == "compact"
    np.testing.assert_array_equal(a.refresh_steps, b.refresh_steps)
    np.testing.assert_array_equal(a.all_refresh_steps, b.all_refresh_steps)
    np.testing.assert_array_equal(a.q, b.q)
    assert np.array_equal(full.images.numpy(), resumed.images.numpy())


def test_a_damaged_compact_record_is_named(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(rundir, "Q_RECORD_BYTES", 2 * 2 * len(digits.train))
    distill.run(digits, steps=6, out=tmp_path / "run", **KW)
    path = tmp_path / "run" / "importance.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "q_rel16"}
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"importance.npz.*unknown q_format 'compact' \(or misses q_steps / q_rel16\)"):
        load_run(tmp_path / "run")


def test_snapshots_are_thinned_beyond_their_budget(digits, tmp_path, monkeypatch):
    per = 20 * 1 * 8 * 8 * 4  # ipc 2 x 10 classes of 1x8x8 float32
    monkeypatch.setattr(rundir, "SNAPSHOT_BYTES", 5 * per)
    kw = {k: v for k, v in KW.items() if k not in ("probe_width", "probe_epochs", "probe_warmup_epochs", "refresh")}
    distill.run(digits, steps=20, out=tmp_path / "run", snapshot_every=1, **dict(kw, batches="uniform"))
    rec = load_run(tmp_path / "run")
    steps = rec.snapshot_steps.tolist()
    assert len(steps) <= 5 and steps[0] == 0 and steps[-1] == 20 and steps == sorted(steps)
    assert rec.snapshot_images.shape[0] == len(steps)
    np.testing.assert_array_equal(rec.snapshot_images[-1], rec.images)

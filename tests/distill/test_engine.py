"""The shared loop: run directory, resume, stop, callbacks, bad input."""

import json
import threading

import numpy as np
import pytest
import torch

from dd_explore import distill
from dd_explore.distill import Callback, StopRun, load_run

DM = dict(width=16, depth=2)


def dm_run(ds, **kw):
    args = dict(method="dm", ipc=2, init="random", steps=4, seed=0, device="cpu")
    args.update(DM)
    args.update(kw)
    return distill.run(ds, **args)


def snapshot_files(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


# ---------------------------------------------------------------------------- the run directory
def test_run_directory_is_complete_and_consistent(digits, tmp_path):
    out = tmp_path / "run"
    res = dm_run(digits, steps=6, batches="importance", refresh=2, probe_warmup_epochs=5, out=out,
                 snapshot_every=2, checkpoint_every=3)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "synthetic.pt", "synthetic.npz", "events.jsonl", "snapshots.npz", "importance.npz",
            "checkpoint.pt", "init"} <= names
    assert not any(n.endswith(".tmp") for n in names)
    syn = torch.load(out / "synthetic.pt", weights_only=True)
    assert torch.equal(syn["images"], res.images) and torch.equal(syn["labels"], res.labels) and int(syn["step"]) == 6
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["method"] == "dm" and cfg["run"]["seed"] == 0 and cfg["run"]["dataset"]["name"] == "digits"
    assert cfg["run"]["method_options"]["width"] == 16 and cfg["run"]["importance"]["refresh"] == 2
    assert {"python", "torch", "numpy", "dd_explore"} <= set(cfg["versions"])

    rec = load_run(out)
    assert rec.step == 6 and rec.checkpoint_step == 6
    np.testing.assert_array_equal(rec.event_steps, np.arange(1, 7))
    np.testing.assert_allclose(rec.losses, res.losses)
    np.testing.assert_array_equal(rec.images, res.images.numpy())
    np.testing.assert_array_equal(rec.snapshot_steps, [0, 2, 4, 6])
    np.testing.assert_array_equal(rec.initial_images, res.initial_images.numpy())
    assert rec.snapshot_images.shape == (4, 20, 1, 8, 8)
    # importance: refreshed at steps 0, 2, 4; q sums to 1 in every class
    np.testing.assert_array_equal(rec.refresh_steps, [0, 2, 4])
    labels = digits.train.labels.numpy()
    np.testing.assert_array_equal(rec.train_labels, labels)
    for r in range(3):
        sums = np.bincount(labels, weights=rec.q[r].astype(np.float64), minlength=10)
        np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    # drawn indices are global train indices of the right class; counts add up
    total = np.zeros(len(labels), dtype=np.int64)
    for e in rec.events:
        assert len(e["importance"]) == 10 and e["importance"][0]["n"] == int((labels == 0).sum())
        for c, drawn in enumerate(e["drawn"]):
            assert len(drawn) == 64 and (labels[drawn] == c).all()
            np.add.at(total, drawn, 1)
    np.testing.assert_array_equal(rec.draw_counts, total)
    assert 0 < rec.probe_share < 1
    ess = rec.importance_series("ess")
    assert ess.shape == (6, 10) and np.isfinite(ess).all()
    hist = rec.importance_hist()
    assert hist.shape == (6, 10, len(rec.hist_edges) - 1)
    np.testing.assert_array_equal(hist.sum(2), np.tile(np.bincount(labels, minlength=10), (6, 1)))
    np.testing.assert_array_equal(rec.drawn(2, 3), rec.events[1]["drawn"][3])
    # the init selection is saved and the initial images are those real images
    from dd_explore.selection import Selection

    sel = Selection.load(out / "init")
    np.testing.assert_array_equal(rec.init_selection().indices, sel.indices)
    np.testing.assert_array_equal(rec.initial_images, digits.train.images[torch.as_tensor(sel.indices)].numpy())


def test_uniform_run_records_counts_and_no_importance(digits, tmp_path):
    res = dm_run(digits, steps=2, out=tmp_path / "u")
    rec = load_run(tmp_path / "u")
    assert rec.q.shape == (0, len(digits.train)) and rec.draw_counts.sum() == 2 * 10 * 64
    assert all(e["importance"] is None for e in rec.events) and res.probe_share == 0


def test_evaluation_writes_metrics(digits, tmp_path):
    ev = dict(runs=2, epochs=3, every=2, every_epochs=2, model_kwargs={"width": 8, "depth": 2})
    res = dm_run(digits, steps=2, out=tmp_path / "e", evaluate=ev)
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m == json.loads(json.dumps(res.metrics))
    assert m["initial"]["step"] == 0 and m["final"]["step"] == 2 and len(m["final"]["accuracies"]) == 2
    assert m["history"][0]["step"] == 2 and m["final"]["protocol"]["epochs"] == 3
    assert json.loads((tmp_path / "e" / "config.json").read_text())["evaluation"]["runs"] == 2


# ---------------------------------------------------------------------------- resume and stop
def test_stop_run_leaves_a_checkpoint_that_resumes_to_the_uninterrupted_result(digits, tmp_path):
    full = dm_run(digits, steps=6, batches="importance", refresh=2, probe_warmup_epochs=5)

    class StopAt(Callback):
        def on_step(self, info):
            if info.step == 3:
                raise StopRun

    out = tmp_path / "s"
    res = dm_run(digits, steps=6, batches="importance", refresh=2, probe_warmup_epochs=5, out=out, callbacks=[StopAt()])
    assert res.stopped and res.stop_reason == "stop" and res.steps_done == 3
    rec = load_run(out)
    assert rec.checkpoint_step == 3 and rec.step == 3 and len(rec.events) == 3
    resumed = dm_run(digits, steps=6, batches="importance", refresh=2, probe_warmup_epochs=5, out=out, resume=True)
    assert resumed.steps_done == 6 and not resumed.stopped
    assert torch.equal(resumed.images, full.images)
    np.testing.assert_array_equal(resumed.losses, full.losses)
    rec = load_run(out)
    np.testing.assert_array_equal(rec.event_steps, np.arange(1, 7))
    np.testing.assert_array_equal(rec.refresh_steps, [0, 2, 4])


def test_keyboard_interrupt_in_a_step_checkpoints_the_last_completed_step(digits, tmp_path, monkeypatch):
    from dd_explore.distill.methods.dm import DM

    original = DM.step
    calls = {"n": 0}

    def flaky(self, ctx, batches):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, ctx, batches)

    monkeypatch.setattr(DM, "step", flaky)
    out = tmp_path / "k"
    with pytest.raises(KeyboardInterrupt):
        dm_run(digits, steps=5, out=out)
    assert load_run(out).checkpoint_step == 2
    monkeypatch.setattr(DM, "step", original)
    resumed = dm_run(digits, steps=5, out=out, resume=True)
    assert torch.equal(resumed.images, dm_run(digits, steps=5).images)


def test_interrupt_before_the_step_is_recorded_ends_at_the_previous_step(digits, tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM landing in the recorder, before step 3's event is written: the final checkpoint
    is step 2's, so checkpoint, synthetic set and events.jsonl agree, and a resume is exact."""
    from dd_explore.distill.rundir import Recorder

    original = Recorder.on_step

    def interrupted(self, info):
        if info.step == 3:
            raise KeyboardInterrupt
        return original(self, info)

    monkeypatch.setattr(Recorder, "on_step", interrupted)
    out = tmp_path / "k"
    with pytest.raises(KeyboardInterrupt):
        dm_run(digits, steps=5, out=out)
    rec = load_run(out)
    assert rec.checkpoint_step == rec.step == len(rec.events) == 2
    monkeypatch.setattr(Recorder, "on_step", original)
    resumed = dm_run(digits, steps=5, out=out, resume=True)
    assert torch.equal(resumed.images, dm_run(digits, steps=5).images)
    assert [e["step"] for e in load_run(out).events] == [1, 2, 3, 4, 5]


def test_exception_in_a_callback_propagates_after_a_checkpoint(digits, tmp_path):
    def boom(info):
        if info.step == 2:
            raise RuntimeError("view crashed")

    out = tmp_path / "x"
    with pytest.raises(RuntimeError, match="view crashed"):
        dm_run(digits, steps=5, out=out, callbacks=[boom])
    assert load_run(out).checkpoint_step == 2


def test_stop_from_another_thread(digits):
    control = distill.RunControl()

    def press_stop(info):
        if info.step == 2:
            t = threading.Thread(target=control.stop)
            t.start()
            t.join()

    res = dm_run(digits, steps=10, control=control, callbacks=[press_stop])
    assert res.stopped and res.steps_done == 2


@pytest.mark.parametrize("method", distill.list_methods())
def test_resume_equals_uninterrupted(method, digits, tmp_path, small, contract):
    contract.check_resume_equals_uninterrupted(method, digits, tmp_path, small(method))


# ---------------------------------------------------------------------------- refusing and bad input
def test_refuses_a_non_empty_directory_and_overwrite_keeps_foreign_files(digits, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        dm_run(digits, out=out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    dm_run(digits, steps=2, out=out, overwrite=True)
    before = snapshot_files(out)
    with pytest.raises(FileExistsError):
        dm_run(digits, steps=2, out=out)
    assert snapshot_files(out) == before
    res = dm_run(digits, steps=1, init="noise", out=out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and load_run(out).step == 1 and res.selection is None
    assert not (out / "init").exists()


def test_resume_with_a_different_configuration_is_refused_and_changes_nothing(digits, tmp_path):
    out = tmp_path / "c"
    dm_run(digits, steps=2, out=out)
    before = snapshot_files(out)
    with pytest.raises(ValueError, match=r"different configuration.*method_options\.lr_img: 1\.0 -> 2\.0.*seed: 0 -> 1"):
        dm_run(digits, steps=4, out=out, resume=True, lr_img=2.0, seed=1)
    assert snapshot_files(out) == before
    res = dm_run(digits, steps=2, out=out, resume=True)  # already done: nothing to run
    assert res.steps_done == 2 and snapshot_files(out)["synthetic.pt"] == before["synthetic.pt"]


@pytest.mark.parametrize("kw, err, match", [
    (dict(method="frepo"), ValueError, r"method must be one of \['dc', 'dm', 'dsa', 'kip', 'mtt'\]; got 'frepo'"),
    (dict(init="best"), ValueError, r"init must be one of \[.*'noise'.*'random'.*\]; got 'best'"),
    (dict(steps=0), ValueError, r"steps must be a positive int; got 0"),
    (dict(steps=-3), ValueError, r"steps must be a positive int; got -3"),
    (dict(lr_img=0.0), ValueError, r"lr_img must be a positive number; got 0.0"),
    (dict(lr_img=-1), ValueError, r"lr_img must be a positive number; got -1"),
    (dict(ipc=500), ValueError, r"ipc must be a positive int no larger than the smallest class \(139 images in class 8\); got 500"),
    (dict(ipc=0), ValueError, r"ipc must be a positive int"),
    (dict(batches="hard"), ValueError, r"batches must be one of \['uniform', 'importance'\]; got 'hard'"),
    (dict(gamma=0.5), ValueError, r"apply to batches='importance' only"),
    (dict(batches="importance", gamma=0.0), ValueError, r"gamma must be a number in \(0, 1\]"),
    (dict(colour=1), ValueError, r"unknown option\(s\) \['colour'\]"),
    (dict(resume=True, overwrite=True), ValueError, r"resume and overwrite exclude each other"),
    (dict(device="tpu"), ValueError, r"device"),
    (dict(evaluate={"runs": 0}), ValueError, r"evaluation runs must be a positive int; got 0"),
    (dict(evaluate={"epochs": 5, "colour": 1}), ValueError, r"evaluate must be True, an Evaluation or a dict"),
])
def test_bad_input_errors_and_nothing_written(digits, tmp_path, kw, err, match):
    out = tmp_path / "bad"
    with pytest.raises(err, match=match):
        dm_run(digits, out=out, **kw)
    assert not out.exists()


@pytest.mark.parametrize("method, kw, match", [
    ("kip", dict(lr_labels=-0.1), "lr_labels must be a positive number"),
    ("kip", dict(kernel="laplace"), r"kernel must be one of \['ntk', 'rbf'\]"),
    ("dc", dict(lr_net=0), "lr_net must be a positive number"),
    ("dsa", dict(outer_loop=0), "outer_loop must be a positive int"),
    ("dm", dict(dsa_strategy="blur"), "dsa strategy"),
])
def test_bad_method_options(digits, method, kw, match):
    with pytest.raises(ValueError, match=match):
        distill.run(digits, method, ipc=1, steps=1, **kw)

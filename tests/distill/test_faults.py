"""Files under faults: a truncated or corrupt checkpoint, run record, selection or expert buffer is named,
with what is wrong with it; a resume falls back to the previous checkpoint."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from dd_explore import distill
from dd_explore.distill import Callback, StopRun, load_run
from dd_explore.distill.rundir import is_run_file, load_checkpoint

TINY = dict(method="dm", ipc=1, steps=4, width=8, depth=2, seed=0, device="cpu", checkpoint_every=1)


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


class StopAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step(self, info):
        if info.step == self.step:
            raise StopRun


def stopped_run(digits, out, at: int = 3):
    res = distill.run(digits, out=out, callbacks=[StopAt(at)], **TINY)
    assert res.steps_done == at
    return res


# ---------------------------------------------------------------------------- checkpoints
def test_each_checkpoint_keeps_the_previous_one(digits, tmp_path):
    out = tmp_path / "run"
    distill.run(digits, out=out, **TINY)
    assert int(torch.load(out / "checkpoint.pt", weights_only=True)["step"]) == 4
    assert int(torch.load(out / "checkpoint.prev.pt", weights_only=True)["step"]) == 3
    assert is_run_file("checkpoint.prev.pt")
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    (out / "notes.txt").write_text("mine")
    distill.run(digits, out=out, overwrite=True, **dict(TINY, steps=1))  # overwrite clears the old previous one
    assert int(torch.load(out / "checkpoint.pt", weights_only=True)["step"]) == 1
    assert int(torch.load(out / "checkpoint.prev.pt", weights_only=True)["step"]) == 0  # this run's step 0
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_from_a_truncated_checkpoint_falls_back_to_the_previous_one(digits, tmp_path, caplog):
    full = distill.run(digits, **TINY)
    out = tmp_path / "run"
    stopped_run(digits, out, at=3)
    truncate(out / "checkpoint.pt")
    with caplog.at_level(logging.WARNING, logger="dd_explore.distill.rundir"):
        res = distill.run(digits, out=out, resume=True, **TINY)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"checkpoint.pt in {out} is truncated or corrupt (torch.load:" in warning
    assert "resuming from checkpoint.prev.pt (step 2) instead" in warning
    # resumed exactly at step 2 and completed: the same result as the uninterrupted run
    assert res.steps_done == 4 and not res.stopped
    assert torch.equal(res.images, full.images)
    np.testing.assert_allclose(res.losses, full.losses)
    rec = load_run(out)
    assert rec.step == 4 and rec.checkpoint_step == 4
    np.testing.assert_array_equal(rec.event_steps, [1, 2, 3, 4])
    # the damaged file was not kept as the previous checkpoint: that is step 3's, written after the resume
    assert int(load_checkpoint(out)["step"]) == 4
    assert int(torch.load(out / "checkpoint.prev.pt", weights_only=True)["step"]) == 3


def test_both_checkpoints_damaged_is_a_clear_error(digits, tmp_path):
    out = tmp_path / "run"
    stopped_run(digits, out, at=3)
    truncate(out / "checkpoint.pt")
    (out / "checkpoint.prev.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError) as info:
        distill.run(digits, out=out, resume=True, **TINY)
    msg = str(info.value)
    assert f"cannot resume {out}: checkpoint.pt in {out} is truncated or corrupt (torch.load:" in msg
    assert "checkpoint.prev.pt, the checkpoint before it, is truncated or corrupt (torch.load:" in msg
    assert "overwrite=True" in msg


def test_incomplete_checkpoint_and_missing_previous_one(digits, tmp_path):
    out = tmp_path / "run"
    stopped_run(digits, out, at=1)
    (out / "checkpoint.prev.pt").unlink()
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    del state["sampler"], state["history"]
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"checkpoint.pt in .* is not a complete dd_explore checkpoint "
                                         r"\(missing keys: sampler, history\); checkpoint.prev.pt, the checkpoint "
                                         r"before it, is missing"):
        load_checkpoint(out)
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        load_checkpoint(tmp_path)


# ---------------------------------------------------------------------------- the run record
def test_load_run_names_a_damaged_file(digits, tmp_path, caplog):
    out = tmp_path / "run"
    distill.run(digits, out=out, **TINY)
    good = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def restore():
        for name, data in good.items():
            (out / name).write_bytes(data)

    (out / "config.json").write_text('{"format": "dd_explore.distill.run/1", "run": {')
    with pytest.raises(ValueError, match=r"config.json in .* is truncated or corrupt \(not readable JSON: JSONDecodeError"):
        load_run(out)
    restore()
    (out / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"config.json in .* is not a run configuration"):
        load_run(out)
    for name in ("synthetic.npz", "snapshots.npz", "importance.npz"):
        restore()
        truncate(out / name)
        with pytest.raises(ValueError, match=rf"{name} in .* is truncated or corrupt \(numpy.load: "):
            load_run(out)
    restore()
    np.savez(out / "snapshots.npz", steps=np.arange(2))
    with pytest.raises(ValueError, match=r"snapshots.npz in .* is incomplete \(missing arrays: images\)"):
        load_run(out)
    restore()
    (out / "metrics.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=r"metrics.json in .* is truncated or corrupt"):
        load_run(out)
    # a damaged checkpoint costs only checkpoint_step: the previous one's, with a warning
    restore()
    (out / "metrics.json").unlink()
    truncate(out / "checkpoint.pt")
    with caplog.at_level(logging.WARNING, logger="dd_explore.distill.rundir"):
        rec = load_run(out)
    assert rec.step == 4 and rec.checkpoint_step == 3 and "checkpoint.pt in" in caplog.text


def test_resume_with_damaged_snapshots_goes_on(digits, tmp_path, caplog):
    out = tmp_path / "run"
    stopped_run(digits, out, at=2)
    truncate(out / "snapshots.npz")
    with caplog.at_level(logging.WARNING, logger="dd_explore.distill.rundir"):
        res = distill.run(digits, out=out, resume=True, **TINY)
    assert res.steps_done == 4
    assert f"snapshots.npz in {out} is truncated or corrupt" in caplog.text
    assert "the snapshots before the resume are lost" in caplog.text
    rec = load_run(out)
    assert list(rec.snapshot_steps) == [0, 3, 4]  # step 0 (the initial images), then from the resume on


# ---------------------------------------------------------------------------- selections
def test_selection_load_names_a_damaged_file(digits, tmp_path):
    from dd_explore.selection import Selection, select

    sel = select(digits.train.images, digits.train.labels, 2, method="random", random_state=0)
    d = sel.save(tmp_path / "sel")
    assert sorted(p.name for p in d.iterdir()) == ["selection.npz", "summary.json"]
    np.testing.assert_array_equal(Selection.load(d).indices, sel.indices)
    good = {p.name: p.read_bytes() for p in d.iterdir()}

    truncate(d / "selection.npz")
    with pytest.raises(ValueError, match=r"selection.npz in .* is truncated or corrupt \(numpy.load: "):
        Selection.load(d)
    (d / "selection.npz").write_bytes(good["selection.npz"])
    (d / "summary.json").write_text(good["summary.json"].decode()[:40])
    with pytest.raises(ValueError, match=r"summary.json in .* is truncated or corrupt \(not readable JSON"):
        Selection.load(d)
    summary = json.loads(good["summary.json"])
    del summary["per_class_meta"]
    (d / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"summary.json in .* is not a complete selection summary \(KeyError: 'per_class_meta'\)"):
        Selection.load(d)


# ---------------------------------------------------------------------------- MTT expert buffers
def test_a_damaged_expert_buffer_is_trained_again(digits, tmp_path, caplog):
    kw = dict(ipc=1, steps=1, device="cpu", seed=0, expert_dir=str(tmp_path / "experts"), width=8, depth=2,
              num_experts=1, max_start_epoch=1, expert_epochs=1, syn_steps=2)
    first = distill.run(digits, "mtt", **kw)
    (path,) = (tmp_path / "experts").iterdir()
    good = path.read_bytes()
    truncate(path)
    with caplog.at_level(logging.WARNING):
        again = distill.run(digits, "mtt", **kw)
    assert f"MTT expert buffer {path.name} in {path.parent} is truncated or corrupt (torch.load:" in caplog.text
    assert "training the experts again and overwriting it" in caplog.text
    assert torch.equal(again.images, first.images)  # the same experts, trained again
    assert path.read_bytes() == good  # and written back whole
    # a readable file that does not hold this buffer (e.g. another one's content) is retrained too
    torch.save([[[torch.zeros(3)]]], path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        distill.run(digits, "mtt", **kw)
    assert "does not hold 1 expert trajectories of 3 parameter sets of this network" in caplog.text
    assert path.read_bytes() == good

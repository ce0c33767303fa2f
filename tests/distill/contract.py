"""The checks every registered distillation method gets (a new method gets them by one entry in
``conftest.SMALL``; ``test_toy_method.py`` shows it for a method registered by a test)."""

import numpy as np
import torch

from dd_explore import distill
from dd_explore.distill import load_run


def check_runs_on_cpu(method, batches, digits, options):
    """Runs with uniform or importance batches; draws only its own classes; moves the images; records steps."""
    seen = []
    extra = dict(refresh=2, probe_warmup_epochs=3) if batches == "importance" else {}
    res = distill.run(digits, method, ipc=2, init="random", batches=batches, steps=3, device="cpu", seed=0,
                      callbacks=[seen.append], **options, **extra)
    assert res.images.shape == (20, 1, 8, 8) and res.images.device.type == "cpu"
    assert torch.equal(res.labels, torch.arange(10).repeat_interleave(2))
    assert torch.isfinite(res.images).all() and np.isfinite(res.losses).all() and len(res.losses) == 3
    assert not torch.equal(res.images, res.initial_images)
    assert [i.step for i in seen] == [1, 2, 3] and all(i.method == method for i in seen)
    info = seen[-1]
    assert torch.equal(info.images, res.images) and info.images.requires_grad is False
    labels = digits.train.labels.numpy()
    for c, drawn in enumerate(info.drawn):
        assert len(drawn) > 0 and (labels[drawn] == c).all()
    if batches == "importance":
        assert info.importance is not None and len(info.importance) == 10
        assert all(1 <= s.ess <= s.n + 1e-6 and s.entropy_ratio <= 1 + 1e-9 for s in info.importance)
        assert seen[0].refreshed and not seen[1].refreshed and seen[2].refreshed
        assert seen[0].probe_time > 0 and res.probe_share > 0
    else:
        assert info.importance is None and res.probe_share == 0


def check_deterministic(method, digits, options):
    """The same seed gives the same set; another seed another."""
    kw = dict(ipc=1, init="noise", steps=2, device="cpu", **options)
    a = distill.run(digits, method, seed=1, **kw)
    b = distill.run(digits, method, seed=1, **kw)
    c = distill.run(digits, method, seed=2, **kw)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def check_resume_equals_uninterrupted(method, digits, tmp_path, options):
    """2 steps, then resumed to 4, equals 4 steps in one go (images, losses, draws, q_t)."""
    kw = dict(method=method, ipc=2, init="random", batches="importance", seed=3, device="cpu", refresh=1,
              probe_warmup_epochs=3, **options)
    full = distill.run(digits, steps=4, out=tmp_path / "full", **kw)
    distill.run(digits, steps=2, out=tmp_path / "r", **kw)
    resumed = distill.run(digits, steps=4, out=tmp_path / "r", resume=True, **kw)
    assert resumed.steps_done == 4
    assert torch.equal(resumed.images, full.images)
    np.testing.assert_array_equal(resumed.losses, full.losses)
    a, b = load_run(tmp_path / "full"), load_run(tmp_path / "r")
    np.testing.assert_array_equal(a.draw_counts, b.draw_counts)
    np.testing.assert_array_equal(a.q, b.q)
    assert [e["drawn"] for e in a.events] == [e["drawn"] for e in b.events]

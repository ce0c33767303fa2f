"""Protocol presets: the recorded fields are what the training loop did (spied), and the presets hold the
reference implementations' numbers."""

from __future__ import annotations

import math

import pytest
import torch

from dd_explore.evaluate import Protocol, evaluate, make_protocol
from dd_explore.evaluate.augmentations import DCAugment, DSAEval
from dd_explore.evaluate.presets import lr_drop_epoch

FAST = dict(model="mlp", model_kwargs={"width": 16}, progress=False, device="cpu")


def _set(ds, ipc, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([ds.train.class_indices(c)[torch.randperm(len(ds.train.class_indices(c)), generator=g)[:ipc]]
                     for c in range(10)])
    return ds.train.images[idx], ds.train.labels[idx]


def test_presets_hold_the_reference_numbers():
    plain, aug = make_protocol("plain", channels=1)
    assert aug is None and (plain.epochs, plain.lr_drop_epoch, plain.momentum_reset) == (300, 150, False)
    for name in ("dm", "dsa"):
        p, aug = make_protocol(name, channels=3)
        # evaluate_synset: range(Epoch + 1) with Epoch = 1000 -> 1001 passes; lr x0.1 after pass Epoch//2 + 1 = 501
        assert (p.epochs, p.lr_drop_epoch, p.momentum_reset) == (1001, 502, True)
        assert (p.lr, p.momentum, p.weight_decay, p.batch_size, p.model) == (0.01, 0.9, 5e-4, 256, "convnet")
        assert isinstance(aug, DSAEval) and p.augment == "dsa-eval:color_crop_cutout_flip_scale_rotate"
        assert p.augment_params["family"] == "one per batch" and p.augment_params["rotate"] == 15.0
    dc1, aug = make_protocol("dc", channels=1)
    assert isinstance(aug, DCAugment) and dc1.augment == "dc:crop_scale_rotate" and dc1.epochs == 1001
    assert (dc1.augment_params["crop"], dc1.augment_params["scale"], dc1.augment_params["rotate"]) == (4, 0.2, 45)
    dc3, aug = make_protocol("dc", channels=3)
    assert aug is None and dc3.epochs == 301 and dc3.augment is None
    bn, aug = make_protocol("dc", channels=3, model="convnet-bn")
    assert bn.augment == "dc:crop_noise" and bn.epochs == 1001
    # overrides are recorded, and the schedule's rule follows the new epochs
    p, _ = make_protocol("dm", channels=1, epochs=300, runs=3)
    assert (p.epochs, p.runs, p.lr_drop_epoch) == (300, 3, 151)
    assert lr_drop_epoch("reference", 2) is None and lr_drop_epoch("half", 1) is None


@pytest.mark.parametrize("preset", ["plain", "dm", "dc"])
def test_recorded_fields_match_what_the_loop_did(digits, preset, monkeypatch):
    """Spy on SGD steps (lr, momentum state) and on the augmentation: they follow the recorded protocol."""
    x, y = _set(digits, 4)  # 40 images
    steps, aug_calls = [], []
    real_step = torch.optim.SGD.step

    def spy_step(self, *a, **k):
        steps.append((self.param_groups[0]["lr"], len(self.state)))
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", spy_step)
    for cls in (DSAEval, DCAugment):
        real_call = cls.__call__

        def spy_call(self, xb, g, _real=real_call):
            aug_calls.append(xb.shape[0])
            return _real(self, xb, g)

        monkeypatch.setattr(cls, "__call__", spy_call)
    epochs, bs = 9, 16
    r = evaluate(x, y, digits.test, protocol=preset, runs=1, epochs=epochs, batch_size=bs, **FAST)
    p = r.protocol
    per_epoch = math.ceil(40 / bs)
    assert p.name == preset and p.epochs == epochs and p.batch_size == bs and p.runs == 1
    assert len(steps) == epochs * per_epoch
    drop = p.lr_drop_epoch
    assert drop == (epochs // 2 if preset == "plain" else (epochs - 1) // 2 + 2)
    lrs = [s[0] for s in steps]
    assert all(v == pytest.approx(p.lr) for v in lrs[: drop * per_epoch])
    assert all(v == pytest.approx(0.1 * p.lr) for v in lrs[drop * per_epoch:])
    state_at_drop = steps[drop * per_epoch][1]
    assert (state_at_drop == 0) == p.momentum_reset  # the reference's new optimizer: momentum buffers cleared
    assert p.momentum_reset == (preset != "plain")
    if p.augment is None:
        assert aug_calls == [] and preset == "plain"
    else:
        assert len(aug_calls) == len(steps) and sum(aug_calls) == epochs * 40  # every batch, every image
        assert p.augment.startswith({"dm": "dsa-eval:", "dc": "dc:"}[preset])


def test_a_recorded_protocol_reproduces_its_result(digits):
    x, y = _set(digits, 3)
    a = evaluate(x, y, digits.test, protocol="dm", runs=2, epochs=6, batch_size=16, seed=4, **FAST)
    b = evaluate(x, y, digits.test, protocol=Protocol(**a.protocol.to_dict()), progress=False, device="cpu")
    assert b.accuracies == a.accuracies and b.protocol == a.protocol
    c = evaluate(x, y, digits.test, protocol="dm", runs=2, epochs=6, batch_size=16, seed=4, augment="none", **FAST)
    assert c.protocol.augment is None and c.accuracies != a.accuracies


def test_dsa_eval_draws_one_family_per_batch(monkeypatch):
    from dd_explore.distill.augment import DSA

    seen = []
    real_apply = DSA.apply

    def spy(self, x, params, groups=None):
        seen.append(params.active.clone())
        return real_apply(self, x, params, groups)

    monkeypatch.setattr(DSA, "apply", spy)
    aug, g = DSAEval(), torch.Generator().manual_seed(0)
    families = set()
    for _ in range(40):
        out = aug(torch.randn(8, 1, 8, 8), g)
        assert out.shape == (8, 1, 8, 8)
        act = seen[-1]
        assert (act == act[0]).all() and int(act[0].sum()) == 1  # the same single family for the whole batch
        families.add(int(act[0].nonzero()))
    assert len(families) >= 4  # and it varies between batches


def test_dc_augment_is_seeded_and_keeps_shapes():
    x = torch.randn(64, 1, 28, 28)
    a = DCAugment()(x, torch.Generator().manual_seed(1))
    b = DCAugment()(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    n = DCAugment("noise")(x, torch.Generator().manual_seed(0))
    assert 0 < (n - x).abs().max() < 0.01
    c = DCAugment("crop")(torch.ones(4, 1, 8, 8), torch.Generator().manual_seed(0))
    assert c.shape == (4, 1, 8, 8) and torch.allclose(c, torch.ones_like(c))  # padded with the (constant) mean
    with pytest.raises(ValueError, match="dc strategy must be"):
        DCAugment("crop_flip")


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "mtt"}, r"protocol must be one of \['plain', 'dsa', 'dm', 'dc'\]"),
    ({"augment": "dsa"}, r"augment must be None \(the protocol's\), 'none' or a callable"),
    ({"model": "convnet", "models": ["mlp"]}, r"pass model or models, not both"),
    ({"models": ["mlp", "mlp"]}, r"models must be distinct; repeated: \['mlp'\]"),
    ({"models": ["mlp"], "model_kwargs": {"lenet": {}}}, r"model_kwargs names \['lenet'\]"),
    ({"temperature": 2.0}, r"temperature applies to teacher"),
    ({"zca": "yes"}, r"zca must be a fitted"),
])
def test_bad_protocol_arguments(digits, kwargs, match):
    x, y = _set(digits, 1)
    base = dict(progress=False, device="cpu", runs=1, epochs=1)
    if "models" not in kwargs and "model" not in kwargs:
        base["model"] = "mlp"
    with pytest.raises(ValueError, match=match):
        evaluate(x, y, digits.test, **{**base, **kwargs})

"""ZCA whitening: round trip, fitted on train and applied alike, saved with a run, never the wrong space."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from dd_explore.evaluate import ZCA, ZCADataset, evaluate, whiten_dataset
from dd_explore.evaluate.zca import ZCA_FILE, for_run

FAST = dict(model="mlp", model_kwargs={"width": 16}, runs=1, epochs=5, batch_size=16, device="cpu", progress=False)


def test_whitening_then_unwhitening_returns_the_images(digits):
    z = ZCA.fit(digits.train.images, 0.1, pixel_mean=digits.mean, pixel_std=digits.std, fitted_on="digits train")
    for split in (digits.train, digits.test):
        w = z.transform(split.images)
        assert w.shape == split.images.shape and w.dtype == torch.float32
        assert torch.allclose(z.inverse(w), split.images, atol=1e-5)
    # fitted on the training split: its whitened covariance is U diag(S / (S + eps)) U^T (eigenvalues < 1), centred
    w = z.transform(digits.train.images).reshape(len(digits.train), -1).double()
    assert w.mean(0).abs().max() < 1e-5
    eig = torch.linalg.eigvalsh(torch.cov(w.T))
    assert eig.max() < 1.0 and eig.max() > 0.5
    # the same fit again (and after a save/load) has the same checksum
    assert ZCA.fit(digits.train.images, 0.1, pixel_mean=digits.mean, pixel_std=digits.std).checksum == z.checksum


def test_save_load_and_damage(tmp_path, digits):
    z = ZCA.fit(digits.train.images[:300], 0.1)
    z.save(tmp_path / "z.pt")
    back = ZCA.load(tmp_path / "z.pt")
    assert back.checksum == z.checksum and torch.equal(back.matrix, z.matrix)
    (tmp_path / "bad.pt").write_bytes(b"not a zca")
    with pytest.raises(ValueError, match="not a readable ZCA file"):
        ZCA.load(tmp_path / "bad.pt")
    d = torch.load(tmp_path / "z.pt", weights_only=True)
    d["matrix"] = d["matrix"] * 2
    torch.save(d, tmp_path / "changed.pt")
    with pytest.raises(ValueError, match="do not match its recorded checksum"):
        ZCA.load(tmp_path / "changed.pt")
    with pytest.raises(ValueError, match="eps must be a positive number"):
        ZCA.fit(digits.train.images, 0.0)
    with pytest.raises(ValueError, match=r"images must have shape \(n, 1, 8, 8\)"):
        z.transform(torch.zeros(2, 1, 4, 4))


def test_whitened_dataset_and_evaluate_zca_agree(digits):
    wd = whiten_dataset(digits)
    assert isinstance(wd, ZCADataset) and wd.name == "digits+zca" and wd.describe()["zca"]["base"] == "digits"
    assert torch.allclose(wd.denormalize(wd.train.images[:5]), digits.denormalize(digits.train.images[:5]), atol=1e-5)
    with pytest.raises(ValueError, match="already ZCA-whitened"):
        whiten_dataset(wd)
    x, y = digits.train.images[:50], digits.train.labels[:50]
    a = evaluate(x, y, digits.test, zca=wd.zca, **FAST)  # evaluate whitens the set and the test split
    b = evaluate(wd.zca.transform(x), y, wd, **FAST)     # a set already whitened, the whitened data set's test split
    assert a.accuracies == b.accuracies
    assert a.protocol.zca["checksum"] == b.protocol.zca["checksum"] == wd.zca.checksum
    with pytest.raises(ValueError, match="test is already ZCA-whitened"):
        evaluate(x, y, wd, zca=wd.zca, **FAST)
    from dd_explore.evaluate import robust_scores

    s = robust_scores(wd.zca.transform(x), y, wd, protocol="plain", real_epochs=1, **{**FAST, "progress": False})
    assert all(t.protocol.zca["checksum"] == wd.zca.checksum for t in s.terms.values())  # every term in ZCA space


def test_a_run_distilled_in_zca_space_is_evaluated_in_it(digits, tmp_path, capsys):
    from dd_explore import distill
    from dd_explore.evaluate import command

    wd = whiten_dataset(digits)
    out = tmp_path / "run"
    distill.run(wd, "dm", ipc=1, steps=2, out=out, width=8, seed=0, overwrite=True,
                evaluate=dict(runs=1, epochs=2, model="mlp", initial=False))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["dataset"]["zca"]["checksum"] == wd.zca.checksum
    assert (out / ZCA_FILE).exists()  # saved with the run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["protocol"]["zca"]["checksum"] == wd.zca.checksum
    assert for_run(out).checksum == wd.zca.checksum
    (out / ZCA_FILE).unlink()  # without the file: refitted on the original data and checked
    assert for_run(out, digits).checksum == wd.zca.checksum
    # dd-explore evaluate --from RUN evaluates the set in its space: the same number as evaluating it on wd's test split
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    args = p.parse_args(["--dataset", "digits", "--from", str(out), "--model", "mlp", "--width", "16", "--runs", "1",
                         "--epochs", "5", "--batch-size", "16", "--device", "cpu", "--out", str(tmp_path / "e.json")])
    assert command.run(args) == 0
    assert "distilled in ZCA space" in capsys.readouterr().out
    rec = json.loads((tmp_path / "e.json").read_text())
    syn = torch.load(out / "synthetic.pt", weights_only=True)
    direct = evaluate(syn["images"], syn["labels"], wd, **FAST)
    assert rec["accuracies"] == list(direct.accuracies) and rec["protocol"]["zca"]["checksum"] == wd.zca.checksum
    with pytest.raises(ValueError, match="distilled in ZCA space"):
        command.run(p.parse_args(["--dataset", "digits", "--from", str(out), "--zca"]))
    # a config that records another space is refused
    cfg["run"]["dataset"]["zca"]["eps"] = 0.5
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="refusing to evaluate its set in another space"):
        for_run(out, digits)

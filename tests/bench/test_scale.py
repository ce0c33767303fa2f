"""The scale section on a tiny plan: every stage runs and is written; the synthetic images have class structure."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dd_explore.bench import scale, synthetic


def test_synthetic_images_are_balanced_seeded_and_classy():
    X, y = synthetic.make_images(400, num_classes=4, size=12, seed=0)
    assert X.shape == (400, 3, 12, 12) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [100] * 4
    X2, y2 = synthetic.make_images(400, num_classes=4, size=12, seed=0)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    # class means differ far more than the noise of a mean: a nearest-class-mean rule beats chance by far
    means = np.stack([X[y == c].reshape(100, -1).mean(0) for c in range(4)])
    Xt, yt = synthetic.make_images(200, num_classes=4, size=12, seed=1)
    d = ((Xt.reshape(200, 1, -1).astype(np.float64) - means[None]) ** 2).sum(-1)
    assert (d.argmin(1) == yt).mean() > 0.6


def test_tiny_scale_plan_runs_every_stage(tmp_path):
    plan = scale.ScalePlan("tiny", (300,), size=8, features=("pixels", "pca:8"), ipc=2, dm_width=8, dm_steps=2,
                           dm_importance_steps=3, run_dir_steps=6, run_dir_width=8, embedding="pca",
                           dashboard_steps=3, dashboard_width=8, kmeans_n=3000, kmeans_d=8, browser=False)
    rows = scale.run_scale(tmp_path, plan, device="cpu", command="dd-explore bench --only scale (test)")
    sections = {r["section"] for r in rows}
    assert sections == {"load", "features", "select", "distill", "embedding", "rundir", "report", "explorer",
                        "dashboard", "kmeans"}
    resident = next(r for r in rows if r["item"] == "resident data")
    assert "ratio" in resident["note"] and float(resident["note"].split("ratio ")[1].split("x")[0]) <= 1.5
    assert any(r["unit"] == "MiB peak RSS" for r in rows)
    size = next(r for r in rows if r["item"] == "report size")["value"]
    assert 3 < size < 30
    with open(tmp_path / "scale.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    md = (tmp_path / "scale.md").read_text()
    assert "## Run directory" in md and "dd-explore bench --only scale (test)" in md


def test_scale_command_line(tmp_path, capsys):
    from dd_explore import cli

    assert cli.main(["bench", "--only", "scale", "--out", str(tmp_path), "--dry-run"]) == 0
    assert "n [5000, 50000]" in capsys.readouterr().out
    assert cli.main(["bench", "--only", "scale", "--quick", "--out", str(tmp_path), "--dry-run"]) == 0
    assert "100,000 x 64" in capsys.readouterr().out
    assert cli.main(["bench", "--only", "scale", "--out", str(tmp_path), "--dataset", "digits"]) == 2
    assert "--only scale makes its own CIFAR-shaped data" in capsys.readouterr().err
    with pytest.raises(ValueError, match="scale plan must be quick, standard or complete"):
        scale.make_scale_plan("huge")

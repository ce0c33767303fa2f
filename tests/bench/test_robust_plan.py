"""The robust-scores bench: plans, a tiny real run on digits, resume, and the command's flags."""

from __future__ import annotations

import json

import pytest

from dd_explore.bench.robust import make_robust_plan, run_robust


def test_plans():
    cpu = make_robust_plan("robust")
    assert cpu.protocol == "dm" and len(cpu.models) == 3 and cpu.eval_epochs == 300 and cpu.real_epochs == 5
    keys = [c.key for c in cpu.cells]
    for ipc in (1, 10):
        for m in ("dm", "kip"):
            assert f"{m}/ipc{ipc}/random/uniform" in keys and f"{m}/ipc{ipc}/sensitivity-kmeans/importance" in keys
        assert f"coreset/herding/ipc{ipc}" in keys and f"coreset/random/ipc{ipc}" in keys
    full = make_robust_plan("robust-full")
    assert full.eval_epochs is None and full.eval_runs == 5 and full.seeds == (0, 1, 2, 3, 4)
    assert full.models == ("convnet", "vgg11", "resnet18") and full.fingerprint() != cpu.fingerprint()
    assert "reduced budgets" in cpu.describe() and "GPU" in full.describe()
    with pytest.raises(ValueError, match=r"ipc must be a non-empty subset of \[1, 10\]; got \[50\]"):
        make_robust_plan("robust", ipcs=[50])
    with pytest.raises(ValueError, match=r"model must be one of"):
        make_robust_plan("robust", models=["convnet", "vgg"])


def test_a_tiny_robust_bench_runs_and_resumes(digits, tmp_path):
    plan = make_robust_plan("robust", dataset="digits", ipcs=[1], methods=["kip"], steps=2, eval_epochs=2,
                            real_epochs=1, models=["mlp", "lenet"])
    out = tmp_path / "rb"
    r = run_robust(plan, out, dataset=digits, device="cpu", progress=False)
    assert r.computed == 4 and len(r.rows) == 8  # kip reference + full method + 2 coresets, x 2 models
    table = (out / "robust.md").read_text()
    assert "| mlp | KIP random / uniform |" in table and "| lenet | coreset herding |" in table
    row = json.loads((out / "robust_rows.json").read_text())[0]
    assert {"hlr", "ior", "lrs", "aug_diff", "naug_diff", "ars", "real_hard", "rdm_naug"} <= set(row)
    assert row["real_hard_epochs"] == 1 and row["syn_hard_epochs"] == 2
    evals = json.loads((out / "evals.json").read_text())
    assert len(evals) == 2 * 3  # per model: the whole split, the random subset with and without DSA (shared by the 4 sets)
    with pytest.raises(FileExistsError, match="pass --resume or --overwrite"):
        run_robust(plan, out, dataset=digits, device="cpu", progress=False)
    again = run_robust(plan, out, dataset=digits, device="cpu", progress=False, resume=True)
    assert again.computed == 0 and again.skipped == 4


def test_command_flags(tmp_path, capsys):
    from dd_explore.cli import main

    assert main(["bench", "--plan", "robust", "--out", str(tmp_path / "x"), "--dry-run", "--eval-models", "mlp,lenet",
                 "--ipc", "1"]) == 0
    text = capsys.readouterr().out
    assert "models ['mlp', 'lenet']" in text and "ipc10" not in text
    assert main(["bench", "--quick", "--out", str(tmp_path / "y"), "--dry-run", "--real-epochs", "3"]) == 2
    assert "apply to the robust plans only" in capsys.readouterr().err
    assert main(["bench", "--plan", "robust", "--out", str(tmp_path / "z"), "--dry-run", "--width", "8"]) == 2

"""``dd-explore select``: files written, validation before writing, --evaluate wiring."""

from __future__ import annotations

import argparse
import json
import sys
import types

import numpy as np
import pytest

from dd_explore.selection import Selection, command


def run_cli(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_select_on_digits_writes_the_selection(tmp_path, capsys):
    out = tmp_path / "sel"
    rc = run_cli(["--dataset", "digits", "--ipc", "3", "--method", "sensitivity-kmeans", "--seed", "0",
                  "--out", str(out), "--no-progress", "--param", "k=4"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["selection.npz", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "sensitivity-kmeans" and summary["ipc"] == 3 and summary["params"]["k"] == 4
    assert summary["dataset"]["name"] == "digits" and len(summary["per_class"]) == 10
    assert all(len(c["chosen"]) == 3 and len(c["cluster_sizes"]) == 4 for c in summary["per_class"])
    sel = Selection.load(out)
    assert sel.indices.shape == (30,) and sel.probabilities.shape == (1438,)
    with np.load(out / "selection.npz") as z:
        assert {"indices", "scores", "probabilities", "weights"} <= set(z.files)
    assert "class 0" in capsys.readouterr().out


def test_refuses_a_non_empty_out_and_validates_before_writing(tmp_path):
    out = tmp_path / "sel"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty; pass --overwrite"):
        run_cli(["--dataset", "digits", "--ipc", "2", "--out", str(out)])
    assert run_cli(["--dataset", "digits", "--ipc", "2", "--out", str(out), "--overwrite", "--no-progress"]) == 0
    fresh = tmp_path / "fresh"
    for argv, match in [
        (["--ipc", "0"], "--ipc must be a positive int"),
        (["--ipc", "500"], r"smallest class \(139 images in class 8\); got 500"),
        (["--ipc", "2", "--method", "nope"], "--method must be one of"),
        (["--ipc", "2", "--dataset", "nope"], "--dataset must be one of"),
        (["--ipc", "2", "--features", "hog"], "features must be"),
        (["--ipc", "2", "--param", "k"], "--param must be KEY=VALUE"),
        (["--ipc", "2", "--param", "z=1"], "options for method"),
    ]:
        with pytest.raises(ValueError, match=match):
            run_cli(["--dataset", "digits", "--out", str(fresh), *argv])
        assert not fresh.exists()


def test_evaluate_writes_metrics(tmp_path, monkeypatch):
    calls = {}

    class FakeResult:
        def to_dict(self):
            return {"mean": 0.5, "std": 0.0, "accuracies": [0.5]}

        def __str__(self):
            return "50.00 +- 0.00 %"

    def fake_evaluate(images, labels, test, **kw):
        calls.update(images=images, labels=labels, kw=kw)
        return FakeResult()

    monkeypatch.setitem(sys.modules, "dd_explore.evaluate", types.SimpleNamespace(evaluate=fake_evaluate))
    out = tmp_path / "sel"
    assert run_cli(["--dataset", "digits", "--ipc", "2", "--method", "herding", "--out", str(out), "--evaluate",
                    "--runs", "2", "--epochs", "3", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mean"] == 0.5 and metrics["method"] == "herding" and metrics["ipc"] == 2
    assert calls["images"].shape == (20, 1, 8, 8) and calls["kw"]["runs"] == 2 and calls["kw"]["epochs"] == 3
    sel = Selection.load(out)
    np.testing.assert_array_equal(calls["labels"].numpy(), sel.labels)


def test_cli_main_dispatches_select(tmp_path):
    cli = pytest.importorskip("dd_explore.cli")
    try:
        cli.build_parser()
    except ImportError as exc:  # another package's command module is not written yet
        pytest.skip(f"dd-explore parser cannot be built yet: {exc}")
    out = tmp_path / "sel"
    assert cli.main(["select", "--dataset", "digits", "--ipc", "2", "--method", "random", "--out", str(out),
                     "--no-progress"]) == 0
    assert (out / "selection.npz").is_file()
    assert cli.main(["select", "--dataset", "digits", "--ipc", "0", "--out", str(tmp_path / "x")]) == 2


def test_evaluate_with_the_real_protocol_on_a_tiny_budget(tmp_path):
    out = tmp_path / "sel"
    assert run_cli(["--dataset", "digits", "--ipc", "2", "--method", "random", "--out", str(out), "--evaluate",
                    "--runs", "1", "--epochs", "1", "--device", "cpu", "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["mean"] <= 1.0 and len(metrics["accuracies"]) == 1
    assert metrics["train_size"] == 20

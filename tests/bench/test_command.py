"""``dd-explore bench`` end to end on digits (real distillation and evaluation, tiny budgets), the speed
section, and bad command lines."""

from __future__ import annotations

import pytest

from dd_explore.cli import main
from dd_explore.bench.store import RESULT_COLUMNS, read_csv

TINY = ["--quick", "--dataset", "digits", "--methods", "dm", "kip", "--ipc", "1", "--seeds", "0", "1", "--steps", "2",
        "--eval-epochs", "2", "--width", "8", "--threads", "1", "--no-progress"]


def test_quick_bench_on_digits_writes_every_output(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--out", str(out), "--only", "ablation", *TINY]) == 0
    rows = read_csv(out / "results.csv")
    cells = {r["cell"] for r in rows}
    expected = {f"{m}/ipc1/{s}" for m in ("dm", "kip") for s in (
        "random/uniform", "sensitivity-kmeans/uniform", "random/importance", "random/importance-rw",
        "sensitivity-kmeans/importance")}
    expected |= {"dm/ipc1/random/uniform@equal-time", "dm/ipc1/random/uniform@lr-tuned"}  # quick: DM controls
    expected |= {"coreset/random/ipc1", "coreset/herding/ipc1", "coreset/kcenter/ipc1", "whole"}
    assert cells == expected and len(rows) == 2 * len(expected)
    assert set(rows[0]) == set(RESULT_COLUMNS)
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and len(r["accuracies"]) == 1 and r["dataset"] == "digits"
        if r["kind"] == "distill":
            assert r["steps_done"] >= 2 and float(r["distill_seconds"]) > 0
    # the paired comparison uses the same evaluation networks: the s-kmeans coreset differs from random
    table = (out / "table.md").read_text()
    assert "## IPC 1" in table and "## Whole training split" in table and "p (paired t)" in table
    assert table.count("| ref |") >= 3  # dm, kip, coreset references
    assert "dd-explore bench --quick" in table
    html = (out / "comparison.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "DM, IPC 1" in html and "KIP, IPC 1" in html
    assert "<script src=\"http" not in html and "plotly" in html.lower()  # self-contained
    assert "ablation:" in capsys.readouterr().out
    # again without --resume: refused; with --resume: nothing recomputed
    assert main(["bench", "--out", str(out), "--only", "ablation", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["bench", "--out", str(out), "--only", "ablation", "--resume", *TINY]) == 0
    assert "0 runs computed" in capsys.readouterr().out


def test_speed_section(tmp_path, digits):
    from dd_explore.bench import SpeedPlan, run_speed

    mtt = {"width": 8, "depth": 2, "lr_img": 100.0, "segment": "online", "num_experts": 1, "max_start_epoch": 1,
           "syn_steps": 2, "online_steps": 2, "batch_real": 4}
    plan = SpeedPlan("test", {"dm": (1, 3, {"width": 8, "dsa": False}), "kip": (1, 3, {}), "mtt": (1, 2, mtt),
                              "mtt:recompute": (1, 2, dict(mtt, meta_grad="recompute")),
                              "dm:bf16": (1, 3, {"width": 8, "dsa": False, "precision": "bf16"})},
                     (600,), 8, 600, 16, (2_000,), 8, 3, 1, "importance", {"width": 8}, evaluation=(2, 2, 2))
    rows = run_speed(tmp_path, plan, dataset=digits, device="cpu", progress=False)
    sections = {r["section"] for r in rows}
    assert sections == {"distill", "limit", "evaluation", "select-vs-n", "kmeans-vs-sklearn", "kmeans-scaling",
                        "dashboard"}
    ev = {(r["item"], r["unit"]): r for r in rows if r["section"] == "evaluation"}
    modes = ("one by one, plain layout", "one by one, layout auto", "batched (vmap)", "layout auto, bf16")
    assert all("mean accuracy" in ev[(k, "s")]["note"] for k in modes)
    assert ev[("batched / plain", "ratio")]["value"] == pytest.approx(
        ev[("batched (vmap)", "s")]["value"] / ev[("one by one, plain layout", "s")]["value"])
    assert ev[("layout auto / plain", "ratio")]["value"] == pytest.approx(
        ev[("one by one, layout auto", "s")]["value"] / ev[("one by one, plain layout", "s")]["value"])
    assert ev[("bf16 / plain", "ratio")]["value"] == pytest.approx(
        ev[("layout auto, bf16", "s")]["value"] / ev[("one by one, plain layout", "s")]["value"])
    assert ev[("FLOPs", "GFLOP per network")]["value"] > 0 and ev[("layout auto / limit", "x the limit")]["value"] > 0
    limit = {(r["item"], r["unit"]): r["value"] for r in rows if r["section"] == "limit"}
    assert limit[("machine", "GFLOP/s")] > 0
    for label in ("dm", "kip", "mtt", "mtt:recompute", "dm:bf16"):
        assert limit[(label, "GFLOP per step")] > 0 and limit[(label, "x the limit (s/step / (FLOPs / throughput))")] > 0
    from dd_explore.selection import list_methods

    assert {r["item"] for r in rows if r["section"] == "select-vs-n"} == set(list_methods())
    ratio = [r for r in rows if r["item"] == "ratio ours/sklearn"][0]["value"]
    assert ratio > 0
    probe = [r for r in rows if r["section"] == "distill" and r["unit"] == "probe share of step time"]
    assert len(probe) == 5 and all(0 <= r["value"] <= 1 for r in probe)
    assert {r["item"] for r in rows if r["section"] == "distill"} == {"dm", "kip", "mtt", "mtt:recompute", "dm:bf16"}
    assert any(r["unit"] == "MiB peak RSS" and r["value"] > 0 for r in rows)
    dash = {r["item"]: r for r in rows if r["section"] == "dashboard"}
    assert dash["time in dashboard hooks"]["value"] > 0 and "LiveDashboard" in dash["run with dashboard"]["note"]
    assert (tmp_path / "speed.md").read_text().count("## ") == 7
    assert len(read_csv(tmp_path / "speed.csv")) == len(rows)


@pytest.mark.parametrize("argv, message", [
    (["--quick", "--plan", "standard"], "--quick means --plan quick"),
    (["--methods", "foo"], "unknown distillation method"),
    (["--quick", "--ipc", "50"], "ipc \\[50\\] not in the 'quick' plan"),
    (["--quick", "--methods", "dc"], "not in the 'quick' plan"),
    (["--only", "speed", "--seeds", "1"], "--seeds apply to the ablation only"),
    (["--quick", "--steps", "0"], "steps must be a positive int"),
    (["--quick", "--seeds", "2", "2"], "distinct"),
    (["--quick", "--threads", "0"], "--threads must be a positive int"),
    (["--scaleout-nproc", "2"], "--scaleout-nproc applies to --only scaleout only"),
    (["--only", "scaleout", "--scaleout-nproc", "1"], "--scaleout-nproc must be an int >= 2 .* got 1"),
    (["--only", "scaleout", "--methods", "dm"], "--only scaleout runs DM"),
    (["--only", "scaleout", "--steps", "3"], "--steps apply to the ablation only"),
])
def test_bad_command_lines(tmp_path, capsys, argv, message):
    import re

    assert main(["bench", "--out", str(tmp_path / "b"), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "b").exists()  # nothing written


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    with pytest.raises(SystemExit):
        main(["bench", "--out", str(tmp_path), "--resume", "--overwrite"])


def test_dry_run_prints_the_plan(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path / "b"), "--quick", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "plan 'quick' on mnist5k" in out and "estimate: about" in out and "speed section" in out
    assert not (tmp_path / "b").exists()


def test_scaleout_dry_run_prints_the_plan(tmp_path, capsys):
    argv = ["bench", "--out", str(tmp_path / "b"), "--only", "scaleout", "--quick", "--dataset", "digits"]
    assert main(argv + ["--scaleout-nproc", "3", "--threads", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "scaleout: digits; DM ipc 2, 3 steps" in out and "3 processes x 1 thread(s)" in out
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("section", ["scale", "scaleout"])
def test_an_earlier_section_csv_is_kept_or_refused(tmp_path, capsys, section):
    (tmp_path / f"{section}.csv").write_text("earlier\n")
    argv = ["bench", "--out", str(tmp_path), "--only", section, "--quick"]
    assert main(argv) == 2 and "pass --overwrite (measure again) or --resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0 and "kept the existing" in capsys.readouterr().out
    assert (tmp_path / f"{section}.csv").read_text() == "earlier\n"

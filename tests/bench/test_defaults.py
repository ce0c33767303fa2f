"""``dd-explore bench --plan defaults*``: every cell a recorded ``dd-explore distill --evaluate`` command, the
table's numbers read back from each run's metrics, the guard's verdict, resume, bad command lines."""

from __future__ import annotations

import pytest

from dd_explore.bench.defaults import _row, make_defaults_plan
from dd_explore.bench.store import read_csv
from dd_explore.cli import main


def test_quick_defaults_plan_on_digits(tmp_path, capsys):
    import json

    out = tmp_path / "d"
    argv = ["bench", "--plan", "defaults-quick", "--methods", "dm", "kip", "--out", str(out), "--threads", "1",
            "--no-progress"]
    assert main(argv) == 0
    rows = read_csv(out / "defaults.csv")
    assert [(r["method"], r["batches"]) for r in rows] == [
        ("dm", "uniform"), ("dm", "importance"), ("kip", "uniform"), ("kip", "importance")]
    for r in rows:
        run = out / f"digits-ipc1-{r['method']}-{r['batches']}"
        metrics = json.loads((run / "metrics.json").read_text())
        assert float(r["initial"]) == metrics["initial"]["mean"] and float(r["distilled"]) == metrics["final"]["mean"]
        assert int(r["steps"]) == 2 and r["eval"] == "plain, 2 x 2 epochs" and r["guard"] in ("ok", "warned")
        assert f"--out {run}" in r["command"] and "--steps 2" in r["command"] and r["command"].startswith(
            "OMP_NUM_THREADS=1 dd-explore distill --dataset digits")
    # one init per (data set, ipc): the same initial accuracy in every cell
    assert len({r["initial"] for r in rows}) == 1
    # ... evaluated once: the other cells read it from the plan's evaluation cache (one file per evaluation)
    cached = [json.loads((out / f"digits-ipc1-{r['method']}-{r['batches']}" / "metrics.json").read_text())["initial"]
              .get("cached", False) for r in rows]
    assert cached == [False, True, True, True] and len(list((out / "eval-cache").glob("*.json"))) == 5
    md = (out / "defaults.md").read_text()
    assert md.count("| digits | 1 |") == 4 and "--plan defaults-quick" in md
    assert "4 cells" in capsys.readouterr().out
    # a second call is refused; --resume keeps every finished cell (no new runs: no seconds)
    assert main(argv) == 2 and "pass --resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0
    again = read_csv(out / "defaults.csv")
    assert [r["distilled"] for r in again] == [r["distilled"] for r in rows]
    assert all(float(r["seconds"]) != float(r["seconds"]) for r in again)  # nan: not run again


def test_resume_continues_a_cell_from_its_checkpoint(tmp_path):
    """A cell that ended short of the plan's steps (interrupted, or run with fewer) continues from its last
    checkpoint under --resume: its first steps are not run again, its initial evaluation is kept."""
    import json
    import subprocess
    import sys

    from dd_explore.bench.defaults import cell_command

    out = tmp_path / "d"
    plan = make_defaults_plan("defaults-quick", methods=["dm"])
    cell = plan.cells()[0]
    run = out / f"digits-ipc1-dm-{cell['batches']}"
    args = cell_command(plan, cell, run)
    args[args.index("--steps") + 1] = "1"
    subprocess.run([sys.executable, "-m", "dd_explore", *args], check=True, capture_output=True,
                   env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    first = (run / "events.jsonl").read_text().splitlines()
    initial = json.loads((run / "metrics.json").read_text())["initial"]
    assert len(first) == 1
    argv = ["bench", "--plan", "defaults-quick", "--methods", "dm", "--out", str(out), "--threads", "1",
            "--no-progress", "--resume"]
    assert main(argv) == 0
    events = (run / "events.jsonl").read_text().splitlines()
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(events) == 2 and events[0] == first[0]  # step 1 kept as it was (its timings too), step 2 added
    assert metrics["final"]["step"] == 2 and metrics["initial"] == initial
    assert [int(r["steps"]) for r in read_csv(out / "defaults.csv")] == [2, 2]


def test_guard_verdict_reads_the_final_evaluation():
    plan = make_defaults_plan("defaults-quick", methods=["dm"])
    ev = lambda m: {"mean": m, "std": 0.01, "protocol": {"name": "plain", "runs": 2, "epochs": 2}}  # noqa: E731
    cell = {"dataset": "digits", "ipc": 1, "method": "dm", "batches": "uniform"}
    good = {"initial": ev(0.5), "final": {**ev(0.6), "step": 2}}
    assert _row(plan, cell, good, 2, 1.0, "cmd")["guard"] == "ok"
    bad = {"initial": ev(0.5), "final": {**ev(0.3), "step": 2},
           "warnings": [{"step": 2, "budget": "final", "message": "worse"}]}
    row = _row(plan, cell, bad, 2, 1.0, "cmd")
    assert row["guard"] == "warned" and row["gain"] == pytest.approx(-0.2)
    # a warning at an earlier evaluation, recovered by the end, does not mark the final set
    recovered = {**good, "warnings": [{"step": 1, "budget": "final", "message": "worse"}]}
    assert _row(plan, cell, recovered, 2, 1.0, "cmd")["guard"] == "ok"
    mtt = _row(plan, {**cell, "method": "mtt", "batches": "importance"}, good, 2, 1.0, "cmd")
    assert mtt["batches"] == "importance (segment=online)"


def test_cells_share_one_evaluation_cache(tmp_path):
    from dd_explore.bench.defaults import cell_command

    plan = make_defaults_plan("defaults", methods=["dm", "dc", "mtt"])
    folders = set()
    for cell in plan.cells():
        args = cell_command(plan, cell, tmp_path / f"{cell['method']}-{cell['ipc']}-{cell['batches']}")
        folders.add(args[args.index("--eval-cache") + 1])
    assert folders == {str(tmp_path / "eval-cache")}


def test_mtt_cells_share_one_expert_buffer_folder(tmp_path):
    from dd_explore.bench.defaults import cell_command

    plan = make_defaults_plan("defaults", datasets=["digits"], methods=["mtt", "dm"])
    folders = set()
    for cell in plan.cells():
        args = cell_command(plan, cell, tmp_path / f"{cell['method']}-{cell['ipc']}-{cell['batches']}")
        if cell["method"] == "mtt":
            folders.add(args[args.index("--expert-dir") + 1])
        else:
            assert "--expert-dir" not in args
    assert folders == {str(tmp_path / "mtt-experts")}


def test_plans_and_overrides():
    full = make_defaults_plan("defaults-full")
    assert full.steps_of("dc", 10) is None and set(full.datasets) == {"digits", "mnist5k"}
    cpu = make_defaults_plan("defaults", datasets=["digits"], ipcs=[10], steps=5)
    assert cpu.datasets == ("digits",) and {cpu.steps_of(m, 10) for m in cpu.methods} == {5}
    assert len(cpu.cells()) == 2 * len(cpu.methods)


@pytest.mark.parametrize("argv, message", [
    (["--plan", "defaults", "--dataset", "cifar10"], "--dataset \\['cifar10'\\] not in the 'defaults' plan"),
    (["--plan", "defaults", "--ipc", "50"], "--ipc \\[50\\] not in the 'defaults' plan"),
    (["--plan", "defaults", "--only", "speed"], "--only do not apply to the defaults plans"),
    (["--plan", "defaults", "--seeds", "1"], "--seeds do not apply"),
    (["--plan", "defaults", "--steps", "0"], "--steps must be a positive int; got 0"),
])
def test_bad_command_lines(tmp_path, capsys, argv, message):
    import re

    assert main(["bench", "--out", str(tmp_path / "b"), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "b").exists()

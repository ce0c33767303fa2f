"""``dd-explore distill``: writes a valid run directory; validates before writing."""

import argparse

import pytest
import torch

from dd_explore.distill import command, load_run


def cli(argv):
    """Run ``dd-explore distill ARGV`` through the real CLI when every subcommand imports, else this one."""
    try:
        from dd_explore.cli import main

        return main(["distill", *argv])
    except ModuleNotFoundError:  # another package's command not written yet
        p = argparse.ArgumentParser()
        command.add_arguments(p)
        try:
            return command.run(p.parse_args(argv))
        except (ValueError, FileExistsError, FileNotFoundError):
            return 2


def test_cli_writes_a_valid_run_directory_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--dataset", "digits", "--method", "dm", "--ipc", "1", "--init", "random", "--batches", "importance",
            "--seed", "0", "--out", str(out), "--width", "8", "--depth", "2", "--lr-img", "0.5",
            "--param", "probe_warmup_epochs=2", "--refresh", "2", "--no-progress"]
    assert cli(base + ["--steps", "3", "--evaluate", "--eval-runs", "1", "--eval-epochs", "2"]) == 0
    assert "dm: done at step 3/3" in capsys.readouterr().out
    rec = load_run(out)
    assert rec.step == 3 and rec.config["run"]["method_options"]["lr_img"] == 0.5
    assert rec.config["run"]["importance"]["probe_warmup_epochs"] == 2 and rec.metrics["final"]["step"] == 3
    assert torch.load(out / "synthetic.pt", weights_only=True)["images"].shape == (10, 1, 8, 8)
    # a second run into the same folder is refused; --resume continues
    assert cli(base + ["--steps", "5"]) == 2
    assert load_run(out).step == 3
    assert cli(base + ["--steps", "5", "--resume", "--evaluate", "--eval-runs", "1", "--eval-epochs", "2",
                       "--no-eval-initial"]) == 0
    rec = load_run(out)
    assert rec.step == 5 and rec.metrics["final"]["step"] == 5 and rec.metrics["initial"]["step"] == 0


def test_cli_final_evaluation_only(tmp_path):
    out = tmp_path / "f"
    assert cli(["--dataset", "digits", "--method", "kip", "--ipc", "1", "--steps", "2", "--out", str(out),
                "--evaluate", "--eval-runs", "1", "--eval-epochs", "2", "--no-eval-initial", "--no-progress"]) == 0
    m = load_run(out).metrics
    assert "initial" not in m and m["final"]["step"] == 2


@pytest.mark.parametrize("argv", [
    ["--method", "frepo"], ["--init", "best"], ["--steps", "0"], ["--lr-img", "-1"], ["--ipc", "1000"],
    ["--eval-runs", "0", "--evaluate"], ["--param", "nokey"], ["--param", "colour=1"],
])
def test_cli_bad_input_writes_nothing(tmp_path, argv):
    out = tmp_path / "bad"
    assert cli(["--dataset", "digits", "--ipc", "1", "--steps", "2", "--out", str(out), "--no-progress", *argv]) == 2
    assert not out.exists()


def test_sigterm_leaves_a_checkpoint_of_the_last_step(tmp_path):
    """``kill`` on a running ``dd-explore distill``: the final checkpoint matches the recorded events."""
    import subprocess
    import sys
    import time

    out = tmp_path / "t"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dd_explore.cli", "distill", "--dataset", "digits", "--method", "dm", "--ipc", "1",
         "--steps", "100000", "--width", "8", "--depth", "2", "--out", str(out), "--checkpoint-every", "100000",
         "--no-progress"], env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            events = out / "events.jsonl"
            if events.exists() and events.read_text().count("\n") >= 3:
                break
            time.sleep(0.2)
        proc.terminate()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    rec = load_run(out)
    assert rec.checkpoint_step == rec.step == len(rec.events) >= 3

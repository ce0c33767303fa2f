"""Runs under ``torchrun`` (gloo, 2 processes on the CPU) equal the one-process run; a checkpoint written by
2 processes resumes in 1; a rank that dies ends the run with the checkpoint intact."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dd_explore import distill
from dd_explore.distill import load_run
from dd_explore.distill.rundir import load_checkpoint

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

ENV = dict(os.environ, OMP_NUM_THREADS="1", DD_EXPLORE_DIST_TIMEOUT="60", PYTHONUNBUFFERED="1")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "dd_explore"]
NET = {"width": 8, "depth": 2}


def flags(options: dict) -> list[str]:
    out = []
    for k, v in options.items():
        out += [f"--param", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
    return out


def torchrun(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    res = subprocess.run(TORCHRUN + args, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


CASES = {
    "dm-uniform": ("dm", "uniform", dict(NET)),
    "dm-importance": ("dm", "importance", dict(NET, refresh=2, probe_warmup_epochs=2, probe_width=8)),
    "dc-importance": ("dc", "importance", dict(NET, outer_loop=2, inner_loop=2, batch_real=16, batch_train=16,
                                               lr_img=0.03, probe_width=8)),
    "dsa-uniform": ("dsa", "uniform", dict(NET, outer_loop=2, inner_loop=1, batch_real=16, batch_train=16, lr_img=0.03)),
    "kip-uniform": ("kip", "uniform", {}),
    "mtt-online": ("mtt", "uniform", dict(NET, lr_img=100.0, num_experts=3, max_start_epoch=2, expert_epochs=1,
                                          syn_steps=2, segment="online", online_steps=2, batch_real=8)),
}


@pytest.fixture
def one_thread():
    """The one-process run on one thread, as each rank (``OMP_NUM_THREADS=1``): the same float reduction order
    (with two threads, MTT's 270 expert steps drifted by 2e-5 from the ranks')."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_equal_one(case, digits, tmp_path, one_thread):
    method, batches, options = CASES[case]
    one = distill.run(digits, method, ipc=2, init="random", batches=batches, steps=3, seed=0, device="cpu",
                      out=tmp_path / "one", **options)
    torchrun(["distill", "--dataset", "digits", "--method", method, "--ipc", "2", "--init", "random", "--batches",
              batches, "--steps", "3", "--seed", "0", "--device", "cpu", "--out", str(tmp_path / "two"),
              "--no-progress", *flags(options)])
    a, b = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    # classes (or kernel rows, experts) split across the ranks; float sums in another order only for KIP
    np.testing.assert_allclose(b.images, a.images, rtol=0, atol=1e-5)
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-5)
    assert [e["drawn"] for e in a.events] == [e["drawn"] for e in b.events]
    np.testing.assert_array_equal(a.draw_counts, b.draw_counts)
    if batches == "importance":
        np.testing.assert_allclose(b.q, a.q, rtol=1e-5, atol=1e-7)
    assert torch.allclose(one.images, torch.as_tensor(b.images), atol=1e-5)
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert "checkpoint.pt" in names and not any(n.startswith(".") for n in names)  # one writer, no temp files


def test_selection_and_evaluation_split_equal_one_process(tmp_path):
    common = ["--dataset", "digits", "--ipc", "3", "--method", "sensitivity-kmeans", "--seed", "1", "--evaluate",
              "--runs", "3", "--epochs", "5", "--device", "cpu", "--no-progress"]
    subprocess.run([sys.executable, "-m", "dd_explore", "select", *common, "--out", str(tmp_path / "one")], env=ENV,
                   check=True, capture_output=True)
    res = torchrun(["select", *common, "--out", str(tmp_path / "two")])
    assert res.stdout.count("selected 30 images") == 1  # one report: rank 0's
    a, b = np.load(tmp_path / "one" / "selection.npz"), np.load(tmp_path / "two" / "selection.npz")
    for key in ("indices", "probabilities", "scores", "weights"):
        np.testing.assert_array_equal(a[key], b[key])
    import json

    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    np.testing.assert_allclose(mb["accuracies"], ma["accuracies"], atol=1e-9)  # runs split, seeds per run


def test_convnet_features_split_across_ranks_equal_one_process(tmp_path):
    """Random-ConvNet features are embedded by blocks of batches on each rank and summed: the selection
    (probabilities and scores included) is bit-identical to one process."""
    common = ["--dataset", "digits", "--ipc", "3", "--method", "sensitivity-kmeans", "--features", "convnet",
              "--seed", "2", "--device", "cpu", "--no-progress"]
    subprocess.run([sys.executable, "-m", "dd_explore", "select", *common, "--out", str(tmp_path / "one")], env=ENV,
                   check=True, capture_output=True)
    torchrun(["select", *common, "--out", str(tmp_path / "two")])
    a, b = np.load(tmp_path / "one" / "selection.npz"), np.load(tmp_path / "two" / "selection.npz")
    for key in ("indices", "probabilities", "scores", "weights"):
        np.testing.assert_array_equal(a[key], b[key])


def test_two_process_checkpoint_resumes_in_one(digits, tmp_path):
    method, batches, options = CASES["dm-importance"]
    kw = dict(ipc=2, init="random", batches=batches, seed=0, device="cpu", **options)
    full = distill.run(digits, method, steps=4, out=tmp_path / "full", **kw)
    torchrun(["distill", "--dataset", "digits", "--method", method, "--ipc", "2", "--batches", batches, "--steps", "2",
              "--seed", "0", "--device", "cpu", "--out", str(tmp_path / "r"), "--no-progress", *flags(options)])
    resumed = distill.run(digits, method, steps=4, out=tmp_path / "r", resume=True, **kw)
    assert resumed.steps_done == 4
    torch.testing.assert_close(resumed.images, full.images, rtol=0, atol=1e-5)
    a, b = load_run(tmp_path / "full"), load_run(tmp_path / "r")
    assert [e["drawn"] for e in a.events] == [e["drawn"] for e in b.events]


def _rank_pids(parent: int) -> dict[int, int]:
    """RANK -> pid of torchrun's worker processes."""
    out = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            if int(fields.get("PPid", "0").strip()) != parent:
                continue
            env = (status.parent / "environ").read_bytes().split(b"\0")
            rank = next((int(e.split(b"=", 1)[1]) for e in env if e.startswith(b"RANK=")), None)
            if rank is not None:
                out[rank] = int(status.parent.name)
        except (OSError, ValueError):
            continue
    return out


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the ranks")
def test_killing_one_rank_ends_the_run_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "k"
    proc = subprocess.Popen(TORCHRUN + ["distill", "--dataset", "digits", "--method", "dm", "--ipc", "2", "--steps",
                                        "100000", "--checkpoint-every", "1", "--device", "cpu", "--out", str(out),
                                        "--no-progress", "--width", "8", "--depth", "2"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "checkpoint.prev.pt").exists():
            time.sleep(0.5)
        assert (out / "checkpoint.prev.pt").exists(), "the run made no checkpoints"
        ranks = {}
        while time.monotonic() < deadline and 1 not in ranks:
            ranks = _rank_pids(proc.pid)
        os.kill(ranks[1], signal.SIGKILL)
        t0 = time.monotonic()
        log, _ = proc.communicate(timeout=150)
        ended = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and ended < 150, log[-2000:]
    state = load_checkpoint(out)  # intact (or its kept predecessor)
    step = int(state["step"])
    assert step >= 1
    res = distill.run("digits", "dm", ipc=2, steps=step + 2, out=out, resume=True, device="cpu",
                      checkpoint_every=1, **NET)  # resumes with one process
    assert res.steps_done == step + 2 and not res.stopped


def test_scaleout_bench_runs_both_layouts(tmp_path):
    """``dd-explore bench --only scaleout --quick``: every task in both layouts, the N-process DM run's
    communication share read from its events, the command recorded."""
    from dd_explore.bench.store import read_csv

    out = tmp_path / "so"
    cmd = [sys.executable, "-m", "dd_explore", "bench", "--only", "scaleout", "--quick", "--dataset", "digits",
           "--threads", "2", "--out", str(out)]
    # a generous collective timeout: this test is about the bench, not about a dead rank (a loaded CI machine
    # can keep one rank from a collective for a while)
    env = dict(ENV, DD_EXPLORE_DIST_TIMEOUT="600")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = read_csv(out / "scaleout.csv")
    assert [(r["task"], r["layout"]) for r in rows] == [
        (t, l) for t in ("DM run", "evaluation", "selection") for l in ("1 process x 2 threads", "2 processes x 1 thread")]
    dm = [r for r in rows if r["task"] == "DM run"]
    assert all(float(r["wall_s"]) > 0 and float(r["s_per_step"]) > 0 for r in dm)
    assert 0 < float(dm[1]["comm_share"]) < 1 and float(dm[0]["comm_share"]) == 0  # one process: no collectives
    md = (out / "scaleout.md").read_text()
    assert "dd-explore bench --quick --out" in md and "--only scaleout" in md and md.count("| DM run |") == 2


def test_ranks_agree_on_a_cached_evaluation(tmp_path):
    """Rank 0 looks the evaluation up and every rank follows its answer: the second run reads the initial
    evaluation back on both ranks (no rank trains while the other waits) and gets the first run's result."""
    import json

    cache = tmp_path / "cache"
    common = ["distill", "--dataset", "digits", "--method", "dm", "--ipc", "2", "--seed", "0", "--device", "cpu",
              "--evaluate", "--eval-runs", "2", "--eval-epochs", "2", "--eval-cache", str(cache), "--no-progress",
              *flags(NET)]
    torchrun(common + ["--steps", "2", "--out", str(tmp_path / "a")])
    assert len(list(cache.glob("*.json"))) == 2  # one writer: initial and final
    torchrun(common + ["--steps", "3", "--out", str(tmp_path / "b")])
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("a", "b"))
    assert b["initial"]["cached"] is True and b["initial"]["accuracies"] == a["initial"]["accuracies"]
    assert "cached" not in b["final"] and len(list(cache.glob("*.json"))) == 3

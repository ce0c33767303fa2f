"""Scale out: the same DM run, evaluation and selection as 1 process x T threads and as N processes x T/N
threads (``torch.distributed.run``, gloo on CPUs), side by side, with the communication share of a DM
step (seconds in collectives / step seconds, from the N-process run's ``events.jsonl``).

Each measurement is a fresh subprocess (``python -m dd_explore ...``), so thread settings and peak memory
are its own. Writes ``scaleout.csv`` and ``scaleout.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dd_explore._io import write_text
from dd_explore.bench.store import write_csv

COLUMNS = ("task", "layout", "wall_s", "s_per_step", "comm_share", "command")


@dataclass(frozen=True)
class ScaleoutPlan:
    """``dataset``; the DM run (``ipc``, ``steps``); the evaluation (``eval_runs`` x ``eval_epochs`` at
    ``ipc``); the selection (``select_method`` at ``ipc``); ``nproc`` processes against one process with
    ``threads`` threads (each process gets threads / nproc)."""

    dataset: str = "mnist5k"
    ipc: int = 10
    steps: int = 20
    eval_runs: int = 4
    eval_epochs: int = 20
    select_method: str = "sensitivity-kmeans"
    select_features: str = "convnet"
    nproc: int = 2
    threads: int = 2

    def describe(self) -> str:
        per = max(1, self.threads // self.nproc)
        return (f"scaleout: {self.dataset}; DM ipc {self.ipc}, {self.steps} steps; evaluation {self.eval_runs} networks x "
                f"{self.eval_epochs} epochs; selection {self.select_method} ({self.select_features} features); "
                f"1 process x {self.threads} threads against {self.nproc} processes x {per} thread(s), gloo")


def make_scaleout_plan(name: str = "standard", *, dataset: str = "mnist5k", nproc: int | None = None,
                       threads: int | None = None) -> ScaleoutPlan:
    """The scale-out plan of a bench plan name: ``quick`` (a few seconds of work per task, a smoke test) or any
    other (the measured one). ``nproc`` >= 2 processes against one process with ``threads`` >= 1 threads."""
    for flag, value, least in (("--scaleout-nproc", nproc, 2), ("--threads", threads, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ValueError(f"{flag} must be an int >= {least} for the scale-out bench; got {value!r}")
    kw = dict(dataset=dataset)
    if nproc is not None:
        kw["nproc"] = nproc
    if threads is not None:
        kw["threads"] = threads
    if name == "quick":
        kw.update(ipc=2, steps=3, eval_runs=2, eval_epochs=2, select_features="pixels")
    return ScaleoutPlan(**kw)


def _layouts(plan: ScaleoutPlan) -> list[tuple[str, list[str], dict]]:
    one = (f"1 process x {plan.threads} threads", [sys.executable, "-m", "dd_explore"],
           {"OMP_NUM_THREADS": str(plan.threads)})
    per = max(1, plan.threads // plan.nproc)
    many = (f"{plan.nproc} processes x {per} thread{'s' if per > 1 else ''}",
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(plan.nproc), "-m",
             "dd_explore"], {"OMP_NUM_THREADS": str(per)})
    return [one, many]


def _tasks(plan: ScaleoutPlan, out: Path, tag: str) -> list[tuple[str, list[str], Path | None]]:
    run_dir = out / f"dm-{tag}"
    return [
        ("DM run", ["distill", "--dataset", plan.dataset, "--method", "dm", "--ipc", str(plan.ipc), "--steps",
                    str(plan.steps), "--seed", "0", "--device", "cpu", "--out", str(run_dir), "--overwrite",
                    "--no-progress"], run_dir),
        ("evaluation", ["evaluate", "--dataset", plan.dataset, "--ipc", str(plan.ipc), "--runs", str(plan.eval_runs),
                        "--epochs", str(plan.eval_epochs), "--device", "cpu"], None),
        ("selection", ["select", "--dataset", plan.dataset, "--ipc", str(plan.ipc), "--method", plan.select_method,
                       "--features", plan.select_features, "--device", "cpu", "--out", str(out / f"select-{tag}"),
                       "--overwrite", "--no-progress"], None),
    ]


def run_scaleout(out: str | Path, plan: ScaleoutPlan = ScaleoutPlan(), command: str | None = None) -> list[dict]:
    """Measure every task in both layouts (task by task, the layouts one after the other on the same machine);
    write the table, with each layout's wall time as a ratio to the one-process layout's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    layouts = _layouts(plan)
    for k in range(len(_tasks(plan, out, "layout0"))):  # task by task, the layouts one after the other
        for i, (layout, prefix, env_extra) in enumerate(layouts):
            env = dict(os.environ, **env_extra)
            task, args, run_dir = _tasks(plan, out, f"layout{i}")[k]
            cmd = prefix + args
            t0 = time.perf_counter()
            res = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if res.returncode != 0:
                raise RuntimeError(f"{task} ({layout}) failed: {res.stderr[-2000:]}")
            s_step = comm = float("nan")
            if run_dir is not None:
                events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line]
                st = np.array([e["step_time"] for e in events])
                ct = np.array([e.get("comm_time", 0.0) for e in events])
                s_step = float(np.median(st))
                comm = float(ct.sum() / st.sum()) if st.sum() > 0 else float("nan")
            shown = " ".join(("OMP_NUM_THREADS=" + env_extra["OMP_NUM_THREADS"], "python", *cmd[1:]))
            rows.append({"task": task, "layout": layout, "wall_s": wall, "s_per_step": s_step, "comm_share": comm,
                         "command": shown})
        write_csv(out / "scaleout.csv", rows, COLUMNS)
    write_text(out / "scaleout.md", scaleout_markdown(rows, plan, command))
    return rows


def scaleout_markdown(rows: list[dict], plan: ScaleoutPlan, command: str | None = None) -> str:
    from dd_explore.bench.report import machine

    lines = ["# dd-explore bench: scale out (torch.distributed, gloo)", "",
             f"- machine: {machine()}; data set {plan.dataset}, IPC {plan.ipc}; DM {plan.steps} steps; evaluation "
             f"{plan.eval_runs} networks x {plan.eval_epochs} epochs; selection {plan.select_method} "
             f"({plan.select_features} features)"] + ([f"- command: `{command}`"] if command else []) + ["",
             "| task | layout | wall s | wall / 1 process | s/step (median) | communication share of step time |",
             "|---|---|---|---|---|---|"]
    first = {}
    for r in rows:
        fmt = lambda v: "" if v != v else f"{v:.3g}"  # noqa: E731 - nan -> empty cell
        base = first.setdefault(r["task"], r["wall_s"])
        lines.append(f"| {r['task']} | {r['layout']} | {r['wall_s']:.1f} | {r['wall_s'] / base:.2f} | "
                     f"{fmt(r['s_per_step'])} | {fmt(r['comm_share'])} |")
    lines += ["", "Commands:", ""] + [f"- `{r['command']}`" for r in rows] + [""]
    return "\n".join(lines)

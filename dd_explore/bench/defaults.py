"""The defaults table: every registered distillation method with its defaults, per data set, IPC and batch
kind, the initial set against the distilled one under one evaluation (issue 15: a method run as documented
must never end below its own initialization).

Each cell is one ``dd-explore distill ... --evaluate`` command, run in a fresh subprocess and recorded
verbatim, so a row of the table is reproduced by pasting its command. The evaluation is the distill
command's (the ``plain`` protocol, paired: the initial and the distilled set are trained by the same seeded
networks); the verdict is the run's own guard (``metrics.json`` ``warnings``: distilled below initial by more
than the evaluation's spread).

Plans: ``defaults-quick`` (a smoke test: digits, IPC 1, 2 steps, 2 x 2-epoch evaluation), ``defaults`` (budgets
that fit this 2-core CPU: step counts cut per method and IPC, the default 5 x 300-epoch evaluation) and
``defaults-full`` (every method's default steps, for a GPU). Outputs in ``out``: one run directory per cell,
``defaults.csv`` and ``defaults.md``; a cell whose ``metrics.json`` has a final evaluation is kept on a resume.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dd_explore._io import write_text
from dd_explore.bench.store import write_csv

logger = logging.getLogger(__name__)

DEFAULTS_PLANS = ("defaults-quick", "defaults", "defaults-full")
COLUMNS = ("dataset", "ipc", "method", "init", "batches", "steps", "initial", "initial_std", "distilled",
           "distilled_std", "gain", "guard", "eval", "seconds", "command")

# steps that fit the 2-core CPU (None: the method's default); a DC/DSA step at IPC 10 is 10 matchings and
# 9 x 50 inner epochs, about a minute on 8x8 digits and ten on 28x28 mnist5k with two threads
CPU_STEPS = {
    ("dm", 1): 200, ("dm", 10): 200, ("kip", 1): 200, ("kip", 10): 200, ("dc", 1): 40, ("dc", 10): 10,
    ("dsa", 1): 40, ("dsa", 10): 10, ("mtt", 1): 40, ("mtt", 10): 40,
}


# options a cell needs beyond the defaults: MTT draws real batches only when its target segments are trained
# online (with its default expert buffer no step draws a real batch, and importance batches are refused)
NEEDS = {("mtt", "importance"): ("segment=online",)}
EXPERTS = "mtt-experts"  # the folder, next to the cells, where MTT's cells keep and reuse their expert buffers
EVAL_CACHE = "eval-cache"  # the folder, next to the cells, of their finished evaluations (dd_explore.evaluate.cache)


@dataclass(frozen=True)
class DefaultsPlan:
    """Cells: ``methods`` x ``datasets`` x ``ipcs`` x ``batches``, each from ``init`` with ``seed``; ``steps``
    maps (method, ipc) to a step count (missing: the method's default); ``eval_runs`` / ``eval_epochs`` (None:
    the distill command's defaults)."""

    name: str
    datasets: tuple[str, ...]
    ipcs: tuple[int, ...]
    methods: tuple[str, ...]
    batches: tuple[str, ...] = ("uniform", "importance")
    init: str = "sensitivity-kmeans"
    seed: int = 0
    steps: tuple[tuple[tuple[str, int], int], ...] = ()
    eval_runs: int | None = None
    eval_epochs: int | None = None

    def steps_of(self, method: str, ipc: int) -> int | None:
        return dict(self.steps).get((method, ipc))

    def cells(self) -> list[dict]:
        return [dict(dataset=d, ipc=i, method=m, batches=b) for d in self.datasets for i in self.ipcs
                for m in self.methods for b in self.batches]

    def describe(self) -> str:
        lines = [f"plan {self.name!r}: {len(self.cells())} cells = methods {list(self.methods)} x data sets "
                 f"{list(self.datasets)} x IPC {list(self.ipcs)} x batches {list(self.batches)}; init {self.init}, "
                 f"seed {self.seed}; evaluation {self.eval_runs or 'default'} networks x "
                 f"{self.eval_epochs or 'default'} epochs (plain protocol, paired)"]
        for m in self.methods:
            lines.append(f"  {m}: steps " + ", ".join(f"IPC {i}: {self.steps_of(m, i) or 'default'}" for i in self.ipcs))
        return "\n".join(lines)


def make_defaults_plan(name: str = "defaults", *, datasets: Sequence[str] | None = None,
                       methods: Sequence[str] | None = None, ipcs: Sequence[int] | None = None,
                       steps: int | None = None, eval_epochs: int | None = None) -> DefaultsPlan:
    """A defaults plan by name, narrowed to ``datasets`` / ``methods`` / ``ipcs`` (each a subset of the plan's),
    with ``steps`` / ``eval_epochs`` overriding every cell's."""
    from dd_explore.distill.methods import list_methods

    if name not in DEFAULTS_PLANS:
        raise ValueError(f"plan must be one of {', '.join(DEFAULTS_PLANS)}; got {name!r}")
    every = tuple(list_methods())
    if name == "defaults-quick":
        plan = dict(datasets=("digits",), ipcs=(1,), methods=every, steps={(m, 1): 2 for m in every},
                    eval_runs=2, eval_epochs=2)
    elif name == "defaults":
        plan = dict(datasets=("digits", "mnist5k"), ipcs=(1, 10), methods=every,
                    steps={k: v for k, v in CPU_STEPS.items() if k[0] in every})
    else:
        plan = dict(datasets=("digits", "mnist5k"), ipcs=(1, 10), methods=every, steps={})
    for flag, given, allowed in (("--dataset", datasets, plan["datasets"]), ("--methods", methods, plan["methods"]),
                                 ("--ipc", ipcs, plan["ipcs"])):
        if given:
            unknown = [g for g in given if g not in allowed]
            if unknown:
                raise ValueError(f"{flag} {unknown} not in the {name!r} plan (its values: {list(allowed)})")
    for flag, value in (("--steps", steps), ("--eval-epochs", eval_epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{flag} must be a positive int; got {value!r}")
    chosen_methods = tuple(methods or plan["methods"])
    chosen_ipcs = tuple(int(i) for i in (ipcs or plan["ipcs"]))
    step_map = dict(plan["steps"])
    if steps is not None:
        step_map = {(m, i): steps for m in chosen_methods for i in chosen_ipcs}
    return DefaultsPlan(name=name, datasets=tuple(datasets or plan["datasets"]), ipcs=chosen_ipcs,
                        methods=chosen_methods, steps=tuple(sorted(step_map.items())),
                        eval_runs=plan.get("eval_runs"), eval_epochs=eval_epochs or plan.get("eval_epochs"))


def cell_command(plan: DefaultsPlan, cell: dict, run_dir: Path, device: str = "auto") -> list[str]:
    """The ``dd-explore distill`` arguments of one cell (after ``python -m dd_explore``)."""
    args = ["distill", "--dataset", cell["dataset"], "--method", cell["method"], "--ipc", str(cell["ipc"]),
            "--init", plan.init, "--batches", cell["batches"], "--seed", str(plan.seed), "--out", str(run_dir),
            "--evaluate", "--no-progress"]
    n = plan.steps_of(cell["method"], cell["ipc"])
    if n is not None:
        args[args.index("--seed"):args.index("--seed")] = ["--steps", str(n)]
    for param in NEEDS.get((cell["method"], cell["batches"]), ()):
        args += ["--param", param]
    args += ["--eval-cache", str(run_dir.parent / EVAL_CACHE)]  # cells sharing an initial set evaluate it once
    if cell["method"] == "mtt":  # one expert buffer per data set, trained once and shared by its cells (as the
        args += ["--expert-dir", str(run_dir.parent / EXPERTS)]  # reference does); the same buffer either way
    if plan.eval_runs is not None:
        args += ["--eval-runs", str(plan.eval_runs)]
    if plan.eval_epochs is not None:
        args += ["--eval-epochs", str(plan.eval_epochs)]
    if device != "auto":
        args += ["--device", device]
    return args


def _finished(run_dir: Path, steps: int) -> dict | None:
    """The metrics of ``run_dir`` when its run ended at ``steps`` with an initial and a final evaluation."""
    path = run_dir / "metrics.json"
    if not path.exists():
        return None
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    done = metrics.get("final") and metrics.get("initial") and metrics["final"].get("step") == steps
    return metrics if done else None


def _interrupted(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run that ``--resume`` can continue (its config and a checkpoint); called only
    for cells that are not finished at the plan's step count."""
    from dd_explore.distill.rundir import CHECKPOINT, PREVIOUS_CHECKPOINT

    return (run_dir / "config.json").exists() and any((run_dir / f).exists() for f in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def _row(plan: DefaultsPlan, cell: dict, metrics: dict, steps_done: int, seconds: float, command: str) -> dict:
    ini, fin = metrics["initial"], metrics["final"]
    final_step = fin.get("step")
    warned = [w for w in metrics.get("warnings") or [] if final_step is None or w.get("step") == final_step]
    needs = NEEDS.get((cell["method"], cell["batches"]))
    batches = cell["batches"] + (f" ({', '.join(needs)})" if needs else "")
    return {**cell, "batches": batches, "init": plan.init, "steps": steps_done, "initial": ini["mean"], "initial_std": ini["std"],
            "distilled": fin["mean"], "distilled_std": fin["std"], "gain": fin["mean"] - ini["mean"],
            "guard": "warned" if warned else "ok",
            "eval": f"{ini['protocol']['name']}, {ini['protocol']['runs']} x {ini['protocol']['epochs']} epochs",
            "seconds": seconds, "command": command}


def run_defaults(plan: DefaultsPlan, out: str | Path, *, threads: int | None = None, device: str = "auto",
                 resume: bool = False, progress: bool = True, command: str | None = None) -> list[dict]:
    """Run every cell (a fresh ``dd-explore distill`` subprocess each; with ``resume`` finished cells are kept
    and interrupted ones continue from their last checkpoint, or start over if their configuration changed),
    write ``defaults.csv`` / ``defaults.md`` after each, return the rows."""
    from tqdm.auto import tqdm

    from dd_explore.distill.methods import METHODS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    rows = []
    for cell in tqdm(plan.cells(), desc="defaults", disable=not progress):
        run_dir = out / f"{cell['dataset']}-ipc{cell['ipc']}-{cell['method']}-{cell['batches']}"
        args = cell_command(plan, cell, run_dir, device)
        shown = ("OMP_NUM_THREADS=" + env["OMP_NUM_THREADS"] + " " if threads is not None else "") + \
            "dd-explore " + " ".join(args)
        steps = plan.steps_of(cell["method"], cell["ipc"]) or METHODS.get(cell["method"]).default_steps
        metrics = _finished(run_dir, steps) if resume else None
        seconds = float("nan")
        if metrics is None:
            t0 = time.perf_counter()
            res = None
            if resume and _interrupted(run_dir):  # continue from its last checkpoint (same configuration)
                res = subprocess.run([sys.executable, "-m", "dd_explore", *args, "--resume"], env=env,
                                     capture_output=True, text=True)
                if res.returncode != 0 and "cannot resume" in res.stderr:
                    logger.warning("defaults cell %s: %s; starting it over", run_dir.name,
                                   res.stderr.strip().splitlines()[-1])
                    res = None
            if res is None:
                res = subprocess.run([sys.executable, "-m", "dd_explore", *args, "--overwrite"], env=env,
                                     capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            metrics = _finished(run_dir, steps)
            if res.returncode != 0 or metrics is None:
                raise RuntimeError(f"defaults cell {run_dir.name} failed (exit {res.returncode}): "
                                   f"{(res.stderr or res.stdout)[-2000:]}")
        events = (run_dir / "events.jsonl").read_text().splitlines()
        rows.append(_row(plan, cell, metrics, len([e for e in events if e.strip()]), seconds, shown))
        write_csv(out / "defaults.csv", rows, COLUMNS)
        write_text(out / "defaults.md", defaults_markdown(plan, rows, command))
    return rows


def defaults_markdown(plan: DefaultsPlan, rows: Sequence[dict], command: str | None = None) -> str:
    from dd_explore.bench.report import machine

    pct = lambda m, s: f"{100 * m:.2f} ± {100 * s:.2f}"  # noqa: E731
    lines = [f"# dd-explore bench: the defaults table (plan `{plan.name}`)", "",
             f"- machine: {machine()}", f"- init {plan.init}, seed {plan.seed}; every method option at its default; "
             "evaluation: the distill command's (plain protocol; the initial and the distilled set trained by the "
             "same seeded networks); guard: the run's own (distilled below initial by more than the spread)"]
    if command:
        lines.append(f"- command: `{command}`")
    lines += ["", "| data set | IPC | method | batches | steps | initial % | distilled % | gain pp | guard | "
              "evaluation | s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sec = "" if r["seconds"] != r["seconds"] else f"{r['seconds']:.0f}"
        lines.append(f"| {r['dataset']} | {r['ipc']} | {r['method']} | {r['batches']} | {r['steps']} | "
                     f"{pct(r['initial'], r['initial_std'])} | {pct(r['distilled'], r['distilled_std'])} | "
                     f"{100 * r['gain']:+.2f} | {r['guard']} | {r['eval']} | {sec} |")
    lines += ["", "Commands (one per row):", ""] + [f"- `{r['command']}`" for r in rows] + [""]
    return "\n".join(lines)

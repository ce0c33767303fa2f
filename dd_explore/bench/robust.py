"""The robust-scores bench: the main cells under the ``dm`` protocol on three architectures, with DD-Ranking's
label-robust and augmentation-robust scores.

Cells (per IPC): DM and KIP each as the reference (random init, uniform batches) and the full method (the
sensitivity k-means init with importance batches), and two coresets (herding, random). Every (cell, seed)
set is scored by :func:`dd_explore.evaluate.robust_scores` on each architecture of the plan: the set, a
random subset of the same size (``random_seed`` = the seed) and the whole training split, each trained
under the protocol with and without its augmentation. Seed ``s`` of every cell is evaluated by the same
networks (evaluation seed ``eval_seed + s``): paired.

Plans: ``robust`` (reduced budgets that fit this CPU: one seed, 300 evaluation epochs instead of 1001,
one network per term, ConvNet / LeNet / MLP, whole split 5 epochs; distillation steps cut) and
``robust-full`` (the full protocol, for a GPU: 5 seeds, 1001 passes, 5 networks, ConvNet / VGG-11 /
ResNet-18, whole split at the protocol's epochs, the methods' default steps). Outputs in ``out``:
``robust.json`` (manifest), ``robust_rows.json`` (one row per cell x seed x model, every term),
``robust.csv``, ``robust.md`` and ``evals.json`` (the shared whole-split / random-subset evaluations,
kept for a resume).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch

from dd_explore._io import write_json, write_text
from dd_explore.bench.plan import Cell, grid_cells

logger = logging.getLogger(__name__)

ROBUST_PLANS = ("robust", "robust-full")
MANIFEST, ROWS, CSV, TABLE, EVALS = "robust.json", "robust_rows.json", "robust.csv", "robust.md", "evals.json"
OWN_FILES = (MANIFEST, ROWS, CSV, TABLE, EVALS)
TERMS = ("real_hard", "syn_hard", "syn_any", "rdm_any", "syn_aug", "rdm_aug", "syn_naug", "rdm_naug")
SCORES = ("hlr", "ior", "lrs", "aug_diff", "naug_diff", "ars")


@dataclass(frozen=True)
class RobustPlan:
    """Cells x seeds x architectures, scored under ``protocol`` with ``eval_runs`` networks of ``eval_epochs``
    epochs (None: the protocol's), the whole split at ``real_epochs`` (None: the protocol's)."""

    name: str
    dataset: str
    seeds: tuple[int, ...]
    cells: tuple[Cell, ...]
    models: tuple[str, ...]
    protocol: str = "dm"
    eval_runs: int = 1
    eval_epochs: int | None = None
    real_epochs: int | None = None
    eval_seed: int = 1000
    w: float = 0.5
    gamma: float = 0.5
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cells"] = [c.to_dict() for c in self.cells]
        return d

    def fingerprint(self) -> str:
        d = self.to_dict()
        d.pop("seeds")
        d.pop("notes")
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def units(self) -> int:
        return len(self.cells) * len(self.seeds)

    def describe(self) -> str:
        ep = self.eval_epochs or "the protocol's"
        lines = [f"robust plan {self.name!r} on {self.dataset}: {len(self.cells)} cells x {len(self.seeds)} seeds "
                 f"{list(self.seeds)} x models {list(self.models)}; protocol {self.protocol}, {self.eval_runs} "
                 f"network(s) x {ep} epochs per term, whole split {self.real_epochs or 'the protocol' + chr(39) + 's'} epochs"]
        for c in self.cells:
            steps = f"{c.steps} steps" if c.kind == "distill" else "selected real images"
            opts = f" {c.options_dict()}" if c.options else ""
            lines.append(f"  {c.key:<52} {steps}{opts}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def make_robust_plan(name: str = "robust", dataset: str = "mnist5k", *, seeds: Sequence[int] | None = None,
                     methods: Sequence[str] | None = None, ipcs: Sequence[int] | None = None, steps: int | None = None,
                     eval_epochs: int | None = None, real_epochs: int | None = None, eval_runs: int | None = None,
                     models: Sequence[str] | None = None) -> RobustPlan:
    """The ``robust`` (CPU budgets) or ``robust-full`` (GPU) plan, optionally narrowed or overridden."""
    from dd_explore import models as _models
    from dd_explore.distill.methods import METHODS

    if name not in ROBUST_PLANS:
        raise ValueError(f"plan must be one of {list(ROBUST_PLANS)}; got {name!r}")
    full = name == "robust-full"
    all_methods, all_ipcs = ("dm", "kip"), (1, 10)
    methods = tuple(methods) if methods is not None else all_methods
    bad = [m for m in methods if m not in all_methods]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {list(all_methods)}; got {list(methods)}")
    ipcs = tuple(int(i) for i in ipcs) if ipcs is not None else all_ipcs
    bad = [i for i in ipcs if i not in all_ipcs]
    if bad or not ipcs:
        raise ValueError(f"ipc must be a non-empty subset of {list(all_ipcs)}; got {list(ipcs)}")
    for label, value in (("steps", steps), ("eval_epochs", eval_epochs), ("real_epochs", real_epochs),
                         ("eval_runs", eval_runs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ValueError(f"{label} must be a positive int; got {value!r}")
    if seeds is not None:
        seeds = tuple(seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be one or more distinct non-negative ints; got {list(seeds)}")
    if models is not None:
        models = tuple(models)
        if not models:
            raise ValueError("models must name at least one architecture; got none")
        for m in models:
            _models.MODELS.get(m)
    if full:
        default_steps = {m: METHODS.get(m).default_steps for m in all_methods}
        options = {"dm": {}, "kip": {}}
        plan_seeds, plan_models, runs, e_epochs, r_epochs = (0, 1, 2, 3, 4), ("convnet", "vgg11", "resnet18"), 5, None, None
        notes = ("robust-full: the dm protocol as the reference runs it (1001 passes, DSA, 5 networks per term), "
                 "the methods' default steps and widths, 5 seeds; meant for a GPU",)
    else:
        default_steps = {"dm": 100, "kip": 300}
        options = {"dm": {"width": 64}, "kip": {}}
        plan_seeds, plan_models, runs, e_epochs, r_epochs = (0,), ("convnet", "lenet", "mlp"), 1, 300, 5
        notes = ("robust: reduced budgets that fit the project's 2-core CPU: 1 seed, 1 network per term, 300 "
                 "evaluation epochs (the protocol: 1001), whole split 5 epochs, DM 100 steps at width 64, KIP 300 "
                 "steps; ConvNet / LeNet / MLP (the field's AlexNet, VGG-11, ResNet-18 cost 5-10x a ConvNet here)",)
    cells: list[Cell] = []
    for ipc in ipcs:
        for method in methods:
            cells += grid_cells(method, ipc, "pair", steps or default_steps[method], options[method],
                                eval_epochs or e_epochs or 1001, controls=False)
        cells += [Cell("coreset", m, ipc, eval_epochs=eval_epochs or e_epochs or 1001) for m in ("herding", "random")]
    overridden = {k: v for k, v in (("steps", steps), ("eval_epochs", eval_epochs), ("real_epochs", real_epochs),
                                    ("eval_runs", eval_runs), ("models", models)) if v is not None}
    if overridden:
        notes = notes + (f"overridden on the command line: {overridden}",)
    return RobustPlan(name=name, dataset=dataset, seeds=seeds if seeds is not None else plan_seeds, cells=tuple(cells),
                      models=models if models is not None else plan_models, eval_runs=eval_runs or runs,
                      eval_epochs=eval_epochs or e_epochs, real_epochs=real_epochs or r_epochs, notes=notes)


# ---------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class RobustResult:
    plan: RobustPlan
    rows: tuple[dict, ...]
    computed: int
    skipped: int
    out: Path
    seconds: float


def _set_of(dataset, cell: Cell, seed: int, device, progress: bool):
    """(images, labels, info) of one cell's set for ``seed``: distilled or selected."""
    from dd_explore.bench import ablation

    if cell.kind == "coreset":
        sel = ablation._select(dataset, cell.method, cell.ipc, seed)
        idx = torch.as_tensor(sel.indices, dtype=torch.long)
        return dataset.train.images[idx].cpu(), dataset.train.labels[idx].cpu(), {"note": "selected real images"}
    d = ablation._distill(dataset, cell, seed, dataset_device(device), steps=cell.steps, lr_img=None, progress=progress)
    return d.images, d.eval_labels(), {"distill_seconds": float(d.total_time), "steps_done": int(d.steps_done)}


def dataset_device(device):
    from dd_explore.device import resolve_device

    return resolve_device(device)


def _load_evals(path: Path) -> dict:
    from dd_explore.evaluate.protocol import EvalResult

    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    return {k: EvalResult.from_dict(v) for k, v in raw.items()}


def _save_evals(path: Path, shared: dict) -> None:
    write_json(path, {k: v.to_dict() for k, v in shared.items()})


def _row(plan: RobustPlan, cell: Cell, seed: int, model: str, s, info: dict) -> dict:
    row = {"cell": cell.key, "label": cell.label, "kind": cell.kind, "method": cell.method, "ipc": cell.ipc, "seed": seed,
           "model": model, "fingerprint": plan.fingerprint(), "labels": s.labels, "w": s.w, "gamma": s.gamma,
           "finished_at": _dt.datetime.now().isoformat(timespec="seconds"), **info}
    for t in TERMS:
        r = s.terms[t]
        row[t] = r.mean
        row[f"{t}_accuracies"] = list(r.accuracies)
        row[f"{t}_epochs"] = r.protocol.epochs
    for k in SCORES:
        row[k] = getattr(s, k)
        row[f"{k}_std"] = getattr(s, f"{k}_std")
    row["eval_seconds"] = s.seconds
    return row


def run_robust(plan: RobustPlan, out: str | Path, *, dataset=None, root=None, device="auto", resume: bool = False,
               overwrite: bool = False, progress: bool = True, command: str | None = None) -> RobustResult:
    """Score every (cell, seed) of ``plan`` on each of its models; resumable like the ablation (``resume``:
    finished rows are kept; ``overwrite``: the bench's robust files in ``out`` are deleted first)."""
    from tqdm.auto import tqdm

    from dd_explore import data
    from dd_explore.bench.ablation import check_plan, eval_seed
    from dd_explore.bench.plan import Plan
    from dd_explore.evaluate import robust_scores

    start = time.perf_counter()
    if dataset is None:
        dataset = data.load(plan.dataset, root=root)
    check_plan(Plan(plan.name, plan.dataset, plan.seeds, plan.cells), dataset)
    out = Path(out)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other; pass at most one of them")
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory; {out} is a file")
    mine = [p for p in out.iterdir() if p.name in OWN_FILES] if out.exists() else []
    if mine and not (resume or overwrite):
        raise FileExistsError(f"{out} holds a robust bench ({', '.join(p.name for p in mine)}); pass --resume or --overwrite")
    if mine and resume:
        saved = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).exists() else {}
        if saved.get("fingerprint") != plan.fingerprint():
            raise ValueError(f"cannot resume {out}: it was made with another robust plan ({saved.get('plan', {}).get('name')}); "
                             "use another --out, or --overwrite")
    if mine and overwrite:
        for p in mine:
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    from dd_explore.distill.rundir import versions

    write_json(out / MANIFEST, {"fingerprint": plan.fingerprint(), "plan": plan.to_dict(), "versions": versions(),
                                "command": command})
    rows: list[dict] = json.loads((out / ROWS).read_text()) if (resume and (out / ROWS).exists()) else []
    done = {(r["cell"], int(r["seed"]), r["model"]) for r in rows if r.get("fingerprint") == plan.fingerprint()}
    shared = _load_evals(out / EVALS) if resume else {}
    computed = skipped = 0
    units = [(c, s) for c in plan.cells for s in plan.seeds]
    bar = tqdm(units, desc=f"bench {plan.name}", disable=not progress, unit="set")
    for cell, seed in bar:
        todo = [m for m in plan.models if (cell.key, seed, m) not in done]
        if not todo:
            skipped += 1
            continue
        bar.set_postfix_str(f"{cell.key} seed {seed}", refresh=True)
        t0 = time.perf_counter()
        images, labels, info = _set_of(dataset, cell, seed, device, progress)
        info["set_seconds"] = time.perf_counter() - t0
        for model in todo:
            s = robust_scores(images, labels, dataset, protocol=plan.protocol, model=model, runs=plan.eval_runs,
                              epochs=plan.eval_epochs, seed=eval_seed(plan, seed), random_seed=seed, w=plan.w,
                              gamma=plan.gamma, real_epochs=plan.real_epochs, shared=shared, device=device,
                              progress=progress)
            rows.append(_row(plan, cell, seed, model, s, info))
            write_json(out / ROWS, rows)
            _save_evals(out / EVALS, shared)
        computed += 1
        write_reports(plan, rows, out, command=command)
    bar.close()
    write_reports(plan, rows, out, command=command)
    return RobustResult(plan, tuple(rows), computed, skipped, out, time.perf_counter() - start)


# ---------------------------------------------------------------------------- summaries
def write_reports(plan: RobustPlan, rows: Sequence[dict], out: Path, command: str | None = None) -> None:
    from dd_explore.bench.report import machine
    from dd_explore.bench.store import write_csv

    rows = [r for r in rows if r.get("fingerprint") == plan.fingerprint()]
    cols = ("cell", "label", "kind", "method", "ipc", "seed", "model", "labels") + TERMS + tuple(
        x for k in SCORES for x in (k, f"{k}_std")) + ("real_hard_epochs", "syn_hard_epochs", "eval_seconds", "finished_at")
    write_csv(out / CSV, rows, cols)
    write_text(out / TABLE, table_markdown(plan, rows, command=command, machine_line=machine()))


def _pct(x) -> str:
    return f"{100 * float(x):.2f}"


def table_markdown(plan: RobustPlan, rows: Sequence[dict], *, command: str | None = None, machine_line: str = "") -> str:
    """One table per IPC: a row per (cell, model) with the accuracies, HLR, IOR, LRS, the two ARS differences
    and ARS (means over seeds; scores in %)."""
    import numpy as np

    from dd_explore.evaluate.robust import NEUTRAL

    lines = [f"# dd-explore bench: robust scores, plan `{plan.name}` on {plan.dataset}", "",
             f"- machine: {machine_line}" if machine_line else "- machine: (not recorded)",
             f"- command: `{command}`" if command else "- command: (API call)",
             f"- protocol `{plan.protocol}`; {plan.eval_runs} network(s) x {plan.eval_epochs or 'the protocol'} epochs per "
             f"term; whole split {plan.real_epochs or 'at the protocol'} epochs; seeds {list(plan.seeds)} (evaluation "
             f"seed {plan.eval_seed} + seed, random subset drawn with the seed); LRS weight w = {plan.w}, ARS weight "
             f"gamma = {plan.gamma}; neutral score {100 * NEUTRAL:.2f}",
             "- HLR = Acc(whole split) - Acc(set), hard labels (lower is better); IOR = Acc(set) - Acc(random subset "
             "of the same size); aug / no aug: the same difference with / without the protocol's augmentation; "
             "LRS, ARS: DD-Ranking's normalized scores (docs/evaluate.md)"]
    lines += [f"- note: {n}" for n in plan.notes]
    for ipc in sorted({c.ipc for c in plan.cells}):
        lines += ["", f"## IPC {ipc}", "",
                  "| model | set | Acc set % | Acc random % | Acc whole % | HLR pp | IOR pp | LRS | aug pp | no aug pp | ARS | seeds |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for model in plan.models:
            for c in [c for c in plan.cells if c.ipc == ipc]:
                rs = [r for r in rows if r["cell"] == c.key and r["model"] == model]
                if not rs:
                    lines.append(f"| {model} | {c.label if c.kind == 'distill' else c.key} | not run yet |  |  |  |  |  |  |  |  |  |")
                    continue

                def m(k):
                    return float(np.mean([float(r[k]) for r in rs]))

                name = f"{c.method.upper()} {c.label}" if c.kind == "distill" else f"coreset {c.method}"
                lines.append(f"| {model} | {name} | {_pct(m('syn_any'))} | {_pct(m('rdm_any'))} | {_pct(m('real_hard'))} | "
                             f"{100 * m('hlr'):+.2f} | {100 * m('ior'):+.2f} | {_pct(m('lrs'))} | {100 * m('aug_diff'):+.2f} | "
                             f"{100 * m('naug_diff'):+.2f} | {_pct(m('ars'))} | {len(rs)} |")
    return "\n".join(lines) + "\n"


__all__ = ["ROBUST_PLANS", "RobustPlan", "RobustResult", "make_robust_plan", "run_robust", "table_markdown", "write_reports"]

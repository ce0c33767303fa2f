"""The ablation: every cell of a :class:`~dd_explore.bench.plan.Plan` x seed, resumable.

For each (cell, seed) not yet in ``results.csv``: distill (or select, or take the whole split), evaluate
with the plan's networks for that seed, and append one row (the file is rewritten atomically). The
learning-rate control first tunes the image learning rate on a validation split of the training set
(rows in ``tuning.csv``). After every finished cell the summary files are rewritten: ``table.md``,
``summary.csv`` and ``comparison.html``.

>>> from dd_explore.bench import make_plan, run_ablation
>>> plan = make_plan("quick", dataset="digits", methods=["dm"], ipcs=[1], seeds=[0, 1])   # doctest: +SKIP
>>> result = run_ablation(plan, "runs/bench-digits")                                      # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dd_explore._io import write_text
from dd_explore.bench.plan import CONTROLS, KINDS, Cell, Plan
from dd_explore.bench.stats import CellSummary
from dd_explore.bench.store import RESULT_COLUMNS, TUNE_COLUMNS, RowStore

logger = logging.getLogger(__name__)

MANIFEST = "bench.json"
RESULTS = "results.csv"
TUNING = "tuning.csv"
OWN_FILES = (MANIFEST, RESULTS, TUNING, "summary.csv", "table.md", "comparison.html", "speed.csv", "speed.md")


@dataclass(frozen=True)
class AblationResult:
    """What :func:`run_ablation` did: the plan, every row (results.csv), the per-cell summaries, the
    number of runs computed now and skipped (already done), the output folder and the seconds spent."""

    plan: Plan
    rows: tuple[dict, ...]
    summaries: tuple[CellSummary, ...]
    computed: int
    skipped: int
    out: Path
    seconds: float


# ---------------------------------------------------------------------------- validation
def check_plan(plan: Plan, dataset) -> None:
    """Every cell names a known method/init, a feasible IPC, and the cells its controls depend on."""
    from dd_explore import distill, selection

    methods, inits, sel = distill.list_methods(), distill.list_inits(), selection.list_methods()
    smallest = int(dataset.train.class_counts(dataset.num_classes).min())
    if not plan.seeds:
        raise ValueError("plan.seeds must hold at least one seed; got none")
    keys = [c.key for c in plan.cells]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"plan cells must be distinct; repeated: {dup}")
    for c in plan.cells:
        if c.kind not in KINDS:
            raise ValueError(f"cell kind must be one of {list(KINDS)}; got {c.kind!r}")
        if c.eval_runs < 1 or c.eval_epochs < 1:
            raise ValueError(f"cell {c.key}: eval_runs and eval_epochs must be positive; got {c.eval_runs}, {c.eval_epochs}")
        if c.kind == "whole":
            continue
        if not 1 <= c.ipc <= smallest:
            raise ValueError(f"cell {c.key}: ipc must be a positive int no larger than the smallest class "
                             f"({smallest} images); got {c.ipc}")
        if c.kind == "coreset":
            if c.method not in sel:
                raise ValueError(f"coreset method must be one of {sel}; got {c.method!r}")
            continue
        if c.method not in methods:
            raise ValueError(f"method must be one of {methods}; got {c.method!r}")
        if c.init not in inits:
            raise ValueError(f"init must be one of {inits}; got {c.init!r}")
        if c.batches not in ("uniform", "importance") or c.weighting not in ("none", "reweight"):
            raise ValueError(f"cell {c.key}: batches must be uniform|importance and weighting none|reweight; "
                             f"got {c.batches!r}, {c.weighting!r}")
        if c.batches == "uniform" and c.weighting != "none":
            raise ValueError(f"cell {c.key}: weighting applies to importance batches only; got {c.weighting!r}")
        if c.control not in CONTROLS:
            raise ValueError(f"control must be one of {list(CONTROLS)}; got {c.control!r}")
        if c.steps < 1:
            raise ValueError(f"cell {c.key}: steps must be a positive int; got {c.steps}")
        if c.control != "none" and (c.init != "random" or c.batches != "uniform"):
            raise ValueError(f"cell {c.key}: the controls are random-init uniform-batch runs")
        needs = []
        if c.control == "equal-time":
            needs = [c.reference_key, c.importance_key]
        elif c.control == "lr-tuned":
            needs = [c.reference_key]
        for k in needs:
            dep = plan.cell(k)
            if dep is None or keys.index(k) > keys.index(c.key):
                raise ValueError(f"cell {c.key} needs cell {k} earlier in the plan")
            if dep.steps != c.steps or dep.options != c.options:
                raise ValueError(f"cell {c.key} must have the steps and options of {k}")
    if not isinstance(plan.lr_grid, tuple) or not plan.lr_grid or any(not (f > 0) for f in plan.lr_grid):
        raise ValueError(f"plan.lr_grid must be positive factors; got {plan.lr_grid!r}")
    if not 0 < plan.val_fraction < 1:
        raise ValueError(f"plan.val_fraction must be in (0, 1); got {plan.val_fraction!r}")


def prepare_out(out: Path, plan: Plan, resume: bool, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``resume`` (same plan, any seeds) or ``overwrite`` (delete the
    bench's own files first); write the manifest."""
    out = Path(out)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other; pass at most one of them")
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory; {out} is a file")
    non_empty = out.exists() and any(out.iterdir())
    manifest = out / MANIFEST
    if non_empty and not (resume or overwrite):
        raise FileExistsError(f"out directory {out} is not empty; pass --resume to continue the bench in it "
                              "(finished runs are kept) or --overwrite to delete its results and start over")
    if non_empty and resume and not manifest.exists():
        if any(p.name not in OWN_FILES for p in out.iterdir()):
            raise ValueError(f"cannot resume: {out} holds no bench ({MANIFEST} missing) but other files")
    elif non_empty and resume:
        saved = json.loads(manifest.read_text())
        if saved.get("fingerprint") != plan.fingerprint():
            raise ValueError(
                f"cannot resume {out}: it was made with plan {saved.get('plan', {}).get('name')!r} on "
                f"{saved.get('plan', {}).get('dataset')!r} with other cells or budgets than plan {plan.name!r} on "
                f"{plan.dataset!r}; use another --out, or --overwrite")
    if non_empty and overwrite:
        for name in OWN_FILES:
            if (out / name).exists():
                (out / name).unlink()
    out.mkdir(parents=True, exist_ok=True)
    from dd_explore.distill.rundir import versions

    write_text(manifest, json.dumps({"fingerprint": plan.fingerprint(), "plan": plan.to_dict(),
                                            "versions": versions()}, indent=1, default=str))


# ---------------------------------------------------------------------------- the work (patched in tests)
def _distill(dataset, cell: Cell, seed: int, device, *, steps: int, lr_img: float | None, progress: bool):
    """One distillation run (no run directory); returns the DistillResult."""
    from dd_explore import distill

    options = cell.options_dict()
    if lr_img is not None:
        options["lr_img"] = lr_img
    if cell.batches == "importance":
        options["weighting"] = cell.weighting
    callbacks = []
    if progress:
        callbacks.append(distill.ProgressBar(desc=f"  {cell.method} {cell.label} seed {seed}", leave=False))
    return distill.run(dataset, cell.method, ipc=cell.ipc, init=cell.init, batches=cell.batches, steps=steps,
                       callbacks=callbacks, device=device, seed=seed, **options)


def _evaluate(images, labels, test, *, runs: int, epochs: int, width: int, seed: int, device, progress: bool):
    from dd_explore.evaluate import evaluate

    return evaluate(images, labels, test, model="convnet", runs=runs, epochs=epochs, model_kwargs={"width": width},
                    device=device, seed=seed, progress=progress)


def _select(dataset, method: str, ipc: int, seed: int):
    from dd_explore import selection

    x = dataset.train.images.cpu().numpy()
    y = dataset.train.labels.cpu().numpy()
    return selection.select(x, y, ipc, method=method, features="pixels", random_state=seed)


# ---------------------------------------------------------------------------- helpers
def default_lr(method: str, options: dict) -> float:
    """The method's image learning rate (its option ``lr_img``, default or given)."""
    from dd_explore import distill

    if "lr_img" in options:
        return float(options["lr_img"])
    return float(distill.METHODS.get(method).Options().lr_img)


def validation_split(dataset, fraction: float, seed: int):
    """(train', val) as a Dataset: a seeded stratified ``fraction`` of each class of the training split
    becomes the test split; the real test split is not touched."""
    from dd_explore.data import Dataset, Split

    rng = np.random.default_rng(seed)
    labels = dataset.train.labels.cpu().numpy()
    tr, va = [], []
    for c in range(dataset.num_classes):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.shape[0])]
        k = max(1, int(round(fraction * idx.shape[0])))
        va.append(idx[:k])
        tr.append(idx[k:])
    tr_idx = torch.as_tensor(np.sort(np.concatenate(tr)))
    va_idx = torch.as_tensor(np.sort(np.concatenate(va)))
    train = Split(dataset.train.images[tr_idx], dataset.train.labels[tr_idx])
    val = Split(dataset.train.images[va_idx], dataset.train.labels[va_idx])
    return Dataset(f"{dataset.name}-trainval", train, val, dataset.classes, dataset.mean, dataset.std)


def _indices_hash(indices) -> str:
    if indices is None:
        return ""
    arr = np.asarray(indices, dtype=np.int64)
    return hashlib.sha1(arr.tobytes()).hexdigest()[:10]


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def eval_seed(plan: Plan, seed: int) -> int:
    """The evaluation seed of bench seed ``seed`` (``evaluate`` spawns its networks from it; the networks
    of different evaluation seeds do not overlap)."""
    return plan.eval_seed + int(seed)


class _Runner:
    def __init__(self, plan: Plan, dataset, out: Path, device, progress: bool):
        self.plan = plan
        self.dataset = dataset
        self.out = out
        self.device = device
        self.progress = progress
        self.results = RowStore(out / RESULTS, RESULT_COLUMNS, lambda r: (r["cell"], int(r["seed"]), r["fingerprint"]))
        self.tuning = RowStore(out / TUNING, TUNE_COLUMNS,
                               lambda r: (r["method"], int(r["ipc"]), float(r["factor"]), r["fingerprint"]))
        self.computed = 0
        self.skipped = 0
        self._valset = None

    # ------------------------------------------------------------ rows
    def done(self, cell: Cell, seed: int) -> bool:
        return (cell.key, int(seed), cell.fingerprint(self.plan)) in self.results

    def row_of(self, key: str, seed: int) -> dict | None:
        cell = self.plan.cell(key)
        return self.results.get((key, int(seed), cell.fingerprint(self.plan))) if cell else None

    def base_row(self, cell: Cell, seed: int) -> dict:
        return {"cell": cell.key, "label": cell.label, "kind": cell.kind, "method": cell.method, "ipc": cell.ipc,
                "init": cell.init if cell.kind == "distill" else "", "batches": cell.variant if cell.kind == "distill" else "",
                "weighting": cell.weighting if cell.kind == "distill" else "", "control": cell.control, "seed": seed,
                "steps": cell.steps, "options": cell.options_dict(), "eval_runs": cell.eval_runs,
                "eval_epochs": cell.eval_epochs, "eval_width": self.plan.eval_width,
                "eval_seed": eval_seed(self.plan, seed), "dataset": self.dataset.name, "device": str(self.device),
                "plan": self.plan.name, "fingerprint": cell.fingerprint(self.plan)}

    def evaluate(self, images, labels, cell: Cell, seed: int, test=None):
        return _evaluate(images, labels, self.dataset.test if test is None else test, runs=cell.eval_runs,
                         epochs=cell.eval_epochs, width=self.plan.eval_width, seed=eval_seed(self.plan, seed),
                         device=self.device, progress=self.progress)

    # ------------------------------------------------------------ one unit
    def run_unit(self, cell: Cell, seed: int) -> dict:
        t0 = time.perf_counter()
        row = self.base_row(cell, seed)
        if cell.kind == "whole":
            res = self.evaluate(self.dataset.train.images, self.dataset.train.labels, cell, seed)
            row.update(steps=0, steps_done=0, note=f"whole training split, {cell.eval_epochs} epochs")
        elif cell.kind == "coreset":
            sel = _select(self.dataset, cell.method, cell.ipc, seed)
            idx = torch.as_tensor(np.asarray(sel.indices), dtype=torch.long)
            res = self.evaluate(self.dataset.train.images[idx], self.dataset.train.labels[idx], cell, seed)
            row.update(steps=0, steps_done=0, init_indices_hash=_indices_hash(sel.indices),
                       note="selected real images, no distillation")
        else:
            reused = self.reuse_reference(cell, seed, row)
            if reused is not None:
                return reused
            steps, lr, note = self.budget(cell, seed)
            d = _distill(self.dataset, cell, seed, self.device, steps=steps, lr_img=lr, progress=self.progress)
            res = self.evaluate(d.images, d.eval_labels(), cell, seed)
            st = np.asarray(d.step_times, dtype=np.float64)
            row.update(steps=steps, steps_done=int(d.steps_done), lr_img=lr if lr is not None else default_lr(cell.method, cell.options_dict()),
                       seconds_per_step=float(np.median(st)) if st.size else math.nan,
                       distill_seconds=float(d.total_time), probe_seconds=float(d.probe_time),
                       probe_share=float(d.probe_share), final_loss=float(d.losses[-1]) if len(d.losses) else math.nan,
                       init_indices_hash=_indices_hash(None if d.selection is None else d.selection.indices), note=note)
        row.update(accuracy=float(res.mean), accuracies=[float(a) for a in res.accuracies],
                   eval_seconds=float(res.seconds), wall_seconds=time.perf_counter() - t0, finished_at=_now())
        return row

    def budget(self, cell: Cell, seed: int) -> tuple[int, float | None, str]:
        """(steps, image lr or None for the default, note) of a distillation unit."""
        if cell.control == "equal-time":
            ref = self.row_of(cell.reference_key, seed)
            imp = self.row_of(cell.importance_key, seed)
            if ref is None or imp is None:
                raise RuntimeError(f"{cell.key} seed {seed} needs the finished rows of {cell.reference_key} and "
                                   f"{cell.importance_key} for that seed")
            per_step = float(ref["seconds_per_step"])
            target = float(imp["distill_seconds"])
            steps = max(cell.steps, int(math.floor(target / per_step + 1e-9))) if per_step > 0 else cell.steps
            return steps, None, (f"equal wall time: importance run {target:.1f} s (probe included) / "
                                 f"{per_step:.3f} s per uniform step -> {steps} steps")
        if cell.control == "lr-tuned":
            factor, lr = self.tuned_lr(cell)
            return cell.steps, lr, f"image lr tuned on a validation split of train: x{factor:g} of the default"
        return cell.steps, None, ""

    def reuse_reference(self, cell: Cell, seed: int, row: dict) -> dict | None:
        """The lr-tuned control whose tuning picked the default lr is the reference run: copy its row."""
        if cell.control != "lr-tuned":
            return None
        factor, lr = self.tuned_lr(cell)
        if factor != 1.0:
            return None
        ref = self.row_of(cell.reference_key, seed)
        if ref is None:
            return None
        copied = dict(ref)
        copied.update({k: row[k] for k in ("cell", "label", "control", "fingerprint")})
        copied.update(lr_img=lr, finished_at=_now(),
                      note="image lr tuned on a validation split of train picked the default (x1): same run as the reference, row copied")
        return copied

    # ------------------------------------------------------------ lr tuning
    def valset(self):
        if self._valset is None:
            self._valset = validation_split(self.dataset, self.plan.val_fraction, self.plan.tune_seed)
        return self._valset

    def tuned_lr(self, cell: Cell) -> tuple[float, float]:
        """(factor, lr) of the grid with the best validation accuracy (ties: the factor nearest 1)."""
        base = default_lr(cell.method, cell.options_dict())
        fp = cell.fingerprint(self.plan)
        scores = []
        for factor in self.plan.lr_grid:
            key = (cell.method, int(cell.ipc), float(factor), fp)
            if key not in self.tuning:
                t0 = time.perf_counter()
                val = self.valset()
                tune_cell = Cell("distill", cell.method, cell.ipc, "random", "uniform", "none", "none", cell.steps,
                                 cell.options, 1, cell.eval_epochs)
                try:
                    d = _distill(val, tune_cell, self.plan.tune_seed, self.device, steps=cell.steps,
                                 lr_img=base * factor, progress=self.progress)
                except FloatingPointError:  # this learning rate diverges: never the pick
                    d = None
                if d is None or not np.all(np.isfinite(d.images.numpy())):
                    acc = 0.0
                else:
                    res = _evaluate(d.images, d.eval_labels(), val.test, runs=1, epochs=cell.eval_epochs,
                                    width=self.plan.eval_width, seed=self.plan.eval_seed - 1, device=self.device,
                                    progress=self.progress)
                    acc = float(res.mean)
                self.tuning.add({"method": cell.method, "ipc": cell.ipc, "factor": float(factor), "lr_img": base * factor,
                                 "steps": cell.steps, "val_accuracy": acc, "val_size": len(val.test),
                                 "seed": self.plan.tune_seed, "eval_epochs": cell.eval_epochs,
                                 "seconds": time.perf_counter() - t0, "fingerprint": fp, "finished_at": _now()})
            scores.append((float(self.tuning.get(key)["val_accuracy"]), -abs(math.log(factor)), factor))
        best = max(scores)
        return best[2], base * best[2]


# ---------------------------------------------------------------------------- entry point
def run_ablation(plan: Plan, out: str | Path, *, dataset=None, root: str | Path | None = None,
                 device: str | torch.device = "auto", resume: bool = False, overwrite: bool = False,
                 progress: bool = True, command: str | None = None) -> AblationResult:
    """Run every (cell, seed) of ``plan`` not yet in ``out/results.csv`` and write the summary files.

    ``dataset``: a loaded Dataset (default: ``data.load(plan.dataset, root)``). ``out`` must be new or
    empty unless ``resume`` (continue: finished runs are skipped; the plan must match the one that made
    ``out``, seeds may differ) or ``overwrite`` (delete the bench files in ``out`` first).
    ``command``: the command line, recorded in table.md.
    """
    from tqdm.auto import tqdm

    from dd_explore import data
    from dd_explore.bench.report import write_reports
    from dd_explore.device import resolve_device

    start = time.perf_counter()
    if dataset is None:
        dataset = data.load(plan.dataset, root=root)
    check_plan(plan, dataset)
    dev = resolve_device(device)
    out = Path(out)
    prepare_out(out, plan, resume, overwrite)
    runner = _Runner(plan, dataset, out, dev, progress)
    units = [(c, s) for c in plan.cells for s in plan.seeds]
    bar = tqdm(units, desc=f"bench {plan.name}", disable=not progress, unit="run")
    for i, (cell, seed) in enumerate(bar):
        bar.set_postfix_str(f"{cell.key} seed {seed}", refresh=True)
        if runner.done(cell, seed):
            runner.skipped += 1
            continue
        try:
            row = runner.run_unit(cell, seed)
        except FloatingPointError as exc:  # a diverged run is a result: record it, keep going
            logger.warning("%s seed %d diverged: %s", cell.key, seed, exc)
            row = runner.base_row(cell, seed)
            row.update(accuracy="", accuracies=[], note=f"diverged: {exc}", finished_at=_now())
        runner.results.add(row)
        runner.computed += 1
        last_of_cell = i + 1 == len(units) or units[i + 1][0] is not cell
        if last_of_cell:
            write_reports(plan, runner.results.rows, out, dataset=dataset, device=dev, command=command,
                          tuning=runner.tuning.rows)
    bar.close()
    summaries = write_reports(plan, runner.results.rows, out, dataset=dataset, device=dev, command=command,
                              tuning=runner.tuning.rows)
    return AblationResult(plan=plan, rows=tuple(runner.results.rows), summaries=tuple(summaries),
                          computed=runner.computed, skipped=runner.skipped, out=out,
                          seconds=time.perf_counter() - start)

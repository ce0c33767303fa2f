"""What a benchmark runs: cells (one configuration each) x seeds, with their budgets.

A :class:`Cell` is one configuration of the ablation table: a distillation (method, IPC, init, batches,
weighting, optional fairness control, steps, options), a coreset baseline (a selection evaluated
directly) or the whole training split. A :class:`Plan` is the list of cells, the seeds each cell runs
with, the evaluation budgets and the tuning grid of the learning-rate control. :func:`make_plan` builds
the three named plans (``quick``, ``standard``, ``complete``; docs/bench.md says what each runs).

>>> plan = make_plan("quick")
>>> plan.name, plan.seeds, len(plan.cells) > 0
('quick', (0, 1), True)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Sequence

KINDS = ("distill", "coreset", "whole")
CONTROLS = ("none", "equal-time", "lr-tuned")
PLANS = ("quick", "standard", "complete")
SENSITIVITY_INITS = ("sensitivity-kmeans", "sensitivity-kmeans-stratified")
SHORT = {"random": "random", "sensitivity-kmeans": "s-kmeans", "sensitivity-kmeans-stratified": "s-kmeans-strat",
         "sensitivity-krr": "s-krr", "herding": "herding", "kcenter": "k-center", "noise": "noise"}


@dataclass(frozen=True)
class Cell:
    """One row of the ablation table (run once per seed).

    ``kind``: "distill" (``method`` = a distillation method), "coreset" (``method`` = a selection method,
    the selected real images evaluated directly) or "whole" (the whole training split, ``ipc`` = 0).
    ``batches``: "uniform" or "importance"; ``weighting``: "none" (unweighted) or "reweight" (1/(n_c q));
    ``control``: "none", "equal-time" (uniform batches given the steps that fit in the wall time of the
    random-init importance run of the same seed) or "lr-tuned" (uniform batches with the image learning
    rate picked on a validation split of the training set). ``steps``: distillation steps; ``options``:
    sorted (name, value) pairs passed to ``distill.run``; ``eval_runs`` networks of ``eval_epochs``
    epochs evaluate each seed.
    """

    kind: str
    method: str
    ipc: int
    init: str = "random"
    batches: str = "uniform"
    weighting: str = "none"
    control: str = "none"
    steps: int = 0
    options: tuple = ()
    eval_runs: int = 1
    eval_epochs: int = 300

    # ------------------------------------------------------------------ names
    @property
    def variant(self) -> str:
        """"uniform", "importance" (unweighted) or "importance-rw" (reweighted)."""
        if self.batches == "importance":
            return "importance-rw" if self.weighting == "reweight" else "importance"
        return "uniform"

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``dm/ipc10/sensitivity-kmeans/importance`` or ``coreset/herding/ipc10``."""
        if self.kind == "whole":
            return "whole"
        if self.kind == "coreset":
            return f"coreset/{self.method}/ipc{self.ipc}"
        key = f"{self.method}/ipc{self.ipc}/{self.init}/{self.variant}"
        return key if self.control == "none" else f"{key}@{self.control}"

    @property
    def label(self) -> str:
        """Short human label for tables and figures."""
        if self.kind == "whole":
            return "whole train split"
        if self.kind == "coreset":
            return f"coreset {SHORT.get(self.method, self.method)}"
        names = {"uniform": "uniform", "importance": "importance", "importance-rw": "importance (reweighted)"}
        text = f"{SHORT.get(self.init, self.init)} / {names[self.variant]}"
        if self.control == "equal-time":
            text += " [equal time]"
        elif self.control == "lr-tuned":
            text += " [lr tuned]"
        return text

    @property
    def is_reference(self) -> bool:
        return self.kind == "distill" and self.init == "random" and self.batches == "uniform" and self.control == "none"

    @property
    def reference_key(self) -> str | None:
        """The cell every difference is taken against: random init + uniform batches of the same method and
        IPC (the random coreset of the same IPC for coresets; none for the whole split)."""
        if self.kind == "whole":
            return None
        if self.kind == "coreset":
            return None if self.method == "random" else f"coreset/random/ipc{self.ipc}"
        return None if self.is_reference else f"{self.method}/ipc{self.ipc}/random/uniform"

    @property
    def importance_key(self) -> str:
        """The importance run an equal-time control matches (random init, unweighted importance)."""
        return f"{self.method}/ipc{self.ipc}/random/importance"

    def options_dict(self) -> dict:
        return dict(self.options)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["options"] = dict(self.options)
        return d

    def fingerprint(self, plan: "Plan") -> str:
        """Hash of everything that determines this cell's result (cell, dataset, evaluation model)."""
        payload = {"cell": self.to_dict(), "dataset": plan.dataset, "eval_width": plan.eval_width,
                   "eval_seed": plan.eval_seed, "eval_networks": "SeedSequence"}  # rows of seed + r networks redone
        if self.control == "lr-tuned":
            payload["tune"] = {"grid": list(plan.lr_grid), "seed": plan.tune_seed, "val": plan.val_fraction}
        return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Plan:
    """Cells x seeds plus what is shared: the data set, the evaluation network width and seeds, and the
    grid of image-learning-rate factors (of the method's default) of the lr-tuned control, tuned with
    ``tune_seed`` on a stratified ``val_fraction`` of the training split. Seed ``s`` of every cell is
    evaluated with evaluation seed ``eval_seed + s`` (``evaluate`` spawns one child seed per network from
    it), so the cells' seed-``s`` results share their evaluation networks (paired)."""

    name: str
    dataset: str
    seeds: tuple[int, ...]
    cells: tuple[Cell, ...]
    lr_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    tune_seed: int = 0
    val_fraction: float = 0.2
    eval_seed: int = 1000
    eval_width: int = 128
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "dataset": self.dataset, "seeds": list(self.seeds),
                "cells": [c.to_dict() for c in self.cells], "lr_grid": list(self.lr_grid),
                "tune_seed": self.tune_seed, "val_fraction": self.val_fraction, "eval_seed": self.eval_seed,
                "eval_width": self.eval_width, "notes": list(self.notes)}

    def fingerprint(self) -> str:
        """Hash of the plan without its seeds (adding seeds to a finished bench is allowed)."""
        d = self.to_dict()
        d.pop("seeds")
        d.pop("notes")
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def cell(self, key: str) -> Cell | None:
        for c in self.cells:
            if c.key == key:
                return c
        return None

    @property
    def units(self) -> int:
        return len(self.cells) * len(self.seeds)

    def describe(self) -> str:
        """Multi-line text: the cells grouped by IPC and method, with steps and evaluation budgets."""
        lines = [f"plan {self.name!r} on {self.dataset}: {len(self.cells)} cells x {len(self.seeds)} seeds "
                 f"{list(self.seeds)} = {self.units} runs; evaluation ConvNet width {self.eval_width}"]
        for ipc in sorted({c.ipc for c in self.cells}):
            group = [c for c in self.cells if c.ipc == ipc]
            lines.append(f"  IPC {ipc}:" if ipc else "  whole split:")
            for c in group:
                budget = f"{c.eval_runs} net x {c.eval_epochs} epochs per seed"
                steps = f"{c.steps} steps, " if c.kind == "distill" else ""
                opts = f" {c.options_dict()}" if c.options else ""
                lines.append(f"    {c.key:<58} {steps}{budget}{opts}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the named plans
@dataclass(frozen=True)
class _Budget:
    """Per-plan budgets: steps per (method, ipc), evaluation epochs per IPC, the cell grid per (method,
    ipc), the inits per method, the coreset baselines per IPC and the distillation options per method."""

    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    ipcs: tuple[int, ...]
    steps: dict
    eval_epochs: dict
    whole_epochs: int
    grid: dict  # (method, ipc) -> "factorial" | "core" | "quick" | "minimal" | "pair"
    inits: dict  # method -> inits of the grid
    coresets: dict  # ipc -> selection methods evaluated directly
    lr_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    options: dict = field(default_factory=dict)  # method -> distill options
    controls: tuple[int, ...] = ()  # IPCs that get the two uniform controls (grids quick/minimal/pair)
    control_methods: tuple[str, ...] | None = None  # ... for these methods only (None: every method)
    inits_at: dict = field(default_factory=dict)  # (method, ipc) -> inits, overriding ``inits``
    notes: tuple[str, ...] = ()


def _budget(name: str) -> _Budget:
    if name == "quick":
        return _Budget(
            seeds=(0, 1), methods=("dm", "kip"), ipcs=(1, 10),
            steps={("dm", 1): 10, ("dm", 10): 10, ("kip", 1): 40, ("kip", 10): 40},
            eval_epochs={1: 30, 10: 15}, whole_epochs=1,
            grid={("dm", 1): "quick", ("kip", 1): "quick", ("dm", 10): "minimal", ("kip", 10): "minimal"},
            inits={"dm": ("random", "sensitivity-kmeans"), "kip": ("random", "sensitivity-kmeans")},
            coresets={1: ("random", "herding", "kcenter"), 10: ("random", "herding")},
            lr_grid=(1.0, 3.0), options={"dm": {"width": 32}}, controls=(1,), control_methods=("dm",),
            notes=("quick: a smoke test of every part of the bench (2 seeds, tiny budgets); not evidence",),
        )
    if name == "standard":
        return _Budget(
            seeds=(0, 1, 2, 3, 4), methods=("dm", "kip", "dc"), ipcs=(1, 10, 50),
            steps={("dm", 1): 50, ("dm", 10): 50, ("dm", 50): 20, ("kip", 1): 300, ("kip", 10): 300, ("dc", 1): 5},
            eval_epochs={1: 200, 10: 60, 50: 20}, whole_epochs=5,
            grid={("dm", 1): "core", ("dm", 10): "core", ("dm", 50): "pair", ("kip", 1): "core",
                  ("kip", 10): "core", ("dc", 1): "minimal"},
            inits={"dm": ("random", "sensitivity-kmeans", "sensitivity-kmeans-stratified"),
                   "kip": ("random", "sensitivity-kmeans", "sensitivity-krr"),
                   "dc": ("random", "sensitivity-kmeans")},
            # at IPC 1 (k = 1 cluster per class) the stratified variant draws from the same distribution as
            # s-kmeans: not repeated there
            inits_at={("dm", 1): ("random", "sensitivity-kmeans")},
            coresets={1: ("random", "herding", "kcenter", "sensitivity-kmeans"),
                      10: ("random", "herding", "kcenter", "sensitivity-kmeans"),
                      50: ("random", "sensitivity-kmeans")},
            lr_grid=(1.0, 2.0, 4.0), options={"dm": {"width": 64}, "dc": {"width": 64}},
            notes=("standard: the plan that fits about 2 hours on the 2-core CPU machine; reduced budgets, "
                   "see docs/bench.md",),
        )
    if name == "complete":
        from dd_explore.distill.methods import METHODS

        every = tuple(METHODS.names())  # every registered method
        pairs = [(m, i) for m in every for i in (1, 10, 50) if not (m in ("dc", "dsa") and i == 50)]
        return _Budget(
            seeds=(0, 1, 2, 3, 4), methods=every, ipcs=(1, 10, 50),
            steps={(m, i): METHODS.get(m).default_steps for m, i in pairs},
            eval_epochs={1: 300, 10: 300, 50: 300}, whole_epochs=300,
            grid={(m, i): "factorial" for m, i in pairs},
            inits={m: inits_for(m) for m in every},
            coresets={i: ("random", "herding", "kcenter", "sensitivity-kmeans", "sensitivity-kmeans-stratified")
                      for i in (1, 10, 50)},
            lr_grid=(0.25, 0.5, 1.0, 2.0, 4.0),
            # MTT with online target segments in every cell, so that uniform and importance batches differ in
            # the sampling distribution only (buffer segments draw no real batch)
            options={"mtt": {"segment": "online"}},
            notes=("complete: the whole grid at the full protocol (300 epochs, width 128; DC/DSA at IPC 1 and 10, "
                   "their IPC 50 runs cost hours each; MTT with online segments); weeks on this CPU, meant for a GPU",),
        )
    raise ValueError(f"plan must be one of {list(PLANS)}; got {name!r}")


def inits_for(method: str) -> tuple[str, ...]:
    """Every init of the ablation for ``method``: random, the two k-means sensitivity variants, and the KRR
    sensitivity for KIP (the kernel method the KRR loss is made for)."""
    return ("random",) + SENSITIVITY_INITS + (("sensitivity-krr",) if method == "kip" else ())


def grid_cells(method: str, ipc: int, grid: str, steps: int, options: dict, eval_epochs: int,
               inits: Sequence[str] | None = None, controls: bool | None = None, eval_runs: int = 1) -> list[Cell]:
    """The distillation cells of one (method, IPC), reference first and the controls last.

    ``inits`` (default :func:`inits_for`), the first being "random". ``factorial``: every init x
    {uniform, importance, importance reweighted}; ``core``: every init with uniform batches, random
    init with both importance variants, each sensitivity init with unweighted importance; ``quick``:
    random and the first sensitivity init x {uniform, importance}, plus random with reweighted
    importance; ``minimal``: random and the first sensitivity init x {uniform, importance}; ``pair``:
    the reference and the full method (first sensitivity init + importance). ``controls`` (default:
    factorial and core only) adds the two uniform controls (equal wall time, tuned learning rate).
    """
    opts = tuple(sorted(options.items()))
    inits = tuple(inits) if inits is not None else inits_for(method)
    if not inits or inits[0] != "random":
        raise ValueError(f"inits must start with 'random' (the reference); got {list(inits)}")
    sens = inits[1] if len(inits) > 1 else None

    def cell(init, batches="uniform", weighting="none", control="none"):
        return Cell("distill", method, ipc, init, batches, weighting, control, steps, opts, eval_runs, eval_epochs)

    cells: list[Cell] = []
    if grid == "factorial":
        for init in inits:
            cells += [cell(init), cell(init, "importance"), cell(init, "importance", "reweight")]
    elif grid == "core":
        cells += [cell(init) for init in inits]
        cells += [cell("random", "importance"), cell("random", "importance", "reweight")]
        cells += [cell(init, "importance") for init in inits[1:]]
    elif grid in ("quick", "minimal", "pair"):
        if sens is None:
            raise ValueError(f"grid {grid!r} needs a sensitivity init after 'random'; got {list(inits)}")
        if grid == "pair":
            cells += [cell("random"), cell(sens, "importance")]
        else:
            cells += [cell("random"), cell(sens), cell("random", "importance")]
            if grid == "quick":
                cells.append(cell("random", "importance", "reweight"))
            cells.append(cell(sens, "importance"))
    else:
        raise ValueError(f"grid must be factorial, core, quick, minimal or pair; got {grid!r}")
    if controls if controls is not None else grid in ("factorial", "core"):
        if grid == "pair":
            cells.insert(1, cell("random", "importance"))  # the equal-time control matches this run
        cells += [cell("random", control="equal-time"), cell("random", control="lr-tuned")]
    return cells


# ---------------------------------------------------------------------------- cost estimate
# CPU seconds of one thread, measured on the 2-core machine of this project (mnist5k, 28x28; see
# docs/bench.md). The quick plan's ablation ran in 5.2 CPU minutes against 6.6 estimated. Two threads on an
# idle machine are assumed about 1.6x faster; on a machine busy with other jobs two threads were measured
# several times slower than one (OpenMP oversubscription). A rough guide (+-50%).
_TEST_PASS = 2.5  # one network's pass over the 1000 test images
_TWO_THREADS = 1.6


def _eval_cost(n_images: int, epochs: int, width: int) -> float:
    per_epoch = 0.03 + (0.0023 if n_images <= 256 else 0.0032) * n_images
    return (_TEST_PASS + epochs * per_epoch) * (width / 128) ** 1.5


def _step_cost(method: str, ipc: int, options: dict) -> float:
    n_syn = 10 * ipc
    width = options.get("width", 128)
    if method == "kip":
        return 0.012 + 0.0003 * n_syn
    if method == "dm":
        return (0.49 + 0.0016 * n_syn) * (width / 64) ** 1.2
    if method == "mtt":  # syn_steps 20 unrolled over the synthetic set + 30 online real steps (measured at width 32)
        return (0.06 * n_syn + 2.0) * (width / 32) ** 1.2
    outer = {1: 1, 10: 10, 50: 50}.get(ipc, ipc)
    return 4.0 * outer * (width / 64) ** 1.2 * (1.5 if method == "dsa" else 1.0)


def estimate_seconds(plan: Plan, threads: int = 1) -> float:
    """Rough wall seconds of ``plan`` on mnist5k on the project's 2-core CPU with ``threads`` torch threads
    (1 or 2) and nothing else running (+-50%; 28x28 images only)."""
    total = 0.0
    for c in plan.cells:
        n = 4000 if c.kind == "whole" else 10 * c.ipc
        unit = _eval_cost(n, c.eval_epochs, plan.eval_width) * c.eval_runs
        if c.kind == "distill":
            opts = c.options_dict()
            steps = c.steps * (1.3 if c.control == "equal-time" else 1.0)
            unit += steps * _step_cost(c.method, c.ipc, opts)
            if c.batches == "importance" and c.method == "dm":
                unit += 1 + 0.03 * 10 * c.ipc + 0.12 * c.steps
            if c.control == "lr-tuned":
                total += len(plan.lr_grid) * unit * 0.9 / len(plan.seeds)
        total += unit * len(plan.seeds)
    return total / (_TWO_THREADS if threads >= 2 else 1.0)


def _check_subset(name: str, asked: Sequence | None, available: Sequence, plan: str) -> tuple:
    if asked is None:
        return tuple(available)
    asked = tuple(asked)
    missing = [a for a in asked if a not in available]
    if missing:
        raise ValueError(f"{name} {missing} not in the {plan!r} plan; it has {list(available)}")
    if not asked:
        raise ValueError(f"{name} must name at least one of {list(available)}; got none")
    return asked


def _positive(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def make_plan(name: str = "standard", dataset: str = "mnist5k", *, seeds: Iterable[int] | None = None,
              methods: Sequence[str] | None = None, ipcs: Sequence[int] | None = None, steps: int | None = None,
              eval_epochs: int | None = None, width: int | None = None, whole: bool = True) -> Plan:
    """One of the named plans (``quick``, ``standard``, ``complete``), optionally narrowed.

    ``seeds``: replace the plan's seeds; ``methods``/``ipcs``: a subset of the plan's; ``steps``: the same
    number of steps for every distillation cell; ``eval_epochs``: for every evaluation (whole split
    included); ``width``: the ConvNet width of the distillation networks (DM/DC/DSA) and of the
    evaluation; ``whole``: include the whole-training-split baseline.
    """
    from dd_explore.distill import list_methods

    b = _budget(name)
    unknown = [m for m in (methods or ()) if m not in list_methods()]
    if unknown:
        raise ValueError(f"unknown distillation method(s) {unknown}; valid: {list_methods()}")
    methods = _check_subset("methods", methods, b.methods, name)
    ipcs = _check_subset("ipc", [int(i) for i in ipcs] if ipcs is not None else None, b.ipcs, name)
    if seeds is not None:
        seeds = tuple(seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ValueError(f"seeds must be one or more non-negative ints; got {list(seeds)}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct; got {list(seeds)}")
    for label, value in (("steps", steps), ("eval_epochs", eval_epochs), ("width", width)):
        _positive(label, value)
    cells: list[Cell] = []
    for ipc in ipcs:
        e_epochs = eval_epochs or b.eval_epochs[ipc]
        cells += [Cell("coreset", m, ipc, eval_epochs=e_epochs) for m in b.coresets[ipc]]
        for method in methods:
            if (method, ipc) not in b.grid:
                continue
            options = dict(b.options.get(method, {}))
            if width is not None and method != "kip":
                options["width"] = width
            wants = ipc in b.controls and (b.control_methods is None or method in b.control_methods)
            controls = True if wants else None
            cells += grid_cells(method, ipc, b.grid[(method, ipc)], steps or b.steps[(method, ipc)], options,
                                e_epochs, inits=b.inits_at.get((method, ipc), b.inits[method]), controls=controls)
    if whole:
        cells.append(Cell("whole", "whole", 0, eval_epochs=eval_epochs or b.whole_epochs))
    notes = list(b.notes)
    widths = sorted({f"{c.method} {c.options_dict().get('width', 128)}" for c in cells if c.kind == "distill" and c.method != "kip"})
    if widths:
        notes.append("ConvNet width of the distillation networks: " + ", ".join(widths)
                     + f"; evaluation width {width or 128}")
    if steps or eval_epochs or width:
        notes.append(f"budgets overridden on the command line: steps={steps}, eval_epochs={eval_epochs}, width={width}")
    return Plan(name=name, dataset=dataset, seeds=seeds if seeds is not None else b.seeds, cells=tuple(cells),
                lr_grid=b.lr_grid, eval_width=width or 128, notes=tuple(notes))


def with_cells(plan: Plan, cells: Iterable[Cell]) -> Plan:
    """A copy of ``plan`` with other cells (for custom plans and tests)."""
    return replace(plan, cells=tuple(cells))

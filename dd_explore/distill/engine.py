"""The distillation loop shared by every method: state, step, checkpoint, callbacks.

>>> from dd_explore import data, distill
>>> ds = data.load("digits")
>>> res = distill.run(ds, "dm", ipc=1, steps=5, width=16, seed=0)      # doctest: +SKIP
>>> res.images.shape, res.stopped                                       # doctest: +SKIP
(torch.Size([10, 1, 8, 8]), False)
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from dd_explore.data.dataset import Dataset
from dd_explore.device import resolve_device
from dd_explore.distributed import Context, all_reduce_sum, broadcast_object, comm_seconds, gather_objects, owned
from dd_explore.distill.callbacks import (
    Callback,
    CheckpointEvery,
    Evaluation,
    OnStep,
    ProgressBar,
    RunControl,
    RunFacts,
    StopRun,
    soft_labels,
)
from dd_explore.distill.importance import (
    HIST_EDGES,
    ClassImportance,
    ImportanceOptions,
    ImportanceSampler,
    NetworkProbe,
    UniformSampler,
)
from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import MethodContext, RealBatches, class_labels

logger = logging.getLogger(__name__)

BATCHES = ("uniform", "importance")
GENERATORS = ("init", "method", "batches", "probe")


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True)
class StepInfo:
    """What every callback sees after a step.

    ``step``: steps done (1-based; the synthetic set after ``step`` updates); ``steps``: the target;
    ``images`` (N, C, H, W), ``labels`` (N,), ``targets`` (N, C) or None: the synthetic set (detached CPU
    copies); ``drawn``: per class, the global train indices drawn in this step; ``importance``: per-class
    :class:`~dd_explore.distill.importance.ClassImportance` of the q_t used (None for uniform batches),
    computed at step ``importance_step`` (``refreshed``: in this step); ``step_time``/``probe_time``/
    ``elapsed``: seconds (the probe time is part of the step time); ``extra``: method-specific numbers;
    ``comm_time``: seconds of the step spent in collectives across ranks (0 in one process).
    """

    step: int
    steps: int
    method: str
    loss: float
    images: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor | None
    drawn: tuple[np.ndarray, ...]
    importance: tuple[ClassImportance, ...] | None
    importance_step: int | None
    refreshed: bool
    step_time: float
    probe_time: float
    elapsed: float
    extra: dict | None = None
    comm_time: float = 0.0

    def to_event(self) -> dict:
        """The JSON line of ``events.jsonl``."""
        return {
            "step": self.step, "loss": self.loss, "step_time": self.step_time, "probe_time": self.probe_time,
            "comm_time": self.comm_time,
            "elapsed": self.elapsed, "refreshed": self.refreshed, "importance_step": self.importance_step,
            "importance": None if self.importance is None else [c.to_dict() for c in self.importance],
            "drawn": [d.tolist() for d in self.drawn], "extra": self.extra,
        }


@dataclass(frozen=True)
class Checkpoint:
    """Passed to ``on_checkpoint``: ``state`` is what ``checkpoint.pt`` holds (tensors and plain values);
    ``final``: the last checkpoint of this call of :func:`run` (end, stop or interruption)."""

    step: int
    state: dict
    images: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor | None
    draw_counts: torch.Tensor
    train_labels: torch.Tensor
    final: bool = False


@dataclass(frozen=True)
class DistillResult:
    """The outcome of :func:`run`.

    ``images``/``labels``/``targets``: the distilled set (CPU; ``targets`` (N, C) when labels were
    learned, else None); ``initial_images``/``initial_labels``: the set before step 1; ``selection``: the
    :class:`~dd_explore.selection.Selection` of a selection init (None for noise; read from ``init/`` on resume);
    ``steps``: the target, ``steps_done``; ``stopped``: ended before ``steps`` (``stop_reason``: "stop",
    "interrupt" or "error"); ``losses``/``step_times``/``probe_times``: per step (all steps, across
    resumes); ``total_time``/``probe_time``/``probe_share``: seconds of step time and the probe's share;
    ``metrics``: evaluation results (``initial``, ``final``, ``history``; empty without evaluation);
    ``config``: what ``config.json`` holds; ``out``: the run directory or None. ``best``: with evaluation,
    the best evaluated set (``images``, ``labels``, ``targets``, ``step``, ``mean``, ``gain`` over the initial
    set under the same budget; also ``best.pt`` in the run directory), filled when the run evaluates.
    """

    images: torch.Tensor
    labels: torch.Tensor
    targets: torch.Tensor | None
    initial_images: torch.Tensor
    initial_labels: torch.Tensor
    selection: Any
    method: str
    ipc: int
    init: str
    batches: str
    seed: int
    steps: int
    steps_done: int
    stopped: bool
    stop_reason: str | None
    losses: np.ndarray
    step_times: np.ndarray
    probe_times: np.ndarray
    total_time: float
    probe_time: float
    probe_share: float
    metrics: dict
    config: dict
    out: Path | None
    best: dict = field(default_factory=dict)

    def eval_labels(self) -> torch.Tensor:
        """Labels to train on: the class ids, or learned targets turned into probabilities."""
        return self.labels if self.targets is None else soft_labels(self.targets)


# ---------------------------------------------------------------------------- validation helpers
def list_inits() -> list[str]:
    """Valid ``init=`` names: every selection method, plus "noise"."""
    try:
        from dd_explore.selection import list_methods
    except ImportError:  # pragma: no cover - selection package not installed
        return ["noise"]
    return sorted(set(list_methods()) | {"noise"})


def _check_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} int; got {value!r}")


def _split_options(method_cls, options: dict) -> tuple[dict, dict]:
    method_names = set(method_cls.option_names())
    imp_names = set(ImportanceOptions.names())
    unknown = sorted(set(options) - method_names - imp_names)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for method {method_cls.name!r}; valid: method options "
            f"{sorted(method_names)}, importance options {sorted(imp_names)}")
    return ({k: v for k, v in options.items() if k in method_names},
            {k: v for k, v in options.items() if k in imp_names})


def _evaluation_callback(evaluate) -> Evaluation | None:
    if evaluate is None or evaluate is False:
        return None
    if evaluate is True:
        return Evaluation()
    if isinstance(evaluate, Evaluation):
        return evaluate
    if isinstance(evaluate, dict):
        try:
            return Evaluation(**evaluate)
        except TypeError as exc:
            raise ValueError(f"evaluate must be True, an Evaluation or a dict of its arguments; {exc}") from exc
    raise ValueError(f"evaluate must be None, True, a dict or an Evaluation; got {evaluate!r}")


def _as_callbacks(callbacks: Iterable) -> list[Callback]:
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks) and not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    out = []
    for cb in callbacks:
        if isinstance(cb, Callback):
            out.append(cb)
        elif callable(cb):
            out.append(OnStep(cb))
        else:
            raise ValueError(f"callbacks must be Callback instances or functions of StepInfo; got {cb!r}")
    return out


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return obj


# ---------------------------------------------------------------------------- the loop
class _Engine:
    """Holds the state of one run; :func:`run` drives it."""

    def __init__(self, dataset, method, ipc, batches, imp_options, refresh, seed, device, progress=False,
                 dist: Context = Context()):
        self.dataset = dataset
        self.method = method
        self.ipc = ipc
        self.device = device
        seeds = np.random.SeedSequence(seed).spawn(len(GENERATORS))
        self.gens = {name: torch.Generator().manual_seed(int(s.generate_state(1, np.uint64)[0] >> 1))
                     for name, s in zip(GENERATORS, seeds)}
        on_device = dataset.to(device) if device.type != "cpu" else dataset  # the one copy on the device
        self.train = on_device.train  # real images are fetched through it: split.batch(idx, device)
        self.train_labels_dev = on_device.train.labels
        labels = dataset.train.labels
        if batches == "importance":
            self.sampler = ImportanceSampler(labels, dataset.num_classes, imp_options, refresh)
            probe = imp_options.probe if imp_options.probe != "auto" else type(method).default_probe
            self.probe = NetworkProbe(imp_options) if probe == "network" else None
        else:
            self.sampler = UniformSampler(labels, dataset.num_classes)
            self.probe = None
        self.ctx = MethodContext(dataset=on_device, ipc=ipc, device=device, generator=self.gens["method"],
                                 progress=progress, dist=dist)
        self.losses: list[float] = []
        self.step_times: list[float] = []
        self.probe_times: list[float] = []
        self.elapsed = 0.0
        self.step = 0

    # ------------------------------------------------------------ state
    def capture(self) -> dict:
        """A deep copy of everything needed to resume at ``self.step``."""
        return {
            "step": self.step,
            "method": _clone(self.method.state_dict()),
            "sampler": _clone(self.sampler.state_dict()),
            "probe": _clone(self.probe.state_dict()) if self.probe is not None else {},
            "generators": {k: g.get_state() for k, g in self.gens.items()},
            "history": {"loss": torch.tensor(self.losses, dtype=torch.float64),
                        "step_time": torch.tensor(self.step_times, dtype=torch.float64),
                        "probe_time": torch.tensor(self.probe_times, dtype=torch.float64)},
            "elapsed": self.elapsed,
        }

    def restore(self, state: dict) -> None:
        self.step = int(state["step"])
        self.method.load_state_dict(state["method"])
        self.sampler.load_state_dict(state["sampler"])
        if self.probe is not None:
            self.probe.load_state_dict(state["probe"], self.ctx.dataset, self.device)
        for k, g in self.gens.items():
            g.set_state(state["generators"][k])
        h = state["history"]
        self.losses = h["loss"].tolist()
        self.step_times = h["step_time"].tolist()
        self.probe_times = h["probe_time"].tolist()
        self.elapsed = float(state["elapsed"])

    def synthetic_cpu(self):
        images, labels, targets = self.method.synthetic()
        return images.cpu(), labels.cpu(), None if targets is None else targets.cpu()

    # ------------------------------------------------------------ one step
    def refresh(self) -> None:
        """Score the sampler's pool with the probe and update q_t. Across ranks every rank trains the probe
        alike (same draws) and scores its block of the pool; the blocks are gathered in rank order."""
        sampler = self.sampler
        pool = sampler.pool(self.gens["probe"])
        dist = self.ctx.dist
        part = pool[owned(pool.numel(), dist)] if dist.active else pool
        dev_part = part.to(self.device)
        x, y = self.train.batch(dev_part, self.device), self.train_labels_dev.index_select(0, dev_part)
        if self.probe is not None:
            images, labels, _ = self.method.synthetic()
            losses = self.probe.losses(self.ctx.dataset, images, labels, x, y, self.gens["probe"], self.device)
        else:
            losses = self.method.probe_losses(self.ctx, x, y)
        if dist.active:
            parts = gather_objects(None if losses is None else losses.detach().cpu())
            losses = None if any(p is None for p in parts) else torch.cat(parts)
        sampler.update(self.step, pool, losses)

    def do_step(self, steps: int) -> StepInfo:
        t0 = time.perf_counter()
        c0 = comm_seconds()
        probe_time = 0.0
        refreshed = self.sampler.needs_refresh(self.step)
        if refreshed:
            self.refresh()
            probe_time = time.perf_counter() - t0
        batches = RealBatches(self.train, self.sampler, self.gens["batches"], self.device)
        out = self.method.step(self.ctx, batches)
        if not math.isfinite(out.loss):
            raise FloatingPointError(
                f"the {self.method.name} loss became {out.loss} at step {self.step + 1}; lower the learning rates")
        step_time = time.perf_counter() - t0
        self.step += 1
        self.elapsed += step_time
        self.losses.append(out.loss)
        self.step_times.append(step_time)
        self.probe_times.append(probe_time)
        images, labels, targets = self.synthetic_cpu()
        drawn = tuple(torch.cat(d).numpy() if d else np.zeros(0, dtype=np.int64) for d in batches.drawn)
        last = self.sampler.last_refresh
        return StepInfo(step=self.step, steps=steps, method=self.method.name, loss=out.loss, images=images,
                        labels=labels, targets=targets, drawn=drawn, importance=self.sampler.summary(),
                        importance_step=last, refreshed=refreshed, step_time=step_time, probe_time=probe_time,
                        elapsed=self.elapsed, extra=out.extra, comm_time=comm_seconds() - c0)

    def checkpoint(self, state: dict, config: dict, callbacks, initial, final: bool = False) -> Checkpoint:
        state = dict(state, config=json.dumps(config), initial_images=initial[0], initial_labels=initial[1])
        images, labels, targets = self._synthetic_from(state)
        counts = state["sampler"]["counts"]
        ck = Checkpoint(step=int(state["step"]), state=state, images=images, labels=labels, targets=targets,
                        draw_counts=counts, train_labels=self.dataset.train.labels.cpu(), final=final)
        for cb in callbacks:
            cb.on_checkpoint(ck)
        return ck

    def _synthetic_from(self, state: dict):
        return self.method.synthetic_from_state(state["method"], self.dataset.num_classes, self.ipc)


def _stratified_labels_ok(labels: torch.Tensor, num_classes: int, ipc: int) -> bool:
    return torch.equal(labels.cpu(), class_labels(num_classes, ipc))


def _initial_set(dataset: Dataset, init: str, ipc: int, seed: int, generator: torch.Generator):
    """(images, labels, selection) grouped by class."""
    n = dataset.num_classes * ipc
    if init == "noise":
        images = torch.randn((n, *dataset.image_shape), generator=generator)
        return images, class_labels(dataset.num_classes, ipc), None
    from dd_explore.selection import select

    selection = select(dataset.train.to("cpu"), dataset.train.labels.cpu(), ipc, method=init, features="pixels",
                       random_state=seed)
    idx = torch.as_tensor(np.asarray(selection.indices), dtype=torch.long)
    labels = dataset.train.labels.cpu()[idx]
    order = torch.argsort(labels, stable=True)
    idx, labels = idx[order], labels[order]
    if not _stratified_labels_ok(labels, dataset.num_classes, ipc):
        raise ValueError(f"init {init!r} did not return {ipc} images per class (got class counts "
                         f"{torch.bincount(labels, minlength=dataset.num_classes).tolist()})")
    return dataset.train.batch(idx, "cpu").clone(), labels, selection


@dataclass(frozen=True)
class RunSpec:
    """Everything a run is, validated and resolved (defaults filled in), before anything is written."""

    dataset: Dataset
    method: str
    ipc: int
    init: str
    batches: str
    steps: int
    seed: int
    device: torch.device
    method_options: dict
    importance: ImportanceOptions
    refresh: int
    evaluation: Evaluation | None
    callbacks: tuple
    checkpoint_every: int
    snapshot_every: int
    progress: bool
    out: Path | None
    resume: bool
    overwrite: bool
    config: dict
    dist: Context = Context()


def run(
    dataset: Dataset | str,
    method: str = "dm",
    ipc: int = 10,
    init: str = "random",
    batches: str = "uniform",
    steps: int | None = None,
    callbacks: Iterable = (),
    device: str | torch.device = "auto",
    seed: int = 0,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    *,
    evaluate=None,
    checkpoint_every: int | None = None,
    snapshot_every: int | None = None,
    progress: bool = False,
    control: RunControl | None = None,
    **options: Any,
) -> DistillResult:
    """Distill ``dataset`` into ``ipc`` images per class with ``method`` (see ``list_methods()``).

    ``init``: a selection method (``dd_explore.selection.list_methods()``) run on the train split with
    ``seed``, or "noise". ``batches``: "uniform" or "importance" (options: see
    :class:`~dd_explore.distill.importance.ImportanceOptions`). ``steps``: None -> the method's default
    (dm/kip/mtt 1000, dc/dsa 200). ``**options``: the method's options (e.g. ``lr_img``, ``batch_real``,
    ``width``) and the importance options (``gamma``, ``refresh``, ``weighting``, ...).
    ``callbacks``: :class:`~dd_explore.distill.callbacks.Callback` objects or functions of
    :class:`StepInfo`. ``out``: a run directory (refused if non-empty unless ``resume=True``, which
    continues to ``steps``, or ``overwrite=True``). ``evaluate``: True, a dict of
    :class:`~dd_explore.distill.callbacks.Evaluation` arguments or an Evaluation: protocol accuracy of
    the initial and final set (``metrics.json``). ``checkpoint_every`` (default steps // 20) and
    ``snapshot_every`` (default steps // 50): in steps. ``progress``: a tqdm bar. ``control``: a
    :class:`~dd_explore.distill.callbacks.RunControl` to stop the run from another thread.

    A :class:`~dd_explore.distill.callbacks.StopRun` from a callback or ``control.stop()`` ends the run
    after the current step with a final checkpoint (``result.stopped``); Ctrl-C or an exception writes
    the checkpoint of the last completed step, then propagates.
    """
    spec = validate_run(dataset, method, ipc, init, batches, steps, callbacks, device, seed, out, resume, overwrite,
                        evaluate, checkpoint_every, snapshot_every, progress, options)
    saved_state, old_metrics = read_run_dir(spec)
    engine = _Engine(spec.dataset, METHODS.create(spec.method, **spec.method_options), spec.ipc, spec.batches,
                     spec.importance, spec.refresh, spec.seed, spec.device, progress=spec.progress, dist=spec.dist)
    selection = None
    if saved_state is not None:
        initial = (saved_state["initial_images"], saved_state["initial_labels"])
        if (spec.out / "init").is_dir():
            from dd_explore.selection import Selection

            selection = Selection.load(spec.out / "init")
    else:
        images0, labels0, selection = _initial_set(spec.dataset, spec.init, spec.ipc, spec.seed, engine.gens["init"])
        initial = (images0, labels0)
    engine.method.setup(engine.ctx, initial[0], initial[1])
    if saved_state is not None:
        engine.restore(saved_state)
    prepare_run_dir(spec)
    return _Loop(spec, engine, initial, selection, control if control is not None else RunControl(),
                 old_metrics).run()


# ---------------------------------------------------------------------------- 1. validate -> RunSpec
def validate_run(dataset, method, ipc, init, batches, steps, callbacks, device, seed, out, resume, overwrite,
                 evaluate, checkpoint_every, snapshot_every, progress, options) -> RunSpec:
    """Check every argument of :func:`run` (ValueError naming it, its rule and value) and resolve the defaults."""
    from dd_explore import distributed

    dist = distributed.setup(device)  # joins the process group under torchrun / srun; world 1 otherwise
    device = distributed.rank_device(device)
    if isinstance(dataset, str):
        from dd_explore import data

        dataset = data.load(dataset)
    if not isinstance(dataset, Dataset):
        raise ValueError(f"dataset must be a dd_explore Dataset or a data set name; got {type(dataset).__name__}")
    method_cls = METHODS.get(method)
    method_opts, imp_opts = _split_options(method_cls, options)
    if batches not in BATCHES:
        raise ValueError(f"batches must be one of {list(BATCHES)}; got {batches!r}")
    if imp_opts and batches != "importance":
        raise ValueError(f"options {sorted(imp_opts)} apply to batches='importance' only; got batches={batches!r}")
    inits = list_inits()
    if init not in inits:
        raise ValueError(f"init must be one of {inits}; got {init!r}")
    counts = dataset.train.class_counts(dataset.num_classes)
    smallest = int(counts.min())
    if isinstance(ipc, bool) or not isinstance(ipc, (int, np.integer)) or not 1 <= ipc <= smallest:
        c = int(counts.argmin())
        raise ValueError(f"ipc must be a positive int no larger than the smallest class ({smallest} images in "
                         f"class {c}); got {ipc!r}")
    ipc = int(ipc)
    steps = method_cls.default_steps if steps is None else steps
    _check_int("steps", steps)
    _check_int("seed", seed, minimum=0)
    for name, value in (("checkpoint_every", checkpoint_every), ("snapshot_every", snapshot_every)):
        if value is not None:
            _check_int(name, value)
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other; pass at most one of them")
    m = method_cls(**method_opts)
    m.check(dataset, ipc)
    m.check_batches(batches)
    imp = ImportanceOptions(**imp_opts)
    imp.check()
    if imp.weighting is None:  # the method's default (MTT: reweight, so its online target segments stay unbiased)
        imp = replace(imp, weighting=method_cls.default_weighting)
    refresh = imp.refresh if imp.refresh is not None else method_cls.default_refresh
    dev = resolve_device(device)
    evaluation = _evaluation_callback(evaluate)
    if evaluation is not None:
        evaluation.check()
    user_callbacks = tuple(_as_callbacks(callbacks))
    checkpoint_every = checkpoint_every or max(1, steps // 20)
    snapshot_every = snapshot_every or max(1, steps // 50)
    importance_cfg = None
    if batches == "importance":
        probe = imp.probe if imp.probe != "auto" else method_cls.default_probe
        importance_cfg = dict(imp.to_dict(), refresh=refresh, probe=probe)
    from dd_explore.distill.rundir import FORMAT, versions

    config = {
        "format": FORMAT,
        "run": {"dataset": dataset.describe(), "method": method, "ipc": ipc, "init": init, "batches": batches,
                "seed": int(seed), "method_options": m.options_dict(), "importance": importance_cfg},
        "steps": int(steps),
        "device": str(dev),
        "record": {"checkpoint_every": checkpoint_every, "snapshot_every": snapshot_every},
        "evaluation": evaluation.protocol() if evaluation is not None else None,
        "hist_edges": list(HIST_EDGES[:-1]) + ["inf"],
        "versions": versions(),
    }
    out_path = Path(out) if out is not None else None
    if out_path is not None and out_path.exists() and not out_path.is_dir():
        raise ValueError(f"out must be a directory; {out_path} is a file")
    return RunSpec(dataset=dataset, method=method, ipc=ipc, init=init, batches=batches, steps=int(steps),
                   seed=int(seed), device=dev, method_options=method_opts, importance=imp, refresh=refresh,
                   evaluation=evaluation, callbacks=user_callbacks, checkpoint_every=checkpoint_every,
                   snapshot_every=snapshot_every, progress=bool(progress) and dist.main, out=out_path,
                   resume=bool(resume), overwrite=bool(overwrite), config=config, dist=dist)


# ---------------------------------------------------------------------------- 2. the run directory
def read_run_dir(spec: RunSpec) -> tuple[dict | None, dict]:
    """(checkpoint state or None, saved metrics) of the run in ``spec.out`` for a resume; refuses a non-empty
    directory without resume/overwrite and a resume whose configuration differs. Writes nothing. Across
    ranks, rank 0 reads and every rank gets its answer (or its error)."""
    if not spec.dist.active:
        return _read_run_dir(spec)
    answer = None
    if spec.dist.main:
        try:
            answer = _read_run_dir(spec)
        except Exception as exc:  # noqa: BLE001 - every rank raises rank 0's error
            answer = exc
    answer = broadcast_object(answer)
    if isinstance(answer, Exception):
        raise answer
    return answer


def _read_run_dir(spec: RunSpec) -> tuple[dict | None, dict]:
    out = spec.out
    if out is None or not out.exists() or not any(out.iterdir()):
        return None, {}
    if not (spec.resume or spec.overwrite):
        raise FileExistsError(f"out directory {out} is not empty; pass resume=True (--resume) to continue "
                              "the run in it or overwrite=True (--overwrite) to start over")
    if not spec.resume:
        return None, {}
    from dd_explore.distill.rundir import CHECKPOINT, PREVIOUS_CHECKPOINT, config_differences, load_checkpoint
    from dd_explore._io import read_json

    cfg_path = out / "config.json"
    if not cfg_path.exists():
        raise ValueError(f"cannot resume: {out} is not a run directory (no config.json)")
    diff = config_differences(read_json(cfg_path), spec.config)
    if diff:
        raise ValueError(f"cannot resume {out}: it was made with a different configuration; "
                         f"differing keys (saved -> new): {'; '.join(diff)}")
    if not ((out / CHECKPOINT).exists() or (out / PREVIOUS_CHECKPOINT).exists()):
        return None, {}
    state = load_checkpoint(out)
    metrics = read_json(out / "metrics.json") if (out / "metrics.json").exists() else {}
    return state, metrics


def prepare_run_dir(spec: RunSpec) -> None:
    """Clear the run files of an overwritten directory and create it (the first write of a run; rank 0's)."""
    if spec.out is None or not spec.dist.main:
        return
    if spec.overwrite and spec.out.exists():
        from dd_explore.distill.rundir import clear_run_files

        clear_run_files(spec.out)
    spec.out.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------- 3. the loop
class _Loop:
    """Runs the steps of ``engine`` with the callbacks, checkpoints and the final result."""

    def __init__(self, spec: RunSpec, engine: _Engine, initial, selection, control: RunControl, metrics: dict):
        self.spec, self.engine, self.initial, self.selection, self.control = spec, engine, initial, selection, control
        self.start = engine.step
        if self.start:
            logger.info("resuming %s at step %d of %d", spec.out, self.start, spec.steps)
        # the recorder first (a step is on disk before another callback can end the run), then the user's
        cbs: list[Callback] = []
        if spec.out is not None and spec.dist.main:  # one writer: rank 0
            from dd_explore.distill.rundir import Recorder

            cbs += [Recorder(spec.out, spec.snapshot_every), CheckpointEvery(spec.checkpoint_every)]
        if spec.evaluation is not None:  # before the user's: a live view sees this step's evaluation and guard
            cbs.append(spec.evaluation)
        cbs += list(spec.callbacks)
        if spec.progress:
            cbs.append(ProgressBar())
        self.callbacks = cbs
        self.started: list[Callback] = []
        control.attach(RunFacts(config=spec.config, out=spec.out, dataset=spec.dataset, device=spec.device,
                                steps=spec.steps, start_step=self.start, initial_images=initial[0],
                                initial_labels=initial[1], selection=selection), engine, metrics)

    def result(self, stop_reason: str | None) -> DistillResult:
        spec, engine = self.spec, self.engine
        images, labels, targets = engine.synthetic_cpu()
        total = float(sum(engine.step_times))
        probe_total = float(sum(engine.probe_times))
        return DistillResult(
            images=images, labels=labels, targets=targets, initial_images=self.initial[0],
            initial_labels=self.initial[1], selection=self.selection, method=spec.method, ipc=spec.ipc,
            init=spec.init, batches=spec.batches, seed=spec.seed, steps=spec.steps, steps_done=engine.step,
            stopped=stop_reason is not None, stop_reason=stop_reason, losses=np.array(engine.losses),
            step_times=np.array(engine.step_times), probe_times=np.array(engine.probe_times), total_time=total,
            probe_time=probe_total, probe_share=probe_total / total if total > 0 else 0.0,
            metrics=self.control.metrics, config=spec.config, out=spec.out, best=self.control.best)

    def end(self, state, reason, exc=None):
        """Final checkpoint from ``state`` and on_end (started callbacks); errors here do not hide ``exc``."""
        try:
            self.engine.checkpoint(state, self.spec.config, self.started, self.initial, final=True)
            result = self.result(reason)
            for cb in self.started:
                cb.on_end(result)
            return result
        except BaseException as second:
            if exc is None:
                raise
            logger.error("could not write the final checkpoint after %r: %r", exc, second)
            return None

    def agreed_stop(self, requested: bool) -> bool:
        """Whether to stop before the next step: a stop requested on any rank stops every rank."""
        return _agree(requested, self.spec.dist)

    def run(self) -> DistillResult:
        engine, control, cbs, config = self.engine, self.control, self.callbacks, self.spec.config
        steps = self.spec.steps
        try:
            for cb in cbs:
                cb.on_start(control)
                self.started.append(cb)
        except StopRun:
            return self.end(engine.capture(), "stop")
        except BaseException as exc:
            self.end(engine.capture(), _reason(exc), exc)
            raise
        if self.start == 0:
            engine.checkpoint(engine.capture(), config, cbs, self.initial)
        while engine.step < steps and not self.agreed_stop(control.stop_requested):
            pre = engine.capture()
            try:
                info = engine.do_step(steps)
            except BaseException as exc:
                engine.restore(pre)
                self.end(pre, _reason(exc), exc)
                raise
            recorded = self.spec.out is None or not self.spec.dist.main  # the recorder (first callback) wrote it
            stop = False
            try:
                for cb in cbs:
                    cb.on_step(info)
                    recorded = True
                if control.checkpoint_requested():
                    engine.checkpoint(engine.capture(), config, cbs, self.initial)
            except StopRun:
                stop = True
            except BaseException as exc:
                if not recorded:
                    # interrupted (e.g. Ctrl-C, SIGTERM) before the step's event was on disk: end at the previous
                    # step, so the final checkpoint and events.jsonl agree (load_run drops a later or torn event)
                    engine.restore(pre)
                self.end(engine.capture(), _reason(exc), exc)
                raise
            if stop and not self.spec.dist.active:
                return self.end(engine.capture(), "stop")
            if stop:
                control.stop()  # the ranks agree at the top of the loop
        return self.end(engine.capture(), "stop" if engine.step < steps else None)


def _agree(flag: bool, dist: Context) -> bool:
    """True on every rank when ``flag`` is on any rank (one process: ``flag``)."""
    if not dist.active:
        return flag
    return bool(all_reduce_sum(torch.tensor([int(flag)], dtype=torch.int64)).item())


def _reason(exc: BaseException) -> str:
    return "interrupt" if isinstance(exc, KeyboardInterrupt) else "error"

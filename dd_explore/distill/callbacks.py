"""Callbacks of the distillation loop, and the control object a callback (or another thread) uses.

A callback subclasses :class:`Callback` and overrides any of ``on_start(control)``, ``on_step(info)``
(a frozen :class:`~dd_explore.distill.engine.StepInfo` after every step), ``on_checkpoint(checkpoint)``
and ``on_end(result)``. To stop a run cleanly, raise :class:`StopRun` in a callback or call
``control.stop()`` (thread-safe: a notebook's Stop button may call it from another thread); the run
then writes a final checkpoint and returns with ``result.stopped == True``. A plain function in
``callbacks=`` is wrapped in :class:`OnStep`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

logger = logging.getLogger(__name__)


class StopRun(Exception):
    """Raise in a callback to end the run cleanly after the current step (final checkpoint written)."""


class Callback:
    """Base class: every hook is a no-op."""

    def on_start(self, control: "RunControl") -> None:
        pass

    def on_step(self, info) -> None:
        pass

    def on_checkpoint(self, checkpoint) -> None:
        pass

    def on_end(self, result) -> None:
        pass


@dataclass(frozen=True)
class RunFacts:
    """What a run tells its callbacks before ``on_start`` (read through :class:`RunControl`)."""

    config: dict
    out: Any
    dataset: Any
    device: Any
    steps: int
    start_step: int
    initial_images: Any
    initial_labels: Any
    selection: Any


class RunControl:
    """Shared between the loop and its callbacks: stop and checkpoint requests, the run's facts, metrics.

    Create one yourself and pass ``run(..., control=ctl)`` to stop a run from another thread before or
    while it runs (:meth:`stop`, :meth:`request_checkpoint`: safe from any thread). Once the run starts,
    the read-only ``config``, ``out``, ``dataset``, ``device``, ``steps``, ``start_step``,
    ``initial_images``/``initial_labels`` and ``selection`` describe it; ``metrics`` is the dict the
    evaluation callback fills; :meth:`synthetic`, :meth:`importance_q` and :meth:`draw_counts` read the
    live state.
    """

    def __init__(self):
        self._stop = threading.Event()
        self._checkpoint = threading.Event()
        self._facts: RunFacts | None = None
        self._engine = None
        self.metrics: dict = {}
        self.best: dict = {}  # the best evaluated set (Evaluation fills it; result.best)

    # ------------------------------------------------------------ set by the run (engine only)
    def attach(self, facts: RunFacts, engine, metrics: dict) -> None:
        """Called by :func:`dd_explore.distill.run` before the callbacks start."""
        self._facts, self._engine, self.metrics = facts, engine, metrics

    def checkpoint_requested(self) -> bool:
        """True once after :meth:`request_checkpoint` (the loop consumes the request)."""
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False

    # ------------------------------------------------------------ requests (any thread)
    def stop(self) -> None:
        """Ask the run to stop after the current step (safe from any thread)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_checkpoint(self) -> None:
        """Ask for a checkpoint after the current step."""
        self._checkpoint.set()

    # ------------------------------------------------------------ the run's facts and live state
    def _fact(self, name: str):
        if self._facts is None:
            return {"config": {}, "steps": 0, "start_step": 0}.get(name)
        return getattr(self._facts, name)

    config = property(lambda self: self._fact("config"), doc="what config.json holds")
    out = property(lambda self: self._fact("out"), doc="the run directory (a Path) or None")
    dataset = property(lambda self: self._fact("dataset"), doc="the Dataset being distilled")
    device = property(lambda self: self._fact("device"), doc="the torch.device of the run")
    steps = property(lambda self: self._fact("steps"), doc="the target number of steps")
    start_step = property(lambda self: self._fact("start_step"), doc="steps done before this call (resume)")
    initial_images = property(lambda self: self._fact("initial_images"), doc="the set before step 1")
    initial_labels = property(lambda self: self._fact("initial_labels"), doc="its labels")
    selection = property(lambda self: self._fact("selection"), doc="the init's Selection, or None")

    def synthetic(self):
        """The current (images, labels, targets) on the CPU, detached."""
        return self._engine.synthetic_cpu()

    def importance_q(self):
        """q over all train points (float32, each class sums to 1), as the sampler has it now."""
        return self._engine.sampler.q_full()

    def draw_counts(self):
        return self._engine.sampler.counts.clone()


class OnStep(Callback):
    """Calls ``fn(info)`` after every ``every``-th step, at most once per ``min_interval`` seconds
    (the last step always), e.g. to update a live view."""

    def __init__(self, fn: Callable, every: int = 1, min_interval: float = 0.0):
        self.fn = fn
        self.every = every
        self.min_interval = min_interval
        self._last = -float("inf")

    def on_step(self, info) -> None:
        now = time.monotonic()
        last = info.step == info.steps
        if (info.step % self.every == 0 and now - self._last >= self.min_interval) or last:
            self._last = now
            self.fn(info)


class ProgressBar(Callback):
    """A ``tqdm.auto`` bar (a widget in Jupyter, text in a terminal) showing loss and seconds per step."""

    def __init__(self, desc: str | None = None, leave: bool = True):
        self.desc = desc
        self.leave = leave
        self.bar = None

    def on_start(self, control) -> None:
        from tqdm.auto import tqdm

        desc = self.desc or f"distill {control.config['run']['method']}"
        self.bar = tqdm(total=control.steps, initial=control.start_step, desc=desc, leave=self.leave)

    def on_step(self, info) -> None:
        self.bar.update(1)
        post = {"loss": f"{info.loss:.4g}", "s/step": f"{info.step_time:.2f}"}
        if info.importance is not None:
            post["probe"] = f"{info.probe_time:.2f}s"
        self.bar.set_postfix(post, refresh=False)

    def on_end(self, result) -> None:
        if self.bar is not None:
            self.bar.close()


class LogProgress(Callback):
    """Logs the loss every ``every`` steps (logging level INFO)."""

    def __init__(self, every: int = 10):
        self.every = every

    def on_step(self, info) -> None:
        if info.step % self.every == 0 or info.step == info.steps:
            logger.info("%s step %d/%d loss %.5g (%.3f s/step, probe %.3f s)", info.method, info.step, info.steps,
                        info.loss, info.step_time, info.probe_time)

    def on_end(self, result) -> None:
        logger.info("%s ended at step %d (stopped=%s)", result.method, result.steps_done, result.stopped)


class CheckpointEvery(Callback):
    """Requests a checkpoint every ``every`` steps (the run directory is written at each checkpoint)."""

    def __init__(self, every: int):
        self.every = every

    def on_start(self, control) -> None:
        self.control = control

    def on_step(self, info) -> None:
        if info.step % self.every == 0 and info.step != info.steps:
            self.control.request_checkpoint()


MIN_SPREAD = 0.01  # the guard's smallest spread: one accuracy point (a single network has no std)


class Evaluation(Callback):
    """Evaluates with :func:`dd_explore.evaluate.evaluate`: the initial set (``initial``), the final set
    (``final``, skipped when the run was interrupted by an error or Ctrl-C) and, every ``every`` steps,
    the current set with a small budget (``every_runs`` x ``every_epochs``). Results go to
    ``control.metrics`` / ``result.metrics`` and, with a run directory, ``metrics.json``.

    ``protocol``: a preset name ("plain", "dsa", "dm", "dc") or a Protocol; ``epochs`` None takes the
    protocol's (plain: 300, dsa/dm: 1001 passes). ``models``: architectures the final set is also
    evaluated on (one row each, paired by seed; ``metrics.json``'s ``cross_arch``; ``model_kwargs`` then
    maps model names to kwargs). A run on a ZCA-whitened data set is evaluated on its whitened test split,
    the protocol records the ZCA, and the ZCA is written to the run directory (``zca.pt``). ``cache``: a
    folder of finished evaluations (:mod:`dd_explore.evaluate.cache`): an evaluation found there (the same
    set, settings, device type, threads and code) is read back instead of trained (marked ``"cached"``),
    and one trained is filed there; runs sharing an initial set evaluate it once."""

    def __init__(self, runs: int = 5, epochs: int | None = None, every: int | None = None, every_runs: int = 1,
                 every_epochs: int = 50, initial: bool = True, final: bool = True, model: str = "convnet",
                 model_kwargs: dict | None = None, augment=None, seed: int = 0, progress: bool = False,
                 protocol="plain", models=None, cache=None):
        self.runs = runs
        self.epochs = epochs
        self.every = every
        self.every_runs = every_runs
        self.every_epochs = every_epochs
        self.initial = initial
        self.final = final
        self.model = model
        self.model_kwargs = model_kwargs
        self.augment = augment
        self.seed = seed
        self.progress = progress
        self.protocol_name = protocol
        self.models = models
        self.cache = cache

    def check(self) -> None:
        """Validate the arguments (ValueError naming the argument and value)."""
        names = ("runs", "every_runs", "every_epochs") + (("epochs",) if self.epochs is not None else ()) \
            + (("every",) if self.every is not None else ())
        for name in names:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"evaluation {name} must be a positive int; got {value!r}")
        from dd_explore import models
        from dd_explore.evaluate import PRESETS, Protocol

        models.MODELS.get(self.model)
        if not isinstance(self.protocol_name, Protocol) and self.protocol_name not in PRESETS:
            raise ValueError(f"evaluation protocol must be one of {list(PRESETS)} or a Protocol; got {self.protocol_name!r}")
        if self.models is not None:
            from dd_explore.evaluate.protocol import _check_models

            self.models = _check_models(None, self.models)
            kw = self.model_kwargs
            if kw is not None and (not isinstance(kw, dict) or any(k not in self.models for k in kw)):
                raise ValueError(f"with models=, evaluation model_kwargs must map some of {self.models} to kwargs; got {kw!r}")
        if self.cache is not None:
            if not isinstance(self.cache, (str, os.PathLike)):
                raise ValueError(f"evaluation cache must be a folder path; got {self.cache!r}")
            from dd_explore.evaluate.cache import EvalCache

            EvalCache(self.cache)  # refuses a file

    def protocol(self) -> dict:
        name = self.protocol_name.to_dict() if hasattr(self.protocol_name, "to_dict") else self.protocol_name
        return {"runs": self.runs, "epochs": self.epochs, "every": self.every, "every_runs": self.every_runs,
                "every_epochs": self.every_epochs, "model": self.model, "model_kwargs": self.model_kwargs or {},
                "augment": getattr(self.augment, "name", None if self.augment is None else type(self.augment).__name__),
                "seed": self.seed, "protocol": name, "models": list(self.models) if self.models else None}

    def _evaluate(self, images, labels, targets, runs, epochs, models=None) -> dict:
        """One evaluation, through ``self.cache`` when given (rank 0 looks it up and files it; every rank
        gets rank 0's answer, so all of them train, or none)."""
        from dd_explore.evaluate.cache import cached

        if self.augment is not None and not hasattr(self.augment, "name"):  # a callable the key cannot name
            return self._train_and_test(images, labels, targets, runs, epochs, models)
        name = self.protocol_name.to_dict() if hasattr(self.protocol_name, "to_dict") else self.protocol_name
        settings = {"runs": runs, "epochs": epochs, "model": self.model, "model_kwargs": self.model_kwargs or {},
                    "augment": getattr(self.augment, "name", None), "seed": self.seed, "protocol": name,
                    "models": list(models) if models is not None else None, "soft": targets is not None}
        return cached(self.cache, images, labels if targets is None else targets, self.control.dataset, settings,
                      self.control.device, lambda: self._train_and_test(images, labels, targets, runs, epochs, models))

    def _train_and_test(self, images, labels, targets, runs, epochs, models=None) -> dict:
        from dd_explore.evaluate import evaluate

        c = self.control
        y = labels if targets is None else soft_labels(targets)
        kwargs = self.model_kwargs
        if models is not None:
            return evaluate(images, y, c.dataset, models=models, runs=runs, epochs=epochs, model_kwargs=kwargs,
                            augment=self.augment, device=c.device, seed=self.seed, progress=self.progress,
                            protocol=self.protocol_name).to_dict()
        if self.models is not None:  # the single-model evaluations use the main model's kwargs
            kwargs = (kwargs or {}).get(self.model)
        res = evaluate(images, y, c.dataset, model=self.model, runs=runs, epochs=epochs, model_kwargs=kwargs,
                       augment=self.augment, device=c.device, seed=self.seed, progress=self.progress,
                       protocol=self.protocol_name)
        return res.to_dict()

    def _write(self) -> None:
        from dd_explore import distributed

        c = self.control
        if c.out is not None and distributed.context().main:  # one writer: rank 0
            from dd_explore.distill.rundir import write_json

            write_json(c.out / "metrics.json", c.metrics)

    # ------------------------------------------------------------ the guard and the best snapshot
    def _baseline(self, budget: str) -> dict | None:
        m = self.control.metrics
        return m.get("initial") if budget == "final" else m.get("initial_every")

    def _judge(self, m: dict, step: int, budget: str, images, labels, targets) -> None:
        """Compare an evaluation with the initial set's under the same budget (same seeds: paired networks):
        worse by more than the evaluation's spread -> a warning (log, ``metrics["warnings"]``, dashboard,
        report); the best set so far (largest gain over the initial one) is kept as ``best.pt`` and in
        ``result.best``."""
        base = self._baseline(budget)
        if base is None:
            return
        gain = float(m["mean"]) - float(base["mean"])
        spread = max(float(base["std"]), float(m["std"]), MIN_SPREAD)
        if gain < -spread:
            message = (f"step {step}: the distilled set evaluates at {100 * m['mean']:.2f} % against "
                       f"{100 * base['mean']:.2f} % for its initialization ({budget} evaluation, "
                       f"{len(m['accuracies'])} networks): worse by {100 * -gain:.2f} points, more than the "
                       f"evaluation's spread ({100 * spread:.2f}); the best evaluated set is kept as best.pt")
            logger.warning(message)
            self.control.metrics.setdefault("warnings", []).append(
                {"step": int(step), "budget": budget, "message": message, "initial": base["mean"], "current": m["mean"]})
        best = self.control.best
        if not best or gain > best["gain"]:
            best.update(step=int(step), gain=gain, mean=float(m["mean"]), budget=budget,
                        images=images.detach().cpu().clone(), labels=labels.detach().cpu().clone(),
                        targets=None if targets is None else targets.detach().cpu().clone())
            self.control.metrics["best"] = {k: best[k] for k in ("step", "gain", "mean", "budget")}
            self._write_best()

    def _write_best(self) -> None:
        from dd_explore import distributed

        c = self.control
        if c.out is not None and distributed.context().main:
            from dd_explore.distill.rundir import write_torch

            write_torch(c.out / "best.pt", {k: v for k, v in c.best.items()})

    def on_start(self, control) -> None:
        self.control = control
        control.metrics.setdefault("history", [])
        from dd_explore.evaluate.zca import ZCA_FILE, zca_of

        zca = zca_of(control.dataset)
        if zca is not None and control.out is not None:
            control.out.mkdir(parents=True, exist_ok=True)
            zca.save(control.out / ZCA_FILE)
        if self.initial and "initial" not in control.metrics:
            m = self._evaluate(control.initial_images, control.initial_labels, None, self.runs, self.epochs)
            control.metrics["initial"] = dict(m, step=0)
            logger.info("initial set: %.2f +- %.2f %%", 100 * m["mean"], 100 * m["std"])
            self._write()
        if "initial" in control.metrics and not control.best:  # the initial set: the first candidate for the best
            control.best.update(step=0, gain=0.0, mean=float(control.metrics["initial"]["mean"]), budget="initial",
                                images=control.initial_images.detach().cpu().clone(),
                                labels=control.initial_labels.detach().cpu().clone(), targets=None)
            control.metrics["best"] = {k: control.best[k] for k in ("step", "gain", "mean", "budget")}
            self._write_best()
        if self.every and self.initial and "initial_every" not in control.metrics:
            # the initial set under the periodic budget: what every periodic evaluation is compared with
            m = self._evaluate(control.initial_images, control.initial_labels, None, self.every_runs, self.every_epochs)
            control.metrics["initial_every"] = dict(m, step=0)
            self._write()

    def on_step(self, info) -> None:
        if self.every and info.step % self.every == 0:
            m = self._evaluate(info.images, info.labels, info.targets, self.every_runs, self.every_epochs)
            self.control.metrics["history"].append(dict(m, step=info.step))
            self._judge(m, info.step, "every", info.images, info.labels, info.targets)
            self._write()

    def on_end(self, result) -> None:
        if not self.final or result.stop_reason in ("interrupt", "error"):
            return
        done = self.control.metrics.get("final", {}).get("step")
        if done == result.steps_done:
            return
        m = None
        if self.models is not None:
            cross = self._evaluate(result.images, result.labels, result.targets, self.runs, self.epochs, self.models)
            self.control.metrics["cross_arch"] = dict(cross, step=result.steps_done)
            # the main model's row is the final evaluation (same seeds, same networks): not trained twice
            m = next((r for r in cross["rows"] if r["protocol"]["model"] == self.model), None)
        if m is None:
            m = self._evaluate(result.images, result.labels, result.targets, self.runs, self.epochs)
        self.control.metrics["final"] = dict(m, step=result.steps_done)
        logger.info("final set: %.2f +- %.2f %%", 100 * m["mean"], 100 * m["std"])
        self._judge(m, result.steps_done, "final", result.images, result.labels, result.targets)
        self._write()


def soft_labels(targets):
    """Learned (centred, KIP-style) label vectors -> probabilities for cross-entropy training:
    shift by 1/C, clip at 0, renormalize."""
    c = targets.shape[1]
    p = (targets + 1.0 / c).clamp(min=0)
    return p / p.sum(1, keepdim=True).clamp(min=1e-12)

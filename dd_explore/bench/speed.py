"""Speed and scale: seconds per step of each distillation method (uniform and importance batches, the
probe's share), selection time against n for every selection method, ``kmeans_sensitivity`` against
scikit-learn ``KMeans`` (ratio, one process), its scaling in n with peak memory, peak memory of the
distillation runs, and the live dashboard's overhead.

The selection measurements are the helpers of :mod:`dd_explore.bench.selection`; the dashboard is
:class:`dd_explore.widgets.LiveDashboard` used headless (its figures are updated, nothing is displayed).
Writes ``speed.csv`` (one measurement a row) and ``speed.md``.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from dd_explore._io import write_text
from dd_explore.bench.store import write_csv
from dd_explore.distill.callbacks import Callback

logger = logging.getLogger(__name__)

SPEED_COLUMNS = ("section", "item", "setting", "n", "d", "value", "unit", "note")


@dataclass(frozen=True)
class SpeedPlan:
    """Budgets of the speed section: ``distill`` maps a method to (ipc, steps, options); ``select_ns``/
    ``select_d``: the mixture sizes of the selection timings; ``kmeans_n``/``kmeans_d``: the k-means vs
    scikit-learn data; ``scaling_ns``/``scaling_d``: the k-means scaling; the DM run timed with and
    without the dashboard: ``dashboard_steps`` steps at ``dashboard_ipc`` with ``dashboard_batches``
    and ``dashboard_options``."""

    name: str
    distill: dict
    select_ns: tuple[int, ...]
    select_d: int
    kmeans_n: int
    kmeans_d: int
    scaling_ns: tuple[int, ...]
    scaling_d: int
    dashboard_steps: int
    dashboard_ipc: int = 10
    dashboard_batches: str = "importance"
    dashboard_options: dict = field(default_factory=dict)
    notes: tuple[str, ...] = field(default=())
    evaluation: tuple[int, int, int] = (10, 5, 20)  # (ipc, runs, epochs) of the timed plain-protocol evaluation


def make_speed_plan(name: str = "standard", methods: Sequence[str] | None = None) -> SpeedPlan:
    """``quick`` (about 2 minutes on the 2-core CPU), ``standard`` (about 10) or ``complete`` (the issue's
    sizes: 60,000 x 784 for the k-means ratio, 10k -> 1M points for the scaling)."""
    if name == "quick":
        plan = SpeedPlan("quick", {"dm": (10, 5, {"width": 32}), "kip": (10, 20, {})}, (1_000, 4_000), 64, 10_000, 784,
                         (10_000, 100_000), 64, 10, 10, "uniform", {"width": 32},
                         notes=("quick: DM at ConvNet width 32, few steps; the dashboard run uses uniform batches",),
                         evaluation=(10, 2, 2))
    elif name == "standard":
        # MTT with online target segments (so importance batches apply) and a small expert buffer: the
        # experts are set-up work, timed in the wall seconds, not in the seconds per step
        mtt = {"segment": "online", "num_experts": 1, "max_start_epoch": 2}
        plan = SpeedPlan("standard", {"dm": (10, 30, {}), "kip": (10, 60, {}), "dc": (1, 4, {}), "dsa": (1, 4, {}),
                                      "mtt": (10, 5, mtt), "mtt:recompute": (10, 5, dict(mtt, meta_grad="recompute")),
                                      "dm:bf16": (10, 30, {"precision": "bf16"})},
                         (1_000, 10_000, 50_000), 64, 60_000, 784, (10_000, 100_000, 1_000_000), 64, 40, 10)
    elif name == "complete":
        plan = SpeedPlan("complete", {"dm": (10, 100, {}), "kip": (10, 200, {}), "dc": (10, 5, {}), "dsa": (10, 5, {}),
                                      "mtt": (10, 20, {"segment": "online"}),
                                      "mtt:recompute": (10, 20, {"segment": "online", "meta_grad": "recompute"})},
                         (1_000, 10_000, 100_000), 64, 60_000, 784, (10_000, 100_000, 1_000_000), 64, 100, 10)
    else:
        raise ValueError(f"speed plan must be quick, standard or complete; got {name!r}")
    if methods is not None:
        have = {label.split(":")[0] for label in plan.distill}
        unknown = [m for m in methods if m not in have]
        if unknown:
            raise ValueError(f"methods {unknown} not in the {name!r} speed plan; it has {sorted(have)}")
        plan = replace(plan, distill={k: v for k, v in plan.distill.items() if k.split(":")[0] in methods})
    return plan


# ---------------------------------------------------------------------------- memory
def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def peak_memory(device: torch.device):
    """Yields a dict filled on exit with ``peak_mib`` (process peak RSS during the block; Linux: the
    peak is reset on entry through /proc/self/clear_refs, elsewhere the lifetime peak) and
    ``extra_mib`` (peak minus RSS on entry); on CUDA also ``cuda_peak_mib`` (max allocated)."""
    out: dict = {}
    reset = False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        pass
    before = _status_kib("VmRSS")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        cuda_before = torch.cuda.memory_allocated(device)
    try:
        yield out
    finally:
        peak = _status_kib("VmHWM") if reset else None
        if peak is None:
            scale = 1 if sys.platform != "darwin" else 1 / 1024  # ru_maxrss: KiB on Linux, bytes on macOS
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        out["peak_mib"] = peak / 1024
        out["extra_mib"] = (peak - before) / 1024 if before is not None else math.nan
        out["how"] = "VmHWM after clear_refs" if reset else "ru_maxrss (lifetime peak)"
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            out["cuda_peak_mib"] = (torch.cuda.max_memory_allocated(device) - cuda_before) / 2**20


# ---------------------------------------------------------------------------- sections
def _row(section, item, setting, value, unit, n="", d="", note="") -> dict:
    return {"section": section, "item": item, "setting": setting, "n": n, "d": d, "value": value, "unit": unit,
            "note": note}


class _CountStep(Callback):
    """A callback that counts the FLOPs (``torch.utils.flop_counter``: matmuls and convolutions) of step 2."""

    def __init__(self):
        from torch.utils.flop_counter import FlopCounterMode

        self.mode = FlopCounterMode(display=False)
        self.flops = None

    def on_step(self, info):
        if info.step == 1:
            self.mode.__enter__()
        elif info.step == 2:
            self.mode.__exit__(None, None, None)
            self.flops = int(self.mode.get_total_flops())

    def on_end(self, result):
        if self.flops is None and result.steps_done >= 1:
            self.mode.__exit__(None, None, None)


def step_flops(dataset, method: str, ipc: int, options: dict, device: torch.device) -> int:
    """FLOPs of one step of ``method`` (the second of two; uniform batches, seed 0)."""
    from dd_explore import distill

    counter = _CountStep()
    distill.run(dataset, method, ipc=ipc, init="random", batches="uniform", steps=2, seed=0, device=device,
                callbacks=[counter], **options)
    return int(counter.flops or 0)


def conv_throughput(dataset, device: torch.device, width: int = 128, depth: int = 3, batch: int = 32,
                    repeats: int = 5) -> float:
    """The machine's measured FLOP/s on the methods' layer shapes: forward + backward of the ConvNet
    (``width``, ``depth``, the data set's image shape, the layout the methods use on ``device``) on
    ``batch`` images, best of ``repeats``."""
    from torch.utils.flop_counter import FlopCounterMode

    from dd_explore import models
    from dd_explore._random import seeded
    from dd_explore.distill.methods.base import ModelOptions, embed, use_channels_last

    with seeded(0):
        net = models.create("convnet", channels=dataset.channels, num_classes=dataset.num_classes,
                            image_size=dataset.image_size, width=width, depth=depth).to(device)
    cl = use_channels_last(ModelOptions(width=width, depth=depth), device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    x = torch.randn((batch, *dataset.image_shape), generator=torch.Generator().manual_seed(0)).to(device)

    def once():
        embed(net, x.requires_grad_(True), cl).sum().backward()

    once()
    with FlopCounterMode(display=False) as counter:
        once()
    flops = counter.get_total_flops()
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(4):
            once()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - t0) / 4)
    return flops / best


def distill_speed(dataset, plan: SpeedPlan, device: torch.device, progress: bool) -> list[dict]:
    """Seconds per step (median; and mean with the probe amortized), probe share and peak memory of each
    method with uniform and importance batches (random init, seed 0, the method's default options); each
    method's FLOPs per step against the machine's measured convolution throughput (the ``limit`` rows:
    seconds per step / (FLOPs / throughput), 1 = at the limit). A ``distill`` key ``"mtt:recompute"`` is
    method ``mtt`` under its own label."""
    from dd_explore import distill

    rows = []
    throughput = conv_throughput(dataset, device)
    rows.append(_row("limit", "machine", "ConvNet-3 width 128 fwd+bwd, 32 images", throughput / 1e9, "GFLOP/s",
                     note="the methods' layout on this device"))
    for label, (ipc, steps, options) in plan.distill.items():
        method = label.split(":")[0]
        # one untimed step first: first-call costs (CUDA context, cuDNN autotuning, thread pools) are not a
        # property of the method
        distill.run(dataset, method, ipc=ipc, init="random", batches="uniform", steps=1, seed=0, device=device, **options)
        for batches in ("uniform", "importance"):
            setting = f"ipc {ipc}, {batches} batches, {steps} steps" + (f", {options}" if options else "")
            cbs = [distill.ProgressBar(desc=f"speed {method} {batches}", leave=False)] if progress else []
            with peak_memory(device) as mem:
                t0 = time.perf_counter()
                res = distill.run(dataset, method, ipc=ipc, init="random", batches=batches, steps=steps, seed=0,
                                  device=device, callbacks=cbs, **options)
                wall = time.perf_counter() - t0
            st = np.asarray(res.step_times)
            pt = np.asarray(res.probe_times)
            rows.append(_row("distill", label, setting, float(np.median(st)), "s/step (median)"))
            if batches == "uniform":
                flops = step_flops(dataset, method, ipc, options, device)
                limit = flops / throughput
                rows.append(_row("limit", label, setting, flops / 1e9, "GFLOP per step"))
                rows.append(_row("limit", label, setting, limit, "s/step at the measured throughput"))
                rows.append(_row("limit", label, setting, float(np.median(st)) / limit if limit > 0 else math.nan,
                                 "x the limit (s/step / (FLOPs / throughput))"))
            rows.append(_row("distill", label, setting, float(st.mean()), "s/step (mean, probe included)",
                             note="first step included"))
            if batches == "importance":
                rows.append(_row("distill", label, setting, float(res.probe_share), "probe share of step time"))
                first = float(pt[pt > 0][0]) if (pt > 0).any() else 0.0
                rows.append(_row("distill", label, setting, first, "s first probe (warm-up)"))
                later = pt[pt > 0][1:]
                if later.size:
                    rows.append(_row("distill", label, setting, float(later.mean()), "s per later probe refresh"))
            rows.append(_row("distill", label, setting, wall, "s wall (init and selection included)"))
            rows.append(_row("distill", label, setting, mem["peak_mib"], "MiB peak RSS", note=mem["how"]))
            if "cuda_peak_mib" in mem:
                rows.append(_row("distill", label, setting, mem["cuda_peak_mib"], "MiB peak CUDA allocated"))
    return rows


def evaluation_speed(dataset, plan: SpeedPlan, device: torch.device) -> list[dict]:
    """The plain protocol's evaluation of an IPC-``ipc`` set of random real images (``runs`` ConvNet-3 networks
    x ``epochs``): trained one by one in the plain layout (one NCHW pass per batch), in the default layout
    (``layout="auto"``: channels_last in chunks on CPUs), batched (stacked parameters, one vmap-ed pass) and
    in the default layout under bf16 autocast (``precision="bf16"``), side by side in this process, and one network's FLOPs (training epochs and the test pass, counted with
    torch.utils.flop_counter) against the machine's measured throughput."""
    from torch.utils.flop_counter import FlopCounterMode

    from dd_explore.bench.ablation import _select
    from dd_explore.evaluate import evaluate
    from dd_explore.train import CPU_CHUNK

    ipc, runs, epochs = plan.evaluation
    idx = torch.as_tensor(_select(dataset, "random", ipc, 0).indices, dtype=torch.long)
    images, labels = dataset.train.images[idx], dataset.train.labels[idx]
    kw = dict(protocol="plain", device=device, seed=0, progress=False)
    setting = f"plain protocol, ConvNet-3 width 128, IPC {ipc} ({len(idx)} images), {runs} networks x {epochs} epochs"

    def flops(n_epochs: int) -> int:
        with FlopCounterMode(display=False) as counter:
            evaluate(images, labels, dataset.test, runs=1, epochs=n_epochs, batched=False, **kw)
        return counter.get_total_flops()

    one, two = flops(1), flops(2)
    per_network = (one - (two - one)) + epochs * (two - one)  # the test pass once, then each epoch
    throughput = conv_throughput(dataset, device)
    evaluate(images, labels, dataset.test, runs=1, epochs=1, batched=False, **kw)  # first-call costs, untimed
    timed = {}
    modes = {"plain": dict(batched=False, layout="plain"), "fast": dict(batched=False, layout="auto"),
             "batched": dict(batched=True), "bf16": dict(batched=False, layout="auto", precision="bf16")}
    for mode, extra in modes.items():
        t0 = time.perf_counter()
        res = evaluate(images, labels, dataset.test, runs=runs, epochs=epochs, **extra, **kw)
        timed[mode] = (time.perf_counter() - t0, res.mean)
    seq, fast, bat, bf16 = timed["plain"][0], timed["fast"][0], timed["batched"][0], timed["bf16"][0]
    limit = runs * per_network / throughput
    acc = {m: f"mean accuracy {100 * timed[m][1]:.2f} %" for m in timed}
    return [
        _row("evaluation", "one by one, plain layout", setting, seq, "s", note=acc["plain"] + "; one NCHW pass per batch"),
        _row("evaluation", "one by one, layout auto", setting, fast, "s",
             note=acc["fast"] + (f"; channels_last, chunks of {CPU_CHUNK} images" if device.type == "cpu" else "; as plain off CPUs")),
        _row("evaluation", "batched (vmap)", setting, bat, "s", note=acc["batched"]),
        _row("evaluation", "layout auto, bf16", setting, bf16, "s", note=acc["bf16"] + "; precision='bf16' (autocast)"),
        _row("evaluation", "layout auto / plain", setting, fast / seq, "ratio", note="same process, one after the other"),
        _row("evaluation", "batched / plain", setting, bat / seq, "ratio", note="same process, one after the other"),
        _row("evaluation", "bf16 / plain", setting, bf16 / seq, "ratio", note="same process, one after the other"),
        _row("evaluation", "FLOPs", setting, per_network / 1e9, "GFLOP per network", note="training epochs + test pass"),
        _row("evaluation", "limit", setting, limit, "s for all networks at the measured throughput",
             note=f"throughput {throughput / 1e9:.1f} GFLOP/s (ConvNet-3 fwd+bwd, 32 images)"),
        _row("evaluation", "plain / limit", setting, seq / limit, "x the limit"),
        _row("evaluation", "layout auto / limit", setting, fast / limit, "x the limit"),
    ]


def selection_speed(plan: SpeedPlan, device: torch.device) -> list[dict]:
    """select() time of every selection method against n, k-means vs scikit-learn, k-means scaling."""
    from dd_explore.bench import selection as benchmark

    rows = []
    dev = "cuda" if device.type == "cuda" else "cpu"
    for t in benchmark.bench_select_methods(ns=plan.select_ns, d=plan.select_d, num_classes=10, ipc=10, device=dev):
        rows.append(_row("select-vs-n", t.method, f"ipc {t.ipc}, {t.num_classes} classes", t.seconds, "s", t.n, t.d))
    km = benchmark.bench_kmeans_vs_sklearn(n=plan.kmeans_n, d=plan.kmeans_d, k=10)
    setting = f"k {km.k}, float32, {km.threads} threads, sklearn n_init=1 ({km.sklearn_iterations} iterations)"
    rows.append(_row("kmeans-vs-sklearn", "kmeans_sensitivity", setting, km.ours_s, "s", km.n, km.d))
    rows.append(_row("kmeans-vs-sklearn", "sklearn KMeans", setting, km.sklearn_s, "s", km.n, km.d))
    rows.append(_row("kmeans-vs-sklearn", "ratio ours/sklearn", setting, km.ratio, "x", km.n, km.d))
    pts = benchmark.bench_scaling(ns=plan.scaling_ns, d=plan.scaling_d, k=10, device=dev)
    prev = None
    for p in pts:
        rows.append(_row("kmeans-scaling", "kmeans_sensitivity", f"k {p.k}", p.seconds, "s", p.n, p.d))
        rows.append(_row("kmeans-scaling", "kmeans_sensitivity", f"k {p.k}", p.peak_extra_mib, "MiB peak extra", p.n, p.d,
                         note=f"data {p.data_mib:.1f} MiB; {p.bytes_per_point:.0f} bytes/point"))
        if prev is not None:
            rows.append(_row("kmeans-scaling", "time growth", f"n {prev.n} -> {p.n} ({p.n / prev.n:g}x)",
                             p.seconds / prev.seconds, "x", p.n, p.d))
        prev = p
    return rows


class _DashboardLike:
    """Stand-in when :mod:`dd_explore.widgets` is missing: every ~0.5 s copies the synthetic images and
    rebuilds the loss and image-grid figures with :mod:`dd_explore.viz`."""

    def __init__(self, dataset, update_every: float = 0.5):
        import dd_explore.viz  # noqa: F401  (import cost outside the timed hooks, as the dashboard's)

        self.dataset = dataset
        self.update_every = update_every
        self.seconds_spent = 0.0
        self.updates = 0
        self._last = -math.inf
        self.losses: list[float] = []

    def __call__(self, info) -> None:
        from dd_explore.viz import image_grid_figure, loss_figure

        t0 = time.perf_counter()
        self.losses.append(info.loss)
        if time.monotonic() - self._last >= self.update_every or info.step == info.steps:
            images = info.images.clone()
            image_grid_figure(images, mean=self.dataset.mean, std=self.dataset.std, ncols=10)
            loss_figure(np.arange(1, len(self.losses) + 1), np.asarray(self.losses))
            self.updates += 1
            self._last = time.monotonic()
        self.seconds_spent += time.perf_counter() - t0


def dashboard_overhead(dataset, plan: SpeedPlan, device: torch.device) -> list[dict]:
    """The same DM run (``plan.dashboard_*``, seed 0) without and then with the live dashboard: wall times,
    their difference, and the time spent inside the dashboard's hooks (the direct, less noisy measure)."""
    from dd_explore import distill

    try:
        from dd_explore.widgets import LiveDashboard

        dash = LiveDashboard(dataset, update_every=0.5)
        kind = "LiveDashboard (headless, update_every=0.5 s, default max_overhead)"
    except ImportError as exc:  # pragma: no cover - widgets missing
        logger.warning("dd_explore.widgets unavailable (%s); timing a dashboard-like callback instead", exc)
        dash = _DashboardLike(dataset, 0.5)
        kind = "dashboard-like callback (snapshot copy + viz figures every 0.5 s)"
    kw = dict(ipc=plan.dashboard_ipc, init="random", batches=plan.dashboard_batches, steps=plan.dashboard_steps,
              seed=0, device=device, **plan.dashboard_options)
    distill.run(dataset, "dm", **dict(kw, steps=1))  # untimed warm-up
    t0 = time.perf_counter()
    distill.run(dataset, "dm", **kw)
    without = time.perf_counter() - t0
    t0 = time.perf_counter()
    distill.run(dataset, "dm", callbacks=[dash], **kw)
    with_dash = time.perf_counter() - t0
    setting = f"dm ipc {plan.dashboard_ipc}, {plan.dashboard_batches} batches, {plan.dashboard_steps} steps"
    if plan.dashboard_options:
        setting += f", {plan.dashboard_options}"
    return [
        _row("dashboard", "run without dashboard", setting, without, "s wall"),
        _row("dashboard", "run with dashboard", setting, with_dash, "s wall", note=kind),
        _row("dashboard", "wall-time overhead", setting, 100 * (with_dash - without) / without, "%",
             note="difference of two runs on a shared machine: noisy"),
        _row("dashboard", "time in dashboard hooks", setting, dash.seconds_spent, "s", note=f"{dash.updates} updates"),
        _row("dashboard", "hook share of the run", setting, 100 * dash.seconds_spent / with_dash, "%"),
    ]


# ---------------------------------------------------------------------------- entry point
def speed_markdown(rows: Sequence[dict], plan: SpeedPlan, dataset_name: str, device, command: str | None) -> str:
    import datetime as _dt

    from dd_explore.bench.report import machine

    lines = [f"# dd-explore bench: speed and scale (plan `{plan.name}`)", "",
             f"- date: {_dt.datetime.now().isoformat(timespec='seconds')}; machine: {machine()}; device: {device}",
             f"- command: `{command}`" if command else "- command: (API call)",
             f"- distillation on {dataset_name}, method defaults (ConvNet width 128 for DM/DC/DSA) unless the "
             "setting says otherwise, random init, seed 0; selection timings on a seeded Gaussian mixture (one "
             "component per class); wall-clock seconds (a shared machine adds noise)"]
    lines += [f"- note: {n}" for n in plan.notes] + [""]
    titles = {"distill": "Seconds per distillation step",
              "limit": "Against the machine's limit (FLOPs counted with torch.utils.flop_counter; conv throughput "
                       "measured on the same layer shapes)",
              "evaluation": "Evaluation: networks one by one against batched, and against the limit",
              "select-vs-n": "Selection time against n (select(), IPC 10)",
              "kmeans-vs-sklearn": "kmeans_sensitivity vs scikit-learn KMeans (same data, one process)",
              "kmeans-scaling": "kmeans_sensitivity scaling (fresh subprocess per n)",
              "dashboard": "Live dashboard overhead"}
    for section, title in titles.items():
        part = [r for r in rows if r["section"] == section]
        if not part:
            continue
        lines += [f"## {title}", "", "| item | setting | n | d | value | unit | note |", "|---|---|---|---|---|---|---|"]
        for r in part:
            v = r["value"]
            val = f"{v:.4g}" if isinstance(v, float) else str(v)
            lines.append(f"| {r['item']} | {r['setting']} | {r['n']} | {r['d']} | {val} | {r['unit']} | {r['note']} |")
        lines.append("")
    return "\n".join(lines)


def run_speed(out: str | Path, plan: SpeedPlan | str = "standard", *, dataset=None, dataset_name: str = "mnist5k",
              root=None, device="auto", progress: bool = True, command: str | None = None,
              sections: Sequence[str] = ("distill", "evaluation", "selection", "dashboard")) -> list[dict]:
    """Run the speed section and write ``out/speed.csv`` and ``out/speed.md``; returns the rows."""
    from dd_explore import data
    from dd_explore.device import resolve_device

    if isinstance(plan, str):
        plan = make_speed_plan(plan)
    unknown = sorted(set(sections) - {"distill", "evaluation", "selection", "dashboard"})
    if unknown:
        raise ValueError(f"sections must be among distill, evaluation, selection, dashboard; got {unknown}")
    dev = resolve_device(device)
    if dataset is None:
        dataset = data.load(dataset_name, root=root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def flush():
        write_csv(out / "speed.csv", rows, SPEED_COLUMNS)
        write_text(out / "speed.md", speed_markdown(rows, plan, dataset.name, dev, command))

    if "distill" in sections:
        rows += distill_speed(dataset, plan, dev, progress)
        flush()
    if "evaluation" in sections:
        rows += evaluation_speed(dataset, plan, dev)
        flush()
    if "selection" in sections:
        rows += selection_speed(plan, dev)
        flush()
    if "dashboard" in sections:
        rows += dashboard_overhead(dataset, plan, dev)
    flush()
    return rows

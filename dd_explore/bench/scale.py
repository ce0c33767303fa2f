"""Scale: every stage on CIFAR-shaped sets made on the spot (3 x 32 x 32, class structure; see
:mod:`dd_explore.bench.synthetic`) at n = 5,000 and 50,000, and ``kmeans_sensitivity`` at 1,000,000 x 64.

Per n: time and peak memory of loading (making the images, compact uint8 storage; resident bytes against
the uint8 size), features (pixels, PCA, random ConvNet), selection, DM steps with uniform and importance
batches (the probe's share of the step time), the 2-D embedding (first time and cached), a distillation
run directory (its size after ``run_dir_steps`` DM steps, importance batches), the HTML report of that run
(time, size), the SelectionExplorer (build time, payload, first paint in headless Chromium) and the live
dashboard's share of a DM run. Writes ``scale.csv`` (one measurement a row) and ``scale.md``.

Peak memory is the process's peak RSS during the stage (Linux: reset at its start through
/proc/self/clear_refs), so it includes what earlier stages left resident (the data set, mostly).
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from dd_explore._io import write_text
from dd_explore.bench.speed import _row, peak_memory
from dd_explore.bench.store import write_csv

logger = logging.getLogger(__name__)

SCALE_COLUMNS = ("section", "item", "setting", "n", "d", "value", "unit", "note")
STAGES = ("load", "features", "select", "distill", "embedding", "rundir", "report", "explorer", "dashboard", "kmeans")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass(frozen=True)
class ScalePlan:
    """Sizes of the scale section: ``ns`` train sizes (10 classes, 3 x ``size`` x ``size``); ``features``
    timed per n (``convnet_max_n``: ConvNet features only up to that n); selection ``ipc`` and method;
    DM steps at ``dm_width`` (``dm_steps`` uniform, ``dm_importance_steps`` importance: past the second
    refresh, so the probe's share includes a warm-started refresh); the run directory after
    ``run_dir_steps`` DM steps at ``run_dir_width`` (the record does not depend on the width); the
    embedding method; the dashboard run (``dashboard_steps`` DM steps at ``dashboard_width``); k-means
    sensitivity at ``kmeans_n`` x ``kmeans_d``; ``browser``: time the explorer's first paint in Chromium."""

    name: str
    ns: tuple[int, ...]
    size: int = 32
    features: tuple[str, ...] = ("pixels", "pca:64", "convnet")
    convnet_max_n: int = 50_000
    ipc: int = 10
    select_method: str = "sensitivity-kmeans"
    dm_width: int = 128
    dm_steps: int = 3
    dm_importance_steps: int = 12
    run_dir_steps: int = 1000
    run_dir_width: int = 8
    embedding: str = "umap"
    dashboard_steps: int = 40
    dashboard_width: int = 32
    kmeans_n: int = 1_000_000
    kmeans_d: int = 64
    browser: bool = True
    stages: tuple[str, ...] = STAGES


def make_scale_plan(name: str = "standard") -> ScalePlan:
    """``standard``: the issue's sizes (n = 5,000 and 50,000; k-means 1,000,000 x 64; about 40 minutes on the
    project's 2-core CPU); ``quick``: n = 2,000 and 5,000, short runs, k-means 100,000 x 64 (a few minutes);
    ``complete``: standard plus n = 100,000."""
    if name == "quick":
        return ScalePlan("quick", (2_000, 5_000), features=("pixels", "pca:32"), dm_width=32, dm_steps=2,
                         dm_importance_steps=12, run_dir_steps=100, dashboard_steps=15, kmeans_n=100_000)
    if name == "standard":
        return ScalePlan("standard", (5_000, 50_000))
    if name == "complete":
        return ScalePlan("complete", (5_000, 50_000, 100_000), convnet_max_n=50_000)
    raise ValueError(f"scale plan must be quick, standard or complete; got {name!r}")


# ---------------------------------------------------------------------------- helpers
@contextmanager
def _stage(rows: list, section: str, item: str, setting: str, n, device: torch.device, d="", note: str = ""):
    """Times the block and records its seconds and peak RSS (and CUDA peak); ``box["value"]`` extra rows."""
    gc.collect()
    box: dict = {}
    with peak_memory(device) as mem:
        t0 = time.perf_counter()
        yield box
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
    rows.append(_row(section, item, setting, seconds, "s", n, d, note))
    rows.append(_row(section, item, setting, mem["peak_mib"], "MiB peak RSS", n, d, mem["how"]))
    if "cuda_peak_mib" in mem:
        rows.append(_row(section, item, setting, mem["cuda_peak_mib"], "MiB peak CUDA allocated", n, d))


def _dir_mib(path: Path) -> tuple[float, dict]:
    sizes = {p.relative_to(path).as_posix(): p.stat().st_size for p in path.rglob("*") if p.is_file()}
    return sum(sizes.values()) / 2**20, sizes


def explorer_payload(explorer) -> dict:
    """JSON of the explorer's figures as plotly.js receives them: name -> JSON text."""
    import plotly.io as pio

    out = {}
    for name in ("fig_embedding", "fig_grid", "fig_ranked", "fig_detail"):
        fw = getattr(explorer, name, None)
        if fw is not None:
            out[name] = pio.to_json(fw, validate=False)
    return out


PAINT_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><script>{plotly}</script></head><body>
{divs}
<script id="figs" type="application/json">{figs}</script>
<script>
window.ddStart = performance.now();
const figs = JSON.parse(document.getElementById('figs').textContent);
const names = Object.keys(figs);
let done = 0;
names.forEach(function (k) {{
  const f = JSON.parse(figs[k]);
  Plotly.newPlot(k, f.data, f.layout).then(function () {{
    done += 1;
    if (done === names.length) {{
      requestAnimationFrame(function () {{ requestAnimationFrame(function () {{
        window.ddPainted = performance.now();
      }}); }});
    }}
  }});
}});
</script></body></html>"""


def browser_first_paint(payload: dict, folder: Path, timeout_s: float = 120.0) -> dict | None:
    """Load the explorer's figures into headless Chromium with plotly.js (offline) and time it: ``render_s``
    from the page's script start to every figure drawn (two animation frames after the last
    ``newPlot``), ``load_s`` from navigation to then (parsing plotly.js included). None without Chromium or
    playwright."""
    if not CHROMIUM.exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    import plotly

    divs = "\n".join(f'<div id="{k}"></div>' for k in payload)
    page_html = PAINT_HTML.format(plotly=plotly.offline.get_plotlyjs(), divs=divs,
                                  figs=json.dumps(payload).replace("</", "<\\/"))
    path = folder / "explorer-paint.html"
    write_text(path, page_html)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_function("window.ddPainted !== undefined", timeout=timeout_s * 1000)
            start, painted = page.evaluate("[window.ddStart, window.ddPainted]")
            gl = page.evaluate("document.getElementById('fig_embedding')._fullData[0].type")
        finally:
            browser.close()
    return {"render_s": (painted - start) / 1000, "load_s": painted / 1000, "errors": errors, "trace": gl,
            "html_mib": path.stat().st_size / 2**20}


_FRESH_EMBEDDING = r"""
import json, sys, time, torch
torch.set_num_threads(1)
from dd_explore.bench.synthetic import make_dataset
from dd_explore import viz
n, size = int(sys.argv[1]), int(sys.argv[2])
ds = make_dataset(n, 10, size, seed=0)
t = time.perf_counter()
viz.compute_embedding(ds.train, "umap", cache=False)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def fresh_process_embedding_seconds(n: int, size: int, work: Path) -> float | None:
    """Seconds of ``compute_embedding(..., "umap")`` on the n-image set in a new Python process whose numba
    cache is empty (``NUMBA_CACHE_DIR`` a new folder): what a user's first call costs."""
    import os
    import subprocess
    import sys

    cache = work / "numba-cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run([sys.executable, "-c", _FRESH_EMBEDDING, str(n), str(size)], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        logger.warning("fresh-process embedding failed: %s", proc.stderr[-1000:])
        return None
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])


# ---------------------------------------------------------------------------- one n
def scale_rows_for_n(n: int, plan: ScalePlan, device: torch.device, work: Path, progress: bool = False) -> list[dict]:
    """Every stage of ``plan`` at train size ``n`` (module doc)."""
    from dd_explore import distill, viz
    from dd_explore.bench.synthetic import make_dataset
    from dd_explore.selection import select
    from dd_explore.selection.features import extract_features

    rows: list[dict] = []
    stages = set(plan.stages)
    shape = f"3x{plan.size}x{plan.size}"
    d = 3 * plan.size * plan.size

    with _stage(rows, "load", "make + store (uint8)", f"{n} images {shape}, 10 classes", n, device, d):
        ds = make_dataset(n, 10, plan.size, seed=0)
    u8 = ds.train.pixels.numel() + ds.test.pixels.numel()
    rows.append(_row("load", "resident data", "train + test, pixels + labels", ds.nbytes / 2**20, "MiB", n, d,
                     note=f"uint8 pixels {u8 / 2**20:.1f} MiB; ratio {ds.nbytes / u8:.2f}x (float32 would be 4x)"))
    labels = ds.train.labels

    if "features" in stages:
        for feats in plan.features:
            if feats.startswith("convnet") and n > plan.convnet_max_n:
                continue
            with _stage(rows, "features", feats, "from the uint8 split, batches of 4096 (ConvNet 256)", n, device, d):
                F = extract_features(ds.train, feats, device=device, progress=progress)
            rows[-2]["note"] = f"-> ({F.shape[0]}, {F.shape[1]}) float32"
            del F

    sel = None
    if "select" in stages or "explorer" in stages or "report" in stages or "rundir" in stages:
        setting = f"{plan.select_method}, ipc {plan.ipc}, features pixels"
        with _stage(rows, "select", plan.select_method, setting, n, device, d):
            sel = select(ds.train, labels, plan.ipc, method=plan.select_method, features="pixels", random_state=0,
                         device=device, progress=progress)
        if "select" in stages and "pca:64" in plan.features:
            with _stage(rows, "select", plan.select_method, f"{plan.select_method}, ipc {plan.ipc}, features pca:64",
                        n, device, d):
                select(ds.train, labels, plan.ipc, method=plan.select_method, features="pca:64", random_state=0,
                       device=device)

    if "distill" in stages:
        kw = dict(ipc=plan.ipc, init="random", seed=0, device=device, width=plan.dm_width)
        distill.run(ds, "dm", batches="uniform", steps=1, **kw)  # untimed warm-up
        for batches, steps in (("uniform", plan.dm_steps), ("importance", plan.dm_importance_steps)):
            setting = f"dm width {plan.dm_width}, ipc {plan.ipc}, {batches} batches, {steps} steps, random init"
            with _stage(rows, "distill", f"dm {batches}", setting, n, device, d):
                res = distill.run(ds, "dm", batches=batches, steps=steps, **kw)
            st, pt = np.asarray(res.step_times), np.asarray(res.probe_times)
            rows.append(_row("distill", f"dm {batches}", setting, float(np.median(st)), "s/step (median)", n, d))
            if batches == "importance":
                later = pt[pt > 0][1:]
                rows.append(_row("distill", f"dm {batches}", setting, float(pt[pt > 0][0]) if (pt > 0).any() else 0.0,
                                 "s first probe refresh (warm-up epochs)", n, d))
                if later.size:
                    rows.append(_row("distill", f"dm {batches}", setting, float(later.mean()),
                                     "s per later probe refresh", n, d))
                    share = float(later.sum()) / float(st[1:].sum())
                    rows.append(_row("distill", f"dm {batches}", setting, 100 * share, "% probe share after warm-up",
                                     n, d, note="later refreshes / step time, first step excluded"))
                rows.append(_row("distill", f"dm {batches}", setting, 100 * float(res.probe_share),
                                 "% probe share (all steps)", n, d, note="includes the warm-up refresh"))

    emb = None
    cache = work / "embedding-cache"
    if "embedding" in stages or "report" in stages or "explorer" in stages or "dashboard" in stages:
        with _stage(rows, "embedding", plan.embedding, "first time (fit + cache write)", n, device, d) as _:
            emb = viz.compute_embedding(ds.train, plan.embedding, cache_dir=cache)
        rows[-2]["note"] = emb.note or "every point fitted"
        with _stage(rows, "embedding", plan.embedding, "cached", n, device, d):
            again = viz.compute_embedding(ds.train, plan.embedding, cache_dir=cache)
        assert again.from_cache
        if plan.embedding == "umap" and n == max(plan.ns):
            fresh = fresh_process_embedding_seconds(n, plan.size, work)
            if fresh is not None:
                rows.append(_row("embedding", plan.embedding, "first time in a fresh process, empty numba cache "
                                 "(JIT compilation included)", fresh, "s", n, d, note=emb.note or "every point fitted"))

    run_dir = work / f"run-{n}"
    if "rundir" in stages or "report" in stages:
        setting = (f"dm width {plan.run_dir_width}, ipc {plan.ipc}, importance batches (refresh 10; a cheap probe: "
                   f"width 8, pool 128, 5 warm-up epochs), {plan.run_dir_steps} steps, sensitivity-kmeans init")
        with _stage(rows, "rundir", "distill.run(out=...)", setting, n, device, d):
            distill.run(ds, "dm", ipc=plan.ipc, init="sensitivity-kmeans", batches="importance",
                        steps=plan.run_dir_steps, seed=0, device=device, width=plan.run_dir_width, out=run_dir,
                        overwrite=True, probe_width=8, pool=128, probe_warmup_epochs=5, probe_epochs=2)
        total, sizes = _dir_mib(run_dir)
        big = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
        rows.append(_row("rundir", "run directory size", setting, total, "MiB", n, d,
                         note=", ".join(f"{k} {v / 2**20:.1f}" for k, v in big)))
        rec = distill.load_run(run_dir)
        rows.append(_row("rundir", "importance.npz", setting, sizes.get("importance.npz", 0) / 2**20, "MiB", n, d,
                         note=f"q_format {rec.q_format}: q at {len(rec.refresh_steps)} of "
                              f"{len(rec.all_refresh_steps)} refreshes"))

    if "report" in stages:
        from dd_explore.report import write_report

        out = work / f"report-{n}.html"
        with _stage(rows, "report", "write_report", f"the {plan.run_dir_steps}-step run, {plan.embedding} (cached)",
                    n, device, d):
            write_report(run_dir, out=out, dataset=ds, embedding=plan.embedding, cache_dir=cache)
        rows.append(_row("report", "report size", "one offline HTML file", out.stat().st_size / 2**20, "MiB", n, d))

    if "explorer" in stages and sel is not None:
        from dd_explore.widgets import SelectionExplorer

        SelectionExplorer(ds, sel, embedding=emb)  # first FigureWidgets of the process: imports, not the explorer
        with _stage(rows, "explorer", "SelectionExplorer(...)", "cached embedding, kernel already warm", n, device, d):
            ex = SelectionExplorer(ds, sel, embedding=emb)
        build_s = rows[-2]["value"]
        payload = explorer_payload(ex)
        mib = sum(len(v) for v in payload.values()) / 2**20
        rows.append(_row("explorer", "payload", "JSON of its 4 figures (base64 arrays)", mib, "MiB", n, d,
                         note=", ".join(f"{k} {len(v) / 2**20:.2f}" for k, v in payload.items())))
        if plan.browser:
            paint = browser_first_paint(payload, work)
            if paint is None:
                rows.append(_row("explorer", "first paint", "headless Chromium", float("nan"), "s", n, d,
                                 note="skipped: no /usr/bin/chromium or playwright"))
            else:
                rows.append(_row("explorer", "browser render", "plotly.js draws the 4 figures, headless Chromium",
                                 paint["render_s"], "s", n, d, note=f"embedding trace {paint['trace']}; "
                                 f"page load incl. parsing plotly.js {paint['load_s']:.2f} s"))
                rows.append(_row("explorer", "first paint", "build in Python + browser render", build_s + paint["render_s"],
                                 "s", n, d, note="widget transfer not included" + (
                                     f"; page errors: {paint['errors'][:2]}" if paint["errors"] else "")))

    if "dashboard" in stages:
        from dd_explore.widgets import LiveDashboard

        kw = dict(ipc=plan.ipc, init="random", batches="importance", steps=plan.dashboard_steps, seed=0, device=device,
                  width=plan.dashboard_width)
        setting = f"dm width {plan.dashboard_width}, importance batches, {plan.dashboard_steps} steps, embedding shown"
        t0 = time.perf_counter()
        distill.run(ds, "dm", **kw)
        without = time.perf_counter() - t0
        dash = LiveDashboard(ds, embedding=emb)
        t0 = time.perf_counter()
        distill.run(ds, "dm", callbacks=[dash], **kw)
        with_dash = time.perf_counter() - t0
        rows.append(_row("dashboard", "hook share of the run", setting, 100 * dash.seconds_spent / with_dash, "%", n, d,
                         note=f"{dash.updates} updates, {dash.seconds_spent:.2f} s in hooks of {with_dash:.1f} s"))
        rows.append(_row("dashboard", "wall-time difference", setting, 100 * (with_dash - without) / without, "%", n, d,
                         note="two runs on a shared machine: noisy"))
    del ds
    gc.collect()
    return rows


def kmeans_rows(plan: ScalePlan, device: torch.device) -> list[dict]:
    """``select()`` (10 classes, sensitivity-kmeans, IPC 10) and ``kmeans_sensitivity`` (fresh subprocess) on
    ``kmeans_n`` x ``kmeans_d`` Gaussian points."""
    from dd_explore.bench import selection as benchmark
    from dd_explore.selection import select

    dev = "cuda" if device.type == "cuda" else "cpu"
    rows = []
    n, d = plan.kmeans_n, plan.kmeans_d
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g)
    y = torch.arange(n) % 10
    X += (y[:, None] * 0.5).float()  # class offsets
    setting = f"select(), 10 classes, {plan.select_method}, ipc {plan.ipc}"
    with _stage(rows, "kmeans", "select", setting, n, device, d, note=f"data {n * d * 4 / 2**20:.0f} MiB float32"):
        select(X, y, plan.ipc, method=plan.select_method, random_state=0, device=dev)
    del X, y
    gc.collect()
    for p in benchmark.bench_scaling(ns=(plan.kmeans_n,), d=plan.kmeans_d, k=10, device=dev, repeats=1):
        setting = f"k {p.k}, float32, fresh subprocess"
        rows.append(_row("kmeans", "kmeans_sensitivity", setting, p.seconds, "s", p.n, p.d))
        rows.append(_row("kmeans", "kmeans_sensitivity", setting, p.peak_extra_mib, "MiB peak extra", p.n, p.d,
                         note=f"data {p.data_mib:.0f} MiB; {p.bytes_per_point:.0f} bytes/point"))
    return rows


# ---------------------------------------------------------------------------- entry point
TITLES = {"load": "Loading (images made on the spot, stored as uint8)", "features": "Selection features",
          "select": "Selection (select() on the train split)", "distill": "DM steps",
          "embedding": "2-D embedding", "rundir": "Run directory", "report": "HTML report",
          "explorer": "SelectionExplorer", "dashboard": "LiveDashboard overhead",
          "kmeans": "Selection on many low-dimensional points (Gaussian, 10 classes)"}


def scale_markdown(rows: Sequence[dict], plan: ScalePlan, device, command: str | None) -> str:
    import datetime as _dt

    from dd_explore.bench.report import machine

    lines = [f"# dd-explore bench: scale (plan `{plan.name}`)", "",
             f"- date: {_dt.datetime.now().isoformat(timespec='seconds')}; machine: {machine()}; device: {device}",
             f"- command: `{command}`" if command else "- command: (API call)",
             f"- data: CIFAR-shaped images (3x{plan.size}x{plan.size}, 10 classes with their own colours, stripes and "
             "blob) made by dd_explore.bench.synthetic; peak RSS is the process's, reset at each stage's start "
             "(it includes the data set held resident)", ""]
    for section, title in TITLES.items():
        part = [r for r in rows if r["section"] == section]
        if not part:
            continue
        lines += [f"## {title}", "", "| item | setting | n | value | unit | note |", "|---|---|---|---|---|---|"]
        for r in part:
            v = r["value"]
            val = f"{v:.4g}" if isinstance(v, float) else str(v)
            lines.append(f"| {r['item']} | {r['setting']} | {r['n']} | {val} | {r['unit']} | {r['note']} |")
        lines.append("")
    return "\n".join(lines)


def run_scale(out: str | Path, plan: ScalePlan | str = "standard", *, device="auto", progress: bool = False,
              command: str | None = None, ns: Sequence[int] | None = None, keep_work: bool = False) -> list[dict]:
    """Run the scale section and write ``out/scale.csv`` and ``out/scale.md`` (rewritten after every n);
    returns the rows. ``ns`` overrides the plan's sizes; the run directories, reports and caches go to a
    temporary folder (``out/scale-work`` with ``keep_work``)."""
    from dd_explore.device import resolve_device

    if isinstance(plan, str):
        plan = make_scale_plan(plan)
    if ns is not None:
        plan = replace(plan, ns=tuple(int(n) for n in ns))
    dev = resolve_device(device)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def flush():
        write_csv(out / "scale.csv", rows, SCALE_COLUMNS)
        write_text(out / "scale.md", scale_markdown(rows, plan, dev, command))

    work = out / "scale-work" if keep_work else Path(tempfile.mkdtemp(prefix="dd-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for n in plan.ns:
            logger.info("scale: n = %d", n)
            rows += scale_rows_for_n(n, plan, dev, work / f"n{n}", progress)
            flush()
        if "kmeans" in plan.stages:
            rows += kmeans_rows(plan, dev)
        flush()
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return rows

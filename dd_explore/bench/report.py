"""The bench's summary files: ``summary.csv`` (one row per cell), ``table.md`` and ``comparison.html``.

The figure is the comparison view of :mod:`dd_explore.viz` (``comparison_figure``: bars of mean
accuracy with +- std error bars and each network as a dot), one panel per (method, IPC) plus one for
the baselines of each IPC, all in one self-contained HTML file (plotly.js inlined once).
"""

from __future__ import annotations

import html
import math
import os
import platform
from pathlib import Path
from typing import Mapping, Sequence

from dd_explore._io import write_text
from dd_explore.bench.plan import Plan
from dd_explore.bench.stats import CellSummary, summarize
from dd_explore.bench.store import write_csv

SUMMARY_COLUMNS = ("cell", "label", "kind", "method", "ipc", "init", "batches", "control", "seeds", "runs", "mean",
                   "std", "reference", "diff", "t_p", "wilcoxon_p", "wins", "losses", "paired_n", "steps", "lr_img",
                   "seconds_per_step", "probe_share", "distill_seconds", "eval_seconds", "eval_epochs", "failed")


def _pct(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _p(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _num(x: float, fmt: str) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def machine() -> str:
    import torch

    return (f"{platform.node() or 'host'}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), python {platform.python_version()}")


def _row(s: CellSummary) -> str:
    p = s.paired
    if s.kind == "distill":
        init = s.init
        batches = {"uniform": "uniform", "importance": "importance", "importance-rw": "importance, reweighted"}[s.variant]
        control = {"none": "", "equal-time": "equal wall time", "lr-tuned": f"lr tuned ({_num(s.lr_img, 'g')})"}[s.control]
        steps = _num(s.steps, ".0f")
    else:
        init, batches, control, steps = (s.method if s.kind == "coreset" else "whole split"), "", "", ""
    acc = f"{_pct(s.mean)} ± {_pct(s.std)}"
    if s.reference is None and p is None:
        diff, pt, pw, wl = ("ref" if (s.kind == "distill" or s.method == "random") else ""), "", "", ""
    elif p is None:
        diff, pt, pw, wl = "", "", "", ""
    else:
        star = " *" if (not math.isnan(p.t_p) and p.t_p < 0.05) else ""
        diff, pt, pw, wl = f"{100 * p.diff:+.2f}{star}", _p(p.t_p), _p(p.wilcoxon_p), f"{p.wins}/{p.losses}"
    sps = _num(s.seconds_per_step, ".3f")
    probe = _num(100 * s.probe_share, ".0f") + "%" if not math.isnan(s.probe_share) and s.variant != "uniform" else ""
    n = f"{len(s.seeds)}x{s.runs // max(1, len(s.seeds))}" + (f" ({s.failed} diverged)" if s.failed else "")
    return f"| {s.method if s.kind == 'distill' else s.kind} | {init} | {batches} | {control} | {steps} | {acc} | {diff} | {pt} | {pw} | {wl} | {sps} | {probe} | {n} |"


HEADER = ("| method | init | batches | control | steps | accuracy % (mean ± std) | Δ vs random/uniform (pp) | "
          "p (paired t) | p (Wilcoxon) | wins/losses | s/step | probe share | seeds x nets |")
RULE = "|" + "---|" * 13


def table_markdown(plan: Plan, summaries: Sequence[CellSummary], *, dataset=None, device=None, command: str | None = None,
                   tuning: Sequence[Mapping] = (), date: str | None = None) -> str:
    import datetime as _dt

    date = date or _dt.datetime.now().isoformat(timespec="seconds")
    epochs = sorted({(c.ipc, c.eval_epochs) for c in plan.cells})
    lines = [f"# dd-explore bench: plan `{plan.name}` on {plan.dataset}", "",
             f"- date: {date}; machine: {machine()}; device: {device}",
             f"- command: `{command}`" if command else "- command: (API call)",
             f"- seeds: {list(plan.seeds)}; each seed's set is evaluated by the same networks in every cell "
             f"(ConvNet-3 width {plan.eval_width}, instance norm, SGD lr 0.01 momentum 0.9 wd 5e-4, batch 256, "
             f"lr x0.1 at half, no augmentation); evaluation seed {plan.eval_seed} + seed "
             "(its networks spawned with numpy's SeedSequence)",
             "- evaluation epochs: " + ", ".join(f"{'whole split' if i == 0 else f'IPC {i}'} {e}" for i, e in epochs)
             + " (the field's protocol: 300)",
             "- accuracy: mean ± std (ddof 0) over every evaluation network of every seed; Δ: mean over shared seeds "
             "of (cell − random-init uniform-batch run of the same method and IPC; coresets: − random coreset), in "
             "percentage points; p: two-sided paired t-test and Wilcoxon signed-rank test on the per-seed "
             "accuracies (all differences 0 → p = 1; one seed → n/a; with 5 seeds the Wilcoxon p cannot go "
             "below 0.0625); * marks t-test p < 0.05 (no correction for the many comparisons)",
             "- equal wall time: uniform batches given the steps that fit in the random-init importance run's "
             "distillation time (probe included) at the reference run's seconds per step; lr tuned: uniform "
             "batches with the image learning rate picked on a stratified validation split of the training set "
             f"({100 * plan.val_fraction:.0f}% per class; the test split is never used), grid x{list(plan.lr_grid)} of the default",
             "- s/step: median seconds per distillation step (importance: the probe refreshes are in the steps that "
             "run them); probe share: probe seconds / distillation seconds"]
    lines += [f"- note: {n}" for n in plan.notes]
    for ipc in sorted({c.ipc for c in plan.cells if c.ipc > 0}):
        group = [s for s in summaries if s.ipc == ipc]
        if not group:
            continue
        lines += ["", f"## IPC {ipc}", "", HEADER, RULE]
        lines += [_row(s) for s in group if s.kind == "distill"]
        lines += [_row(s) for s in group if s.kind == "coreset"]
    whole = [s for s in summaries if s.kind == "whole"]
    if whole:
        lines += ["", "## Whole training split", "", HEADER, RULE] + [_row(s) for s in whole]
    if tuning:
        lines += ["", "## Learning-rate tuning (validation split of train)", "",
                  "| method | IPC | factor | image lr | steps | validation accuracy % |", "|---|---|---|---|---|---|"]
        for r in sorted(tuning, key=lambda r: (r["method"], int(r["ipc"]), float(r["factor"]))):
            lines.append(f"| {r['method']} | {r['ipc']} | x{float(r['factor']):g} | {float(r['lr_img']):g} | "
                         f"{r['steps']} | {100 * float(r['val_accuracy']):.2f} |")
    missing = [c.key for c in plan.cells if not any(s.key == c.key for s in summaries)]
    if missing:
        lines += ["", f"Not run yet ({len(missing)} cells): " + ", ".join(missing)]
    return "\n".join(lines) + "\n"


def comparison_html(plan: Plan, summaries: Sequence[CellSummary]) -> str:
    """One self-contained HTML page: a comparison figure per (method, IPC) and per IPC for the baselines."""
    from dd_explore.viz import comparison_figure

    panels = []
    for ipc in sorted({s.ipc for s in summaries if s.ipc > 0}):
        for method in dict.fromkeys(s.method for s in summaries if s.ipc == ipc and s.kind == "distill"):
            group = [s for s in summaries if s.ipc == ipc and s.kind == "distill" and s.method == method]
            panels.append((f"{method.upper()}, IPC {ipc}", group))
        base = [s for s in summaries if s.ipc == ipc and s.kind == "coreset"]
        if base:
            panels.append((f"Coreset baselines, IPC {ipc}", base))
    whole = [s for s in summaries if s.kind == "whole"]
    if whole:
        panels.append(("Whole training split", whole))
    parts = []
    first = True
    for title, group in panels:
        records = [{"label": s.label, "mean": s.mean, "std": s.std, "accuracies": s.accuracies} for s in group]
        fig = comparison_figure(records, title=f"{title} ({plan.dataset}, {len(plan.seeds)} seeds)")
        fig.update_layout(xaxis_tickangle=-30, height=460, margin=dict(b=160))
        parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
        first = False
    body = "\n".join(f"<section>{p}</section>" for p in parts) or "<p>No finished cells yet.</p>"
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>dd-explore bench {html.escape(plan.name)}"
            f"</title></head><body style='font-family:sans-serif'>\n<h1>dd-explore bench: plan {html.escape(plan.name)} "
            f"on {html.escape(plan.dataset)}</h1>\n<p>Bars: mean test accuracy ± std over every evaluation network; "
            "dots: each network. The first bar of each method is the reference (random init, uniform batches). "
            "See table.md for the differences and paired tests.</p>\n" + body + "\n</body></html>\n")


def write_reports(plan: Plan, rows: Sequence[Mapping], out: Path, *, dataset=None, device=None,
                  command: str | None = None, tuning: Sequence[Mapping] = ()) -> list[CellSummary]:
    """Write summary.csv, table.md and comparison.html in ``out`` from ``rows``; returns the summaries."""
    out = Path(out)
    current = {(c.key, c.fingerprint(plan)) for c in plan.cells}
    seeds = set(plan.seeds)
    rows = [r for r in rows if (r["cell"], r["fingerprint"]) in current and int(r["seed"]) in seeds]
    summaries = summarize(plan.cells, rows)
    write_csv(out / "summary.csv", [s.to_row() for s in summaries], SUMMARY_COLUMNS)
    write_text(out / "table.md", table_markdown(plan, summaries, dataset=dataset, device=device, command=command,
                                                       tuning=tuning))
    write_text(out / "comparison.html", comparison_html(plan, summaries))
    return summaries

"""Curves and bars: loss over steps, accuracy over steps / initial vs final, run-vs-run comparison."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore.viz.images import _numpy
from dd_explore.viz.scales import log_axis


def loss_figure(
    steps,
    losses,
    *,
    name: str = "loss",
    smooth: int = 0,
    log_y: bool = False,
    title: str | None = "Distillation loss",
) -> go.Figure:
    """Loss over steps. ``losses`` is (T,) or a mapping name -> (T,) (one trace each).

    ``smooth`` > 1 adds a moving-average trace (window ``smooth``) per series, drawn over the raw one.
    """
    st = _numpy(steps).reshape(-1)
    series = dict(losses) if isinstance(losses, Mapping) else {name: losses}
    fig = go.Figure()
    for key, values in series.items():
        v = _numpy(values).astype(np.float64).reshape(-1)
        if v.shape[0] != st.shape[0]:
            raise ValueError(f"losses[{key!r}] must have one value per step ({st.shape[0]}); got {v.shape[0]}")
        fig.add_trace(go.Scatter(x=st, y=v, mode="lines", name=str(key), opacity=0.45 if smooth > 1 else 1.0,
                                 hovertemplate="step %{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>"))
        if smooth > 1 and v.shape[0] >= smooth:
            kernel = np.ones(smooth) / smooth
            avg = np.convolve(v, kernel, mode="valid")
            fig.add_trace(go.Scatter(x=st[smooth - 1:], y=avg, mode="lines", name=f"{key} (mean of {smooth})",
                                     line=dict(width=2.5),
                                     hovertemplate="step %{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="step", yaxis_title="loss",
                      yaxis=log_axis(np.concatenate([_numpy(v).astype(np.float64).reshape(-1) for v in series.values()]))
                      if log_y else {}, width=720, height=360,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def _as_record(item) -> tuple[str, float, float, tuple[float, ...]]:
    """(label, mean, std, accuracies) from (label, mean, std), (label, EvalResult-like) or a dict."""
    if isinstance(item, Mapping):
        label, mean, std = item["label"], item["mean"], item.get("std", 0.0)
        accs = tuple(item.get("accuracies", ()))
    elif isinstance(item, (tuple, list)) and len(item) == 3:
        label, mean, std = item
        accs = ()
    elif isinstance(item, (tuple, list)) and len(item) == 2 and hasattr(item[1], "mean"):
        label, res = item
        mean, std, accs = res.mean, getattr(res, "std", 0.0), tuple(getattr(res, "accuracies", ()))
    elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], Mapping) and "mean" in item[1]:
        label, res = item
        mean, std, accs = res["mean"], res.get("std", 0.0), tuple(res.get("accuracies", ()))
    else:
        raise ValueError(f"each result must be (label, mean, std), (label, EvalResult) or a dict with label/mean/std; got {item!r}")
    mean, std = float(mean), float(std)
    if not np.isfinite(mean) or not np.isfinite(std) or std < 0:
        raise ValueError(f"result {label!r} must have a finite mean and a finite std >= 0; got mean={mean}, std={std}")
    return str(label), mean, std, tuple(float(a) for a in accs)


def comparison_figure(
    results: Iterable | Mapping,
    *,
    percent: bool = True,
    show_runs: bool = True,
    title: str | None = "Test accuracy",
    yaxis_title: str = "test accuracy",
) -> go.Figure:
    """Bars of mean accuracy with +- std error bars, one bar per run, in the given order.

    results: a sequence of (label, mean, std), of (label, EvalResult-like with mean/std/accuracies), of
    (label, dict with mean/std[/accuracies]) such as a run's ``metrics["final"]``, of dicts
    {"label", "mean", "std"[, "accuracies"]}, or a mapping label -> EvalResult-like or dict.
    Values in [0, 1] are shown as percent when ``percent``. ``show_runs`` overlays each network's
    accuracy (when known) as dots. Trace 0 = the bars (``error_y.array`` = the stds).
    """
    items = list(results.items()) if isinstance(results, Mapping) else list(results)
    if not items:
        raise ValueError("results must hold at least one (label, mean, std); got none")
    recs = [_as_record(it) for it in items]
    scale = 100.0 if percent else 1.0
    labels = [r[0] for r in recs]
    means = np.array([r[1] for r in recs]) * scale
    stds = np.array([r[2] for r in recs]) * scale
    fig = go.Figure(go.Bar(
        x=labels, y=means, error_y=dict(type="data", array=stds, visible=True, thickness=1.5, width=6),
        name="mean +- std", marker_color="#4c78a8",
        text=[f"{m:.2f} +- {s:.2f}" for m, s in zip(means, stds)], textposition="outside",
        hovertemplate="%{x}<br>%{y:.2f} +- %{error_y.array:.2f}<extra></extra>",
    ))
    if show_runs and any(r[3] for r in recs):
        xs, ys = [], []
        for lab, _, _, accs in recs:
            xs += [lab] * len(accs)
            ys += [a * scale for a in accs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="each network",
                                 marker=dict(color="black", size=5, opacity=0.6),
                                 hovertemplate="%{x}<br>%{y:.2f}<extra>one network</extra>"))
    lo = float(np.min(means - stds))
    hi = float(np.max(means + stds))
    pad = max(1e-9, 0.15 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0))
    fig.update_layout(title=title, template="plotly_white", yaxis_title=yaxis_title + (" (%)" if percent else ""),
                      yaxis_range=[max(0.0, lo - pad), hi + pad], width=max(420, 110 * len(recs) + 160), height=380,
                      showlegend=False, margin=dict(l=60, r=20, t=50 if title else 20, b=60))
    return fig


def _end_result(res):
    if hasattr(res, "mean"):
        return float(res.mean), float(getattr(res, "std", 0.0)), None
    if isinstance(res, Mapping):
        return float(res["mean"]), float(res.get("std", 0.0)), res.get("step")
    mean, std = res
    return float(mean), float(std), None


def accuracy_figure(
    steps: Sequence[int] | None = None,
    means=None,
    stds=None,
    *,
    initial=None,
    final=None,
    final_step: int | None = None,
    curve_name: str = "during the run",
    percent: bool = True,
    title: str | None = "Test accuracy",
) -> go.Figure:
    """Accuracy over steps (line with a +- std band) and/or the initial and final results.

    steps/means/stds: accuracy evaluated at some steps during the run (often a smaller budget).
    initial, final: EvalResult-like (mean, std), a dict with mean/std[/step] or a (mean, std) pair.
    Without a curve they are two bars with error bars; with one, two red markers with error bars at
    step 0 and at ``final_step`` (default: the final dict's "step", else the last curve step).
    """
    scale = 100.0 if percent else 1.0
    fig = go.Figure()
    have_curve = steps is not None and means is not None and len(_numpy(steps).reshape(-1)) > 0
    if have_curve:
        st = _numpy(steps).reshape(-1)
        m = _numpy(means).astype(np.float64).reshape(-1) * scale
        if m.shape[0] != st.shape[0]:
            raise ValueError(f"means must have one value per step ({st.shape[0]}); got {m.shape[0]}")
        if stds is not None:
            s = _numpy(stds).astype(np.float64).reshape(-1) * scale
            fig.add_trace(go.Scatter(x=np.concatenate([st, st[::-1]]), y=np.concatenate([m + s, (m - s)[::-1]]),
                                     fill="toself", line=dict(width=0), fillcolor="rgba(76,120,168,0.2)",
                                     hoverinfo="skip", name="+- std", showlegend=False))
        fig.add_trace(go.Scatter(x=st, y=m, mode="lines+markers", name=curve_name,
                                 hovertemplate="step %{x}<br>%{y:.2f}<extra>%{fullData.name}</extra>"))
    ends = []
    for label, res in (("initial", initial), ("final", final)):
        if res is not None:
            mean, std, step = _end_result(res)
            ends.append((label, mean * scale, std * scale, step))
    if not fig.data and not ends:
        raise ValueError("accuracy_figure needs steps and means, or initial/final results; got neither")
    if ends and not have_curve:
        fig.add_trace(go.Bar(x=[e[0] for e in ends], y=[e[1] for e in ends],
                             error_y=dict(type="data", array=[e[2] for e in ends], visible=True),
                             text=[f"{e[1]:.2f} +- {e[2]:.2f}" for e in ends], textposition="outside",
                             marker_color=["#9ecae9", "#4c78a8"][: len(ends)], name="accuracy",
                             hovertemplate="%{x}<br>%{y:.2f}<extra></extra>"))
        lo = min(e[1] - e[2] for e in ends)
        hi = max(e[1] + e[2] for e in ends)
        pad = max(1.0, 0.2 * (hi - lo))
        fig.update_layout(yaxis_range=[max(0.0, lo - pad), hi + pad])
    elif ends:
        last = int(st[-1]) if final_step is None else int(final_step)
        xs = [0 if e[0] == "initial" else (e[3] if e[3] is not None and final_step is None else last) for e in ends]
        fig.add_trace(go.Scatter(x=xs, y=[e[1] for e in ends], mode="markers+text", name="initial / final",
                                 text=[f"{e[0]} {e[1]:.2f}" for e in ends],
                                 textposition=["top right" if e[0] == "initial" else "top left" for e in ends],
                                 error_y=dict(type="data", array=[e[2] for e in ends], visible=True),
                                 marker=dict(size=9, color="#d62728"), hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="step" if have_curve else None,
                      yaxis_title="test accuracy" + (" (%)" if percent else ""), width=560, height=360,
                      showlegend=have_curve, legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                      margin=dict(l=60, r=20, t=60 if title else 20, b=50))
    return fig


def run_loss_figure(run, *, smooth: int | None = None, **kwargs) -> go.Figure:
    """:func:`loss_figure` of a run record (``event_steps``, ``losses``); smoothing over ~T/20 steps by default."""
    steps = _numpy(run.event_steps)
    if steps.shape[0] == 0:
        raise ValueError("the run has no recorded steps (events.jsonl is empty)")
    if smooth is None:
        smooth = max(0, steps.shape[0] // 20) if steps.shape[0] >= 40 else 0
    return loss_figure(steps, run.losses, name=f"{run.config.get('run', {}).get('method', '')} loss".strip(),
                       smooth=smooth, **kwargs)


def run_accuracy_figure(run, **kwargs) -> go.Figure:
    """:func:`accuracy_figure` of a run record's ``metrics``: the periodic ``history`` evaluations as the
    curve (their smaller budget) and ``initial``/``final`` (full protocol) as markers or bars."""
    m = run.metrics or {}
    if not m.get("history") and "initial" not in m and "final" not in m:
        raise ValueError("the run holds no evaluation (no metrics.json): run distill with evaluate=True")
    hist = sorted(m.get("history") or [], key=lambda h: h["step"])
    if hist:
        return accuracy_figure([h["step"] for h in hist], [h["mean"] for h in hist], [h.get("std", 0.0) for h in hist],
                               initial=m.get("initial"), final=m.get("final"),
                               curve_name="during the run (smaller budget)", **kwargs)
    return accuracy_figure(initial=m.get("initial"), final=m.get("final"), **kwargs)

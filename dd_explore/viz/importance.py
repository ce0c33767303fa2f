"""Importance-sampled real batches: q_t over steps, its entropy / effective sample size, and draw counts.

q is shown relative to uniform: ``n_c * q_t(i)`` for a point i of class c with n_c points, so 1 means
"drawn as often as under uniform batches", 5 means five times as often.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore.viz.embedding import Embedding, embedding_figure
from dd_explore.viz.images import _numpy
from dd_explore.viz.scales import clipped_counts

SORTS = ("final", "index")


def _check_q(steps, q, labels):
    st = _numpy(steps).reshape(-1)
    qq = _numpy(q).astype(np.float64)
    lab = _numpy(labels).reshape(-1).astype(np.int64)
    if qq.ndim != 2:
        raise ValueError(f"q must have shape (R, n): one row of sampling probabilities per refresh; got {qq.shape}")
    if qq.shape[0] != st.shape[0]:
        raise ValueError(f"q must have one row per refresh step ({st.shape[0]}); got {qq.shape[0]}")
    if qq.shape[1] != lab.shape[0]:
        raise ValueError(f"q must have one column per real point ({lab.shape[0]} labels); got {qq.shape[1]}")
    return st, qq, lab


def relative_to_uniform(q, labels) -> np.ndarray:
    """``n_c * q[..., i]`` for each point i of class c (q normalized within each class)."""
    qq = _numpy(q).astype(np.float64)
    lab = _numpy(labels).reshape(-1).astype(np.int64)
    counts = np.bincount(lab)
    return qq * counts[lab]


def importance_heatmap_figure(
    steps,
    q,
    labels,
    *,
    sort: str = "final",
    class_names: Sequence[str] | None = None,
    title: str | None = "Sampling probability q_t of the real points (x uniform)",
    zmax: float | None = None,
    max_columns: int | None = 300,
    max_rows: int | None = 40,
) -> go.Figure:
    """Heatmap per class: x = the class's real points, y = refresh step, colour = n_c * q_t (1 = uniform).

    steps (R,): refresh steps; q (R, n): the sampling distribution over all n real points at each
    refresh (normalized within each class); labels (n,). One ``go.Heatmap`` trace per class (only the
    first visible) and a dropdown to switch class. Diverging colours: white = uniform (1), red = drawn
    more often, blue = less; the scale tops at ``zmax`` (default max(2, 99.5th percentile)). ``sort="final"``: points ordered by their last q
    (largest left); ``"index"``: by global index. ``customdata`` holds each column's global index.
    ``max_columns``: a class with more points shows that many columns, each the mean of n_c q over
    consecutive points in that order (``customdata`` then holds each column's first global index, and the
    x-axis title says how many points a column averages); None: one column per point. ``max_rows``: with
    more refreshes, that many evenly spaced ones (first and last included; the y-axis title says so).
    ``customdata`` is int32 (the figure of a long run on a large set stays ~1 MB).
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
    if max_columns is not None and (isinstance(max_columns, bool) or not isinstance(max_columns, (int, np.integer))
                                    or max_columns < 2):
        raise ValueError(f"max_columns must be an int >= 2 or None; got {max_columns!r}")
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 2):
        raise ValueError(f"max_rows must be an int >= 2 or None; got {max_rows!r}")
    st, qq, lab = _check_q(steps, q, labels)
    total_rows = st.shape[0]
    if max_rows is not None and total_rows > max_rows:
        keep = np.unique(np.round(np.linspace(0, total_rows - 1, int(max_rows))).astype(np.int64))
        st, qq = st[keep], qq[keep]
    rel = relative_to_uniform(qq, lab)
    classes = sorted(int(c) for c in np.unique(lab))
    top = float(zmax) if zmax is not None else float(max(2.0, np.quantile(rel, 0.995)))
    fig = go.Figure()
    binned = 1
    for k, c in enumerate(classes):
        members = np.flatnonzero(lab == c)
        if sort == "final":
            members = members[np.argsort(-rel[-1, members], kind="stable")]
        z = rel[:, members].astype(np.float32)
        x = np.arange(members.shape[0])
        first = members
        if max_columns is not None and members.shape[0] > max_columns:
            groups = np.array_split(np.arange(members.shape[0]), int(max_columns))
            starts = np.array([g[0] for g in groups])
            z = np.add.reduceat(z, starts, axis=1) / np.array([g.size for g in groups], dtype=np.float32)[None, :]
            x, first = starts, members[starts]
            binned = max(binned, int(np.ceil(members.shape[0] / max_columns)))
        name = str(class_names[c]) if class_names is not None else str(c)
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=[str(int(s)) for s in st],
            customdata=np.broadcast_to(first.astype(np.int32), z.shape).copy(),
            zmin=0.0, zmax=top, zmid=1.0, colorscale="RdBu_r", visible=(k == 0), name=f"class {name}",
            colorbar=dict(title=dict(text="n_c q"), thickness=12),
            hovertemplate=("point %{customdata}" if binned == 1 else "points from %{customdata} (rank %{x}), mean")
                          + "<br>step %{y}<br>n_c q = %{z:.3g}<extra>%{fullData.name}</extra>",
        ))
    buttons = [dict(label=f"class {class_names[c] if class_names is not None else c}", method="update",
                    args=[{"visible": [j == k for j in range(len(classes))]}])
               for k, c in enumerate(classes)]
    xtitle = "real points of the class, " + ("highest final q first" if sort == "final" else "by index")
    if binned > 1:
        xtitle += f" (each column: mean of ~{binned} points)"
    fig.update_layout(
        title=title, template="plotly_white", width=760, height=max(300, min(600, 24 * st.shape[0] + 160)),
        xaxis_title=xtitle,
        yaxis_title="refresh step" + (f" ({st.shape[0]} of {total_rows} shown)" if st.shape[0] < total_rows else ""),
        yaxis_type="category",
        updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.12, yanchor="top", showactive=True)],
        margin=dict(l=70, r=20, t=70 if title else 40, b=50),
    )
    return fig


def entropy_ess(q, labels) -> tuple[np.ndarray, np.ndarray]:
    """Per refresh and class: normalized entropy H(q_c)/log n_c and ESS/n_c = 1/(n_c sum q_c^2).

    Returns two (R, C) arrays in [0, 1]; 1 means uniform, small means q is concentrated on few points.
    """
    qq = np.atleast_2d(_numpy(q).astype(np.float64))
    lab = _numpy(labels).reshape(-1).astype(np.int64)
    classes = sorted(int(c) for c in np.unique(lab))
    H = np.zeros((qq.shape[0], len(classes)))
    E = np.zeros_like(H)
    for k, c in enumerate(classes):
        qc = qq[:, lab == c]
        qc = qc / np.maximum(qc.sum(axis=1, keepdims=True), 1e-300)
        n = qc.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.sum(np.where(qc > 0, qc * np.log(qc), 0.0), axis=1)
        H[:, k] = h / np.log(n) if n > 1 else 1.0
        E[:, k] = 1.0 / (n * np.sum(qc ** 2, axis=1))
    return H, E


def entropy_figure(
    steps,
    entropy,
    ess,
    *,
    class_names: Sequence[str] | None = None,
    classes: Sequence[int] | None = None,
    title: str | None = "How spread out the sampler is",
) -> go.Figure:
    """Normalized entropy and ESS fraction over steps (1 = uniform batches).

    steps (T,); entropy, ess: (T,) or (T, C) arrays (e.g. from :func:`entropy_ess`, or the per-step
    summaries a run records). Solid lines = entropy, dashed = ESS; with (T, C) the class mean is drawn
    bold and each class thin. Traces: entropy series then ESS series.
    """
    st = _numpy(steps).reshape(-1)
    fig = go.Figure()
    for what, arr, dash in (("entropy", entropy, "solid"), ("ESS / n", ess, "dash")):
        a = _numpy(arr).astype(np.float64)
        a = a.reshape(-1, 1) if a.ndim == 1 else a
        if a.shape[0] != st.shape[0]:
            raise ValueError(f"{what} must have one row per step ({st.shape[0]}); got {a.shape[0]}")
        if a.shape[1] > 1:
            ids = list(classes) if classes is not None else list(range(a.shape[1]))
            for k in range(a.shape[1]):
                name = str(class_names[ids[k]]) if class_names is not None else str(ids[k])
                fig.add_trace(go.Scatter(x=st, y=a[:, k], mode="lines", name=f"{what} class {name}",
                                         line=dict(width=0.8, dash=dash), opacity=0.5, legendgroup=what, showlegend=False,
                                         hovertemplate="step %{x}<br>%{y:.3f}<extra>%{fullData.name}</extra>"))
        fig.add_trace(go.Scatter(x=st, y=a.mean(axis=1), mode="lines+markers" if st.shape[0] < 30 else "lines",
                                 name=what + (" (mean over classes)" if a.shape[1] > 1 else ""), legendgroup=what,
                                 line=dict(width=2.5, dash=dash),
                                 hovertemplate="step %{x}<br>%{y:.3f}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="step", yaxis_title="fraction of uniform (1 = uniform)",
                      yaxis_range=[0, 1.05], width=720, height=360, margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def draw_count_figure(
    counts,
    labels,
    *,
    expected: float | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    title: str | None = "How often each real point was drawn",
    clip: bool = True,
) -> go.Figure:
    """Histogram of draw counts per real point, one overlaid histogram trace per class.

    counts (n,): cumulative draws of each real point; ``expected``: draws per point under uniform
    batches (scalar, or per class (C,)); drawn as a dashed line when given. ``clip``: when a few points
    were drawn far more often than the rest (beyond 1.5x the 99.5th percentile), the x axis ends there and
    those points are counted in the last bar (a note under the title says how many, and the largest count)
    instead of squeezing everything into the left edge.
    """
    cnt = _numpy(counts).reshape(-1).astype(np.int64)
    lab = _numpy(labels).reshape(-1).astype(np.int64)
    if cnt.shape[0] != lab.shape[0]:
        raise ValueError(f"counts must have one entry per real point ({lab.shape[0]} labels); got {cnt.shape[0]}")
    if cnt.size and cnt.min() < 0:
        raise ValueError(f"counts must be >= 0; got min {cnt.min()}")
    shown, top, over = clipped_counts(cnt) if clip else (cnt, int(cnt.max()) if cnt.size else 0, 0)
    fig = go.Figure()
    size = max(1, int(np.ceil((top + 1) / 60)))
    for c in sorted(int(c) for c in np.unique(lab)):
        name = str(class_names[c]) if class_names is not None else str(c)
        fig.add_trace(go.Histogram(x=shown[lab == c], name=f"class {name}", opacity=0.55,
                                   xbins=dict(start=-0.5, end=top + 0.5, size=size),
                                   hovertemplate="drawn %{x} times<br>%{y} points<extra>%{fullData.name}</extra>"))
    if expected is not None:
        e = np.atleast_1d(np.asarray(expected, dtype=np.float64))
        fig.add_vline(x=float(e.mean()), line_dash="dash", annotation_text="uniform", annotation_position="top right")
    xtitle = "times drawn"
    if over:
        xtitle += f" (the last bar also holds the {over} points drawn more than {top} times, up to {int(cnt.max())})"
    fig.update_layout(title=title, template="plotly_white", barmode="overlay", xaxis_title=xtitle,
                      yaxis_title="real points", width=720, height=360, margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def draw_count_embedding_figure(
    embedding: Embedding | np.ndarray,
    counts,
    labels,
    *,
    marked=None,
    class_names: Sequence[str] | None = None,
    title: str | None = "Draw counts on the embedding",
    **kwargs,
) -> go.Figure:
    """The embedding scatter coloured by how often each real point was drawn (``marker.color`` = counts)."""
    return embedding_figure(embedding, labels, color=_numpy(counts).reshape(-1), color_name="times drawn",
                            colorscale="Plasma", marked=marked, marked_name="initial images", class_names=class_names,
                            title=title, **kwargs)


def run_uses_importance(run) -> bool:
    """True when the run drew importance-sampled batches (it has q refreshes)."""
    return run.config.get("run", {}).get("batches") == "importance" and _numpy(run.q).shape[0] > 0


def _require_importance(run) -> None:
    if not run_uses_importance(run):
        raise ValueError(f"this view needs a run with batches='importance' and at least one q refresh; "
                         f"got batches={run.config.get('run', {}).get('batches')!r} with {_numpy(run.q).shape[0]} refreshes")


def run_importance_heatmap_figure(run, *, sort: str = "final", **kwargs) -> go.Figure:
    """:func:`importance_heatmap_figure` of a run record (``refresh_steps``, ``q``, ``train_labels``)."""
    from dd_explore.viz.run_data import class_names

    _require_importance(run)
    if getattr(run, "q_thinned", False) and "title" not in kwargs:
        all_steps = np.asarray(run.all_refresh_steps)
        pos = np.searchsorted(all_steps, np.asarray(run.refresh_steps))
        stride = int(pos[1] - pos[0]) if pos.size > 1 else 1
        kwargs["title"] = (f"Sampling probability q_t of the real points (x uniform): kept at every {stride}th "
                           f"refresh and the last ({len(pos)} of {len(all_steps)})")
    return importance_heatmap_figure(run.refresh_steps, run.q, run.train_labels, sort=sort,
                                     class_names=class_names(run), **kwargs)


def run_entropy_figure(run, **kwargs) -> go.Figure:
    """:func:`entropy_figure` from the per-step importance summaries of a run's events
    (``entropy_ratio`` and ``ess / n`` of each class)."""
    from dd_explore.viz.run_data import class_names

    _require_importance(run)
    steps, H, E, cls = [], [], [], None
    for ev in run.events:
        summ = ev.get("importance")
        if not summ:
            continue
        summ = sorted(summ, key=lambda s: s["cls"])
        cls = [int(s["cls"]) for s in summ]
        steps.append(int(ev["step"]))
        H.append([float(s["entropy_ratio"]) for s in summ])
        E.append([float(s["ess"]) / float(s["n"]) for s in summ])
    if not steps:
        raise ValueError("the run's events hold no importance summaries")
    return entropy_figure(np.array(steps), np.array(H), np.array(E), class_names=class_names(run), classes=cls, **kwargs)


def run_draw_count_figure(run, **kwargs) -> go.Figure:
    """:func:`draw_count_figure` of a run record's cumulative ``draw_counts``; the dashed line is the
    mean count per point (what uniform batches would give every point on average)."""
    from dd_explore.viz.run_data import class_names

    counts = _numpy(run.draw_counts).reshape(-1)
    return draw_count_figure(counts, run.train_labels, expected=float(counts.mean()) if counts.size else None,
                             class_names=class_names(run), **kwargs)


def run_draw_count_embedding_figure(run, embedding: Embedding | np.ndarray, *, marked=None, **kwargs) -> go.Figure:
    """:func:`draw_count_embedding_figure` of a run record over an embedding of its train split."""
    from dd_explore.viz.run_data import class_names

    return draw_count_embedding_figure(embedding, run.draw_counts, run.train_labels, marked=marked,
                                       class_names=class_names(run), **kwargs)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable labels of the bins ``[edges[k], edges[k+1])`` of n_c q (1 = uniform)."""

    def fmt(v: float) -> str:
        if math.isinf(v):
            return "inf"
        return f"{v:.2g}"

    return [f"{fmt(a)}-{fmt(b)}" if not math.isinf(b) else f">{fmt(a)}" for a, b in zip(edges[:-1], edges[1:])]


def importance_histogram_figure(
    steps,
    hist,
    edges: Sequence[float],
    *,
    title: str | None = "Where q_t puts its mass (share of real points per bin of n_c q)",
) -> go.Figure:
    """Heatmap: x = refresh step, y = bin of ``n_c q_t(i)`` (1 = as under uniform batches), colour = the
    share of real points in that bin at that refresh.

    steps (R,); hist (R, B) counts of points per bin (summed over classes); edges (B + 1,) bin edges.
    Trace 0 is the heatmap (``z`` is (B, R): rows = bins). With R = 0 the heatmap is empty.
    """
    st = np.asarray(steps).reshape(-1)
    h = np.asarray(hist, dtype=np.float64).reshape(st.shape[0], -1) if st.shape[0] else np.zeros((0, len(edges) - 1))
    if h.shape[1] != len(edges) - 1:
        raise ValueError(f"hist must have one column per bin ({len(edges) - 1} bins); got {h.shape[1]}")
    share = h / np.maximum(h.sum(axis=1, keepdims=True), 1.0)
    fig = go.Figure(go.Heatmap(
        x=st, y=bin_labels(edges), z=share.T, zmin=0.0, zmax=1.0, colorscale="Blues",
        colorbar=dict(title=dict(text="share"), thickness=12),
        hovertemplate="step %{x}<br>n_c q in %{y}<br>%{z:.1%} of the points<extra></extra>",
    ))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="refresh step",
                      yaxis_title="n_c q (1 = uniform)", yaxis_type="category", width=560, height=380,
                      margin=dict(l=80, r=20, t=50 if title else 20, b=50))
    return fig

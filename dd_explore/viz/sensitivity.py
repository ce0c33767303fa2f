"""Sensitivity of an initial selection: score distribution, ranked curve, what drives the score, thumbnails.

Every builder takes a :class:`dd_explore.selection.Selection` (numpy, CPU) and reads its documented
fields: ``scores`` (n,) over all points given to ``select``, ``indices`` (the chosen points, global),
and ``per_class`` (one ``ClassDetails`` per class: ``label``, ``candidates`` and ``chosen`` (global
indices) and the method's details — k-means: ``distances_sq``, ``center_indices`` (global),
``cluster_sizes``; KRR: ``leverage``, ``residual_term``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore.selection.features import is_split
from dd_explore.viz.images import _grid_figure, _numpy, to_pixels
from dd_explore.viz.scales import WEBGL_THRESHOLD, log_axis, scatter_trace

#: the ranked-score curves are drawn at this many ranks per class at most (the chosen points at their exact rank)
MAX_CURVE_POINTS = 1000

CHOSEN_COLOR = "#d62728"


@dataclass(frozen=True)
class _Class:
    cls: int
    candidates: np.ndarray  # global indices of the class's points
    scores: np.ndarray  # their scores
    chosen: np.ndarray  # global indices chosen in this class
    detail: object  # the per-class record of the selection


def _opt(obj, name):
    v = getattr(obj, name, None)
    return None if v is None else _numpy(v)


def _classes(selection) -> list[_Class]:
    scores = _opt(selection, "scores")
    out = []
    for d in selection.per_class:
        cand = _numpy(d.candidates).reshape(-1).astype(np.int64)
        sc = scores[cand] if scores is not None else np.full(cand.shape[0], np.nan)
        out.append(_Class(int(d.label), cand, sc.astype(np.float64), _numpy(d.chosen).reshape(-1).astype(np.int64), d))
    return out


def has_scores(selection) -> bool:
    """True when the selection carries finite scores for every point."""
    s = _opt(selection, "scores")
    return s is not None and s.size > 0 and bool(np.isfinite(s).all())


def center_indices(selection) -> np.ndarray:
    """Global indices of the cluster centers of every class (k-means/k-center; empty when the method has none)."""
    out = [_numpy(d.center_indices).reshape(-1) for d in selection.per_class if d.center_indices is not None]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def _name(c: int, class_names) -> str:
    return str(class_names[c]) if class_names is not None else str(c)


def _log_axis(log: bool | None, values: np.ndarray) -> bool:
    """``log=None``: a log axis when every value is positive and they span more than a factor 10."""
    if log is not None:
        return bool(log)
    v = np.asarray(values, dtype=np.float64)
    return bool(v.size and np.all(v > 0) and v.max() > 10 * v.min())


def _require_scores(selection) -> None:
    if not has_scores(selection):
        raise ValueError(f"selection must carry finite scores (a sensitivity method); method {selection.method!r} has none")


def score_distribution_figure(selection, *, class_names: Sequence[str] | None = None, log: bool | None = None,
                              title: str | None = "Sensitivity scores per class") -> go.Figure:
    """Box plot (with every point) of the scores per class; the chosen points drawn over it in red.

    Traces: one box per class, then "chosen" (``customdata`` = global index of each chosen point).
    ``log=None``: a log axis when the scores are positive and span more than a factor 10.
    """
    _require_scores(selection)
    classes = _classes(selection)
    fig = go.Figure()
    big = sum(c.candidates.shape[0] for c in classes) > WEBGL_THRESHOLD
    for k in classes:
        fig.add_trace(go.Box(y=k.scores.astype(np.float32) if big else k.scores, name=_name(k.cls, class_names),
                             boxpoints="outliers", marker=dict(size=3), line=dict(width=1),
                             customdata=k.candidates.astype(np.int32) if big else k.candidates, showlegend=False,
                             hovertemplate="index %{customdata}<br>score %{y:.4g}<extra>class %{x}</extra>"))
    xs, ys, cd = [], [], []
    for k in classes:
        pos = np.searchsorted(k.candidates, k.chosen) if np.all(np.diff(k.candidates) > 0) else \
            np.array([np.flatnonzero(k.candidates == i)[0] for i in k.chosen], dtype=np.int64)
        xs += [_name(k.cls, class_names)] * k.chosen.shape[0]
        ys += k.scores[pos].tolist()
        cd += k.chosen.tolist()
    fig.add_trace(go.Scatter(x=xs, y=ys, customdata=np.array(cd, dtype=np.int64), mode="markers", name="chosen",
                             marker=dict(color=CHOSEN_COLOR, size=7, symbol="diamond"),
                             hovertemplate="index %{customdata}<br>score %{y:.4g}<extra>chosen</extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="class", yaxis_title="score s(p)",
                      yaxis=log_axis(selection.scores) if _log_axis(log, selection.scores) else {}, width=760, height=380,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
                      margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def ranked_scores_figure(selection, *, class_names: Sequence[str] | None = None, log: bool | None = None,
                         title: str | None = "Ranked scores, chosen points marked") -> go.Figure:
    """Per class, the scores sorted from highest to lowest (x = rank, normalized to [0, 1] when classes differ
    in size: rank / (n_c - 1)); the chosen points marked at their rank.

    Traces: one line per class (``customdata`` = global index at each rank; a class larger than
    :data:`MAX_CURVE_POINTS` is drawn at that many evenly spaced ranks), then one "chosen" marker trace
    whose ``customdata`` rows are (global index, class, score).
    """
    _require_scores(selection)
    classes = _classes(selection)
    fig = go.Figure()
    mx, my, mcd = [], [], []
    for k in classes:
        order = np.argsort(-k.scores, kind="stable")
        ranked_idx = k.candidates[order]
        n = ranked_idx.shape[0]
        x = np.arange(n) / max(1, n - 1)
        # a sorted curve drawn at MAX_CURVE_POINTS ranks looks the same and keeps large sets light
        keep = np.unique(np.round(np.linspace(0, n - 1, MAX_CURVE_POINTS)).astype(np.int64)) if n > MAX_CURVE_POINTS \
            else slice(None)
        fig.add_trace(go.Scatter(x=x[keep], y=k.scores[order][keep], customdata=ranked_idx[keep], mode="lines",
                                 name=f"class {_name(k.cls, class_names)}",
                                 line=dict(width=1.3), legendgroup=str(k.cls),
                                 hovertemplate="index %{customdata}<br>score %{y:.4g}<extra>%{fullData.name}</extra>"))
        rank_of = np.empty(n, dtype=np.int64)
        rank_of[order] = np.arange(n)
        pos = np.array([np.flatnonzero(k.candidates == i)[0] for i in k.chosen], dtype=np.int64)
        mx += (rank_of[pos] / max(1, n - 1)).tolist()
        my += k.scores[pos].tolist()
        mcd += [[float(i), float(k.cls), float(s)] for i, s in zip(k.chosen, k.scores[pos])]
    fig.add_trace(go.Scatter(x=mx, y=my, customdata=np.array(mcd, dtype=np.float64).reshape(-1, 3), mode="markers",
                             name="chosen", marker=dict(color=CHOSEN_COLOR, size=7, line=dict(width=1, color="white")),
                             hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>score %{customdata[2]:.4g}"
                                           "<br>rank %{x:.2f}<extra>chosen</extra>"))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="rank within class (0 = highest score, 1 = lowest)",
                      yaxis_title="score s(p)", yaxis=log_axis(selection.scores) if _log_axis(log, selection.scores) else {},
                      width=760, height=400,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def _detail_kind(selection) -> str | None:
    dets = list(selection.per_class)
    if dets and all(_opt(d, "distances_sq") is not None for d in dets):
        return "kmeans"
    if dets and all(_opt(d, "leverage") is not None for d in dets):
        return "krr"
    return None


def score_detail_figure(selection, *, class_names: Sequence[str] | None = None,
                        title: str | None = None) -> go.Figure | None:
    """What drives the score: k-means -> s(p) against the distance to its center; KRR -> leverage against
    the residual share, colour = score. None when the selection has neither (e.g. random, herding).

    One marker trace per class (``customdata`` rows: global index, class, score), then "chosen".
    """
    kind = _detail_kind(selection)
    if kind is None:
        return None
    _require_scores(selection)
    classes = _classes(selection)
    big = sum(c.candidates.shape[0] for c in classes) > WEBGL_THRESHOLD
    fig = go.Figure()
    cx, cy, ccd = [], [], []
    for k in classes:
        d = k.detail
        if kind == "kmeans":
            x = np.sqrt(np.maximum(_opt(d, "distances_sq").reshape(-1), 0.0))
            y = k.scores
        else:
            x = _opt(d, "leverage").reshape(-1)
            y = _opt(d, "residual_term").reshape(-1)
        cd = np.stack([k.candidates.astype(np.float64), np.full(x.shape[0], float(k.cls)), k.scores], axis=1)
        if big:  # many points: float32 halves the page (indices exact below 2^24)
            x, y, cd = x.astype(np.float32), np.asarray(y, dtype=np.float32), cd.astype(np.float32)
        fig.add_trace(scatter_trace(
            sum(c.candidates.shape[0] for c in classes), x=x, y=y, customdata=cd, mode="markers",
            name=f"class {_name(k.cls, class_names)}",
            marker=dict(size=4, opacity=0.6) if kind == "kmeans" else
            dict(size=5, color=k.scores, colorscale="Viridis", showscale=(k is classes[0]), opacity=0.7,
                 colorbar=dict(title=dict(text="score"), thickness=12)),
            hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>score %{customdata[2]:.4g}"
                          "<br>x %{x:.4g}, y %{y:.4g}<extra></extra>"))
        pos = np.array([np.flatnonzero(k.candidates == i)[0] for i in k.chosen], dtype=np.int64)
        cx += x[pos].tolist()
        cy += y[pos].tolist()
        ccd += cd[pos].tolist()
    fig.add_trace(go.Scatter(x=cx, y=cy, customdata=np.array(ccd, dtype=np.float64).reshape(-1, 3), mode="markers",
                             name="chosen", marker=dict(symbol="circle-open", size=11, color=CHOSEN_COLOR, line=dict(width=2)),
                             hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>score %{customdata[2]:.4g}<extra>chosen</extra>"))
    if kind == "kmeans":
        fig.update_layout(title=title or "Score against distance to the k-means center",
                          xaxis_title="distance to its center d(p, B)",
                          yaxis_title="score s(p) = d²/cost + 1/|cluster|" if selection.method.startswith("sensitivity-kmeans") else "score",
                          yaxis=log_axis(selection.scores) if _log_axis(None, selection.scores) else {})
    else:
        fig.update_layout(title=title or "KRR: leverage and residual share (colour = score)",
                          xaxis_title="ridge leverage tau", yaxis_title="residual share r²/Σr²")
    fig.update_layout(template="plotly_white", width=760, height=420, margin=dict(l=70, r=20, t=50, b=50))
    return fig


def extreme_thumbnails_figure(selection, images, *, k: int = 6, mean: Sequence[float] | None = None,
                              std: Sequence[float] | None = None, class_names: Sequence[str] | None = None,
                              tile_px: int = 34, title: str | None = "Highest (left) and lowest (right) scored images") -> go.Figure:
    """Per class (row): its ``k`` highest-scored images, a blank column, then its ``k`` lowest-scored.

    images: all points given to ``select`` (n, C, H, W) (normalized: pass the data set's ``mean``/``std``),
    or the data set's Split (only the shown images are read).
    Trace 0 is the image grid, trace 1 the hover overlay (``customdata``: global index, class, score).
    """
    _require_scores(selection)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    split = is_split(images)
    X = images if split else _numpy(images)
    classes = _classes(selection)
    ncols = 2 * k + 1
    cells, idx, lab, val = [], [], [], []
    blank = None
    for c in classes:
        order = c.candidates[np.argsort(-c.scores, kind="stable")]
        sc = c.scores[np.argsort(-c.scores, kind="stable")]
        kk = min(k, order.shape[0])
        top, low = list(range(kk)), list(range(order.shape[0] - kk, order.shape[0]))
        row = [(order[j], sc[j]) for j in top] + [None] * (k - kk + 1) + [(order[j], sc[j]) for j in low] + [None] * (k - kk)
        for item in row:
            cells.append(item)
    pix_idx = np.array([it[0] for it in cells if it is not None], dtype=np.int64)
    if pix_idx.size and (pix_idx.max() >= X.shape[0]):
        raise ValueError(f"images must hold every point given to select ({pix_idx.max() + 1}+); got {X.shape[0]}")
    pix = to_pixels(X.batch(pix_idx, "cpu") if split else X[pix_idx], mean, std)
    blank = np.full(pix.shape[1:], 255, dtype=np.uint8)
    full, j = [], 0
    label_of = {int(i): c.cls for c in classes for i in c.candidates}
    for it in cells:
        if it is None:
            full.append(blank)
            idx.append(-1)
            lab.append(np.nan)
            val.append(np.nan)
        else:
            full.append(pix[j])
            j += 1
            idx.append(int(it[0]))
            lab.append(label_of[int(it[0])])
            val.append(float(it[1]))
    fig = _grid_figure(np.stack(full), ncols, np.array(idx), np.array(lab), np.array(val), "score", class_names, title,
                       tile_px, keep=np.array(idx) >= 0)
    h = pix.shape[1]
    fig.update_yaxes(visible=True, showgrid=False, zeroline=False, ticks="", tickvals=[r * (h + 1) + (h - 1) / 2 for r in range(len(classes))],
                     ticktext=[_name(c.cls, class_names) for c in classes])
    fig.update_layout(margin=dict(l=40, r=10, t=50 if title else 10, b=10), width=fig.layout.width + 30)
    return fig


def selection_embedding_figure(selection, embedding, labels, *, class_names: Sequence[str] | None = None,
                               title: str | None = "Sensitivity on the embedding", **kwargs) -> go.Figure:
    """:func:`~dd_explore.viz.embedding.embedding_figure` coloured by ``selection.scores`` (raw values in
    ``marker.color``), the chosen points (``selection.indices``) and the k-means centers marked.

    embedding: of the same n points given to ``select`` (labels (n,) their classes).
    """
    from dd_explore.viz.embedding import embedding_figure

    centers = center_indices(selection)
    return embedding_figure(embedding, labels, color=_opt(selection, "scores") if has_scores(selection) else None,
                            marked=selection.indices, marked_name="chosen", centers=centers if centers.size else None,
                            class_names=class_names, title=title, **kwargs)

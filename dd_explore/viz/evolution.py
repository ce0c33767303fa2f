"""Synthetic images as the distillation runs: per-class grid with a step slider and play, and drift.

Inputs are the snapshot arrays a run stores: ``steps`` (S,), ``images`` (S, N, C, H, W) normalized,
``labels`` (N,), plus the data set's per-channel ``mean``/``std`` to show real pixel values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dd_explore.viz.images import _numpy, png_data_uri, tile, to_pixels


def _check_snapshots(steps, images, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    st = _numpy(steps).reshape(-1)
    im = _numpy(images)
    lab = _numpy(labels).reshape(-1).astype(np.int64)
    if im.ndim != 5:
        raise ValueError(f"images must have shape (S, N, C, H, W); got {im.shape}")
    if im.shape[0] != st.shape[0]:
        raise ValueError(f"images must have one snapshot per step: {st.shape[0]} steps but {im.shape[0]} snapshots")
    if st.shape[0] == 0:
        raise ValueError("need at least one snapshot; got 0")
    if lab.shape[0] != im.shape[1]:
        raise ValueError(f"labels must have one entry per synthetic image ({im.shape[1]}); got {lab.shape[0]}")
    return st, im, lab


def _class_list(lab: np.ndarray, classes) -> list[int]:
    present = sorted(int(c) for c in np.unique(lab))
    if classes is None:
        return present
    chosen = [int(c) for c in classes]
    missing = [c for c in chosen if c not in present]
    if missing:
        raise ValueError(f"classes must be labels of synthetic images ({present}); got {missing}")
    return chosen


def evolution_figure(
    steps,
    images,
    labels,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    classes: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    max_per_class: int | None = None,
    max_frames: int | None = 60,
    tile_px: int = 36,
    title: str | None = "Synthetic images",
) -> go.Figure:
    """Per-class rows of synthetic images at each snapshot, with a step slider and a play button.

    One ``go.Image`` trace per shown class (subplot row = class; columns = that class's synthetic images
    in storage order), one frame per snapshot named by its step, one slider step per frame. The figure
    starts at the last snapshot. ``classes`` picks rows (default: all labels present);
    ``max_per_class`` caps the images per row; with more than ``max_frames`` snapshots, that many evenly
    spaced ones are shown (first and last included; None: all). Each frame costs a few kB per class.
    """
    st, im, lab = _check_snapshots(steps, images, labels)
    if max_frames is not None:
        if not isinstance(max_frames, (int, np.integer)) or max_frames < 2:
            raise ValueError(f"max_frames must be an int >= 2 or None; got {max_frames!r}")
        if st.shape[0] > max_frames:
            keep = np.unique(np.round(np.linspace(0, st.shape[0] - 1, int(max_frames))).astype(np.int64))
            st, im = st[keep], im[keep]
    shown = _class_list(lab, classes)
    members = [np.flatnonzero(lab == c)[: max_per_class] for c in shown]
    S = st.shape[0]
    h, w = im.shape[3], im.shape[4]
    ncols = max(len(m) for m in members)

    def sources(s: int) -> list[str]:
        pix = to_pixels(im[s], mean, std)
        return [png_data_uri(tile(pix[m], ncols)) for m in members]

    names = [str(class_names[c]) if class_names is not None else str(c) for c in shown]
    fig = make_subplots(rows=len(shown), cols=1, vertical_spacing=min(0.02, 0.3 / max(1, len(shown))))
    last = sources(S - 1)
    for r, (src, name) in enumerate(zip(last, names), start=1):
        fig.add_trace(go.Image(source=src, name=f"class {name}", hoverinfo="skip"), row=r, col=1)
        fig.update_yaxes(showticklabels=False, ticks="", row=r, col=1)
        fig.update_xaxes(visible=False, row=r, col=1)
    trace_ids = list(range(len(shown)))
    frames = []
    for s in range(S):
        srcs = last if s == S - 1 else sources(s)
        frames.append(go.Frame(name=str(int(st[s])), data=[go.Image(source=x) for x in srcs], traces=trace_ids))
    fig.frames = frames
    slider = dict(
        active=S - 1,
        currentvalue=dict(prefix="step "),
        x=0.22, len=0.78, y=0.0, yanchor="top", pad=dict(t=30, b=10),
        steps=[dict(label=f.name, method="animate",
                    args=[[f.name], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
               for f in frames],
    )
    play = dict(
        type="buttons", direction="left", showactive=False, x=0.2, xanchor="right", y=0.0, yanchor="top", pad=dict(t=62, r=10),
        buttons=[
            dict(label="Play", method="animate",
                 args=[None, dict(frame=dict(duration=400, redraw=True), transition=dict(duration=0), fromcurrent=True, mode="immediate")]),
            dict(label="Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")]),
        ],
    )
    # class names beside the rows: horizontal, one line each, sized to the row (never overlapping), long names
    # shortened (the full name on hover)
    row_px = tile_px * h / max(h, w)
    font = max(7, min(12, int(row_px * 0.7)))
    short = [nm if len(nm) <= 16 else nm[:15] + "…" for nm in names]
    left = int(min(160, 14 + font * 0.62 * max(len(t) for t in short)))
    for r, (nm, text) in enumerate(zip(names, short), start=1):
        dom = fig.get_subplot(r, 1).yaxis.domain
        fig.add_annotation(text=text, hovertext=nm, xref="paper", yref="paper", x=0.0, xanchor="right", xshift=-4,
                           y=(dom[0] + dom[1]) / 2, yanchor="middle", showarrow=False, textangle=0,
                           font=dict(size=font), name=f"class label {nm}")
    width = max(520, ncols * tile_px + 50 + left)
    height = len(shown) * row_px + 170
    fig.update_layout(title=title, sliders=[slider], updatemenus=[play], width=int(width), height=int(height),
                      margin=dict(l=left, r=20, t=50 if title else 20, b=20), showlegend=False, plot_bgcolor="white")
    return fig


def drift(images, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """RMS pixel distance of every synthetic image from its first snapshot: (S, N), in [0, 1] pixel units.

    With ``mean``/``std`` the distance is measured on denormalized pixels (x * std + mean), unclipped.
    """
    im = _numpy(images).astype(np.float64)
    if im.ndim != 5:
        raise ValueError(f"images must have shape (S, N, C, H, W); got {im.shape}")
    if mean is not None:
        s = np.asarray(std, dtype=np.float64).reshape(1, 1, -1, 1, 1)
        im = im * s + np.asarray(mean, dtype=np.float64).reshape(1, 1, -1, 1, 1)
    diff = (im - im[:1]).reshape(im.shape[0], im.shape[1], -1)
    return np.sqrt(np.mean(diff ** 2, axis=2))


def drift_figure(
    steps,
    images,
    labels,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    title: str | None = "Drift from the initial images",
) -> go.Figure:
    """RMS pixel distance of each synthetic image from its initial image, over the snapshot steps.

    One line trace per class: that class's images as separate thin lines (NaN-separated), with
    ``customdata`` = synthetic image index; hover shows step, image and distance.
    """
    st, im, lab = _check_snapshots(steps, images, labels)
    d = drift(im, mean, std)
    fig = go.Figure()
    for c in sorted(int(c) for c in np.unique(lab)):
        members = np.flatnonzero(lab == c)
        xs, ys, cd = [], [], []
        for j in members:
            xs += [*st.tolist(), None]
            ys += [*d[:, j].tolist(), None]
            cd += [int(j)] * st.shape[0] + [None]
        name = str(class_names[c]) if class_names is not None else str(c)
        fig.add_trace(go.Scatter(
            x=xs, y=ys, customdata=cd, mode="lines+markers" if st.shape[0] < 3 else "lines", name=f"class {name}",
            line=dict(width=1.2), connectgaps=False,
            hovertemplate="step %{x}<br>image %{customdata}<br>distance %{y:.4f}<extra>%{fullData.name}</extra>",
        ))
    fig.update_layout(title=title, template="plotly_white", xaxis_title="step",
                      yaxis_title="RMS pixel distance from step " + str(int(st[0])), height=380, width=720,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def run_evolution_figure(run, *, classes: Sequence[int] | None = None, max_per_class: int | None = None, **kwargs) -> go.Figure:
    """:func:`evolution_figure` of a run record: its ``snapshot_steps``, ``snapshot_images`` and ``labels``,
    denormalized with the data set's mean/std from the run's config."""
    from dd_explore.viz.run_data import class_names, pixel_stats

    mean, std = pixel_stats(run)
    return evolution_figure(run.snapshot_steps, run.snapshot_images, run.labels, mean=mean, std=std, classes=classes,
                            class_names=class_names(run), max_per_class=max_per_class, **kwargs)


def run_drift_figure(run, **kwargs) -> go.Figure:
    """:func:`drift_figure` of a run record (RMS distance in pixel units from the step-0 snapshot)."""
    from dd_explore.viz.run_data import class_names, pixel_stats

    mean, std = pixel_stats(run)
    return drift_figure(run.snapshot_steps, run.snapshot_images, run.labels, mean=mean, std=std,
                        class_names=class_names(run), **kwargs)

"""Legibility helpers shared by the views: colour scales for skewed values, log axes without a crowd of
minor labels, WebGL scatter for many points, clipped ranges for long-tailed counts.

- :func:`color_mapping`: ``"linear"``, ``"log"`` or ``"rank"`` colours for one value per point, with a
  colour bar that says which and labels its ticks in the original units; ``"auto"`` picks log (positive
  values) or rank (others) when most points would otherwise share one colour.
- :func:`log_axis`: a log axis with labels at decades only (1-2-5 when the range is under two decades)
  and unlabelled minor ticks.
- :func:`scatter_trace`: ``go.Scattergl`` above :data:`WEBGL_THRESHOLD` points, else ``go.Scatter``.
- :func:`clipped_counts`: counts clipped at a high quantile so a histogram is not squeezed by a few
  extreme points (the last bin holds them; the caller says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

#: above this many points the scatter views draw with WebGL (``scattergl``): SVG freezes a browser well
#: before 50,000 points
WEBGL_THRESHOLD = 5_000
COLOR_SCALES = ("auto", "linear", "log", "rank")


def scatter_trace(n: int, **kwargs):
    """A WebGL scatter (``go.Scattergl``) for more than :data:`WEBGL_THRESHOLD` points, else ``go.Scatter``."""
    return go.Scattergl(**kwargs) if n > WEBGL_THRESHOLD else go.Scatter(**kwargs)


def is_skewed(values: np.ndarray) -> bool:
    """True when the middle 80 % of the values fill less than 30 % of their 1-99 % range (a linear colour
    scale would paint most points alike)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 10:
        return False
    q01, q10, q90, q99 = np.quantile(v, [0.01, 0.1, 0.9, 0.99])
    return bool(q99 > q01 and (q90 - q10) < 0.3 * (q99 - q01))


def _fmt(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.2g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.3g}"


@dataclass(frozen=True)
class ColorMapping:
    """``shown``: the numbers to put in ``marker.color``; ``marker``: the colour keys (cmin, cmax,
    colorbar with title and ticks); ``scale``: the scale used ("linear", "log" or "rank")."""

    shown: np.ndarray
    marker: dict
    scale: str


def color_mapping(values, name: str, scale: str = "auto", color_range=(0.01, 0.99)) -> ColorMapping:
    """Colours of ``values`` (n,) on a ``scale`` in :data:`COLOR_SCALES`.

    linear: the values themselves, the colour range clipped to the ``color_range`` quantiles (outliers
    saturate). log: log10 of the values (non-positive ones take the smallest positive), colour bar ticks at
    decades labelled in the original units. rank: the percentile rank of each value (ties share one),
    colour bar ticks at percentiles labelled with the value there. The colour bar title names the scale.
    """
    if scale not in COLOR_SCALES:
        raise ValueError(f"color_scale must be one of {', '.join(COLOR_SCALES)}; got {scale!r}")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = v[np.isfinite(v)]
    if scale == "auto":
        scale = "linear" if not is_skewed(finite) else ("log" if finite.size and finite.min() > 0 else "rank")
    if scale == "log" and not np.any(finite > 0):
        scale = "linear"
    bar: dict = dict(thickness=12)
    marker: dict = {}
    if scale == "linear":
        shown = v
        bar["title"] = dict(text=name)
        if color_range is not None and finite.size:
            lo, hi = np.quantile(finite, color_range)
            if hi > lo:
                marker.update(cmin=float(lo), cmax=float(hi))
    elif scale == "log":
        floor = float(finite[finite > 0].min())
        shown = np.log10(np.maximum(np.where(np.isfinite(v), v, floor), floor))
        lo, hi = float(shown.min()), float(shown.max())
        if color_range is not None and shown.size:
            lo, hi = (float(x) for x in np.quantile(shown, color_range))
        if hi <= lo:
            hi = lo + 1e-9
        marker.update(cmin=lo, cmax=hi)
        ticks = np.arange(math.floor(lo), math.ceil(hi) + 1, dtype=np.float64)
        if ticks.size < 3:  # under two decades: 1-2-5 ticks
            ticks = np.log10(np.array([m * 10.0 ** e for e in range(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 1)
                                       for m in (1, 2, 5)]))
        ticks = ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]
        bar.update(title=dict(text=f"{name}<br>(log colour scale)"), tickvals=ticks.tolist(),
                   ticktext=[_fmt(10.0 ** t) for t in ticks])
    else:  # rank
        order = np.argsort(np.where(np.isfinite(v), v, -np.inf), kind="stable")
        sorted_v = v[order]
        ranks = np.empty(v.shape[0], dtype=np.float64)
        # ties share the mean rank: the same value, the same colour
        _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
        mean_rank = first + (counts - 1) / 2.0
        ranks[order] = np.repeat(mean_rank, counts)
        shown = 100.0 * ranks / max(1, v.shape[0] - 1)
        pct = np.array([0, 25, 50, 75, 90, 100], dtype=np.float64)
        at = np.quantile(finite, pct / 100) if finite.size else np.zeros_like(pct)
        marker.update(cmin=0.0, cmax=100.0)
        bar.update(title=dict(text=f"{name}<br>(rank colour scale)"), tickvals=pct.tolist(),
                   ticktext=[f"{_fmt(a)} ({'max' if p == 100 else 'min' if p == 0 else f'{p:g}%'})"
                             for p, a in zip(pct, at)])
    marker["colorbar"] = bar
    return ColorMapping(np.asarray(shown, dtype=np.float64), marker, scale)


def log_axis(values=None, **extra) -> dict:
    """Axis settings of a log axis: labels at decades (1-2-5 under two decades), minor ticks unlabelled."""
    axis = dict(type="log", minor=dict(ticks="outside", ticklen=3, showgrid=False), exponentformat="power")
    if values is not None:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v) & (v > 0)]
        span = math.log10(v.max() / v.min()) if v.size else 0.0
        axis["dtick"] = 1 if span >= 2 else "D2"
        if span < 2:
            axis["exponentformat"] = "none"
    else:
        axis["dtick"] = 1
    axis.update(extra)
    return axis


def clipped_counts(counts: np.ndarray, quantile: float = 0.995) -> tuple[np.ndarray, int, int]:
    """(counts clipped at ``ceil(quantile)`` when the largest count lies far beyond it, the clip value,
    how many points were clipped). Without a long tail the counts come back as they are (clip = max)."""
    c = np.asarray(counts).reshape(-1)
    if c.size == 0:
        return c, 0, 0
    top = int(c.max())
    clip = int(math.ceil(float(np.quantile(c, quantile))))
    if top <= max(clip * 1.5, clip + 5):
        return c, top, 0
    over = int((c > clip).sum())
    return np.minimum(c, clip), clip, over

"""Two pieces the live widgets need that ``dd_explore.viz`` does not offer (yet).

Both are pure and small; they belong in ``dd_explore.viz`` and should move there (the widgets then
import them from viz):

- :func:`importance_histogram_figure`: the distribution of ``n_c q_t`` over refresh steps, as a heatmap
  built from the per-class histograms a run reports in every ``StepInfo.importance`` (cheap to update
  live, unlike the full (R, n) q matrix that ``viz.importance_heatmap_figure`` takes);
- :func:`fast_png_data_uri`: ``viz.png_data_uri`` without ``optimize=True`` (that flag costs ~60 ms on a
  100-image MNIST grid, ~20x the plain encoding; too slow for a view refreshed twice a second).
"""

from __future__ import annotations

import base64
import io
import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go


def fast_png_data_uri(image: np.ndarray) -> str:
    """uint8 (H, W, C), C in {1, 3, 4} -> ``data:image/png;base64,...`` with fast zlib (level 1)."""
    from PIL import Image

    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W, C) with C in 1, 3, 4; got {image.shape}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[image.shape[2]]
    data = image[:, :, 0] if image.shape[2] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data), mode=mode).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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

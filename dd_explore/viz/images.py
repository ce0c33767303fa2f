"""Images for display: denormalized uint8 pixels, tiled grids as compact PNG data URIs, and image-grid figures.

Every image view draws a grid as ONE ``go.Image`` trace whose ``source`` is a PNG data URI (a 100-image
MNIST grid is a few kB instead of ~1 MB of JSON numbers), with an invisible ``go.Scatter`` over the
tile centres that carries the hover text and ``customdata`` (index, class, value) of each tile.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go


def _numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def to_pixels(images, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> np.ndarray:
    """Images (n, C, H, W) or (C, H, W) -> uint8 pixels (n, H, W, C).

    With ``mean``/``std`` (per channel, as in ``Dataset.mean``/``.std`` or a run's config) the images are
    denormalized first (``x * std + mean``); without them they are taken as pixel values in [0, 1].
    Values are clipped to [0, 1] and rounded to 0..255.
    """
    x = _numpy(images).astype(np.float32, copy=False)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W) or (C, H, W); got {x.shape}")
    c = x.shape[1]
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std to denormalize, or neither")
    if mean is not None:
        m = np.asarray(mean, dtype=np.float32).reshape(-1)
        s = np.asarray(std, dtype=np.float32).reshape(-1)
        if m.shape[0] not in (1, c) or s.shape[0] not in (1, c):
            raise ValueError(f"mean/std must have 1 or C={c} entries; got {m.shape[0]} and {s.shape[0]}")
        x = x * s.reshape(1, -1, 1, 1) + m.reshape(1, -1, 1, 1)
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)


def tile(pixels: np.ndarray, ncols: int, pad: int = 1, fill: int = 255) -> np.ndarray:
    """uint8 pixels (n, H, W, C) -> one (rows*(H+pad)-pad, ncols*(W+pad)-pad, C) image, row-major.

    Missing cells of the last row are filled with ``fill``.
    """
    if pixels.ndim != 4:
        raise ValueError(f"pixels must have shape (n, H, W, C); got {pixels.shape}")
    if ncols < 1:
        raise ValueError(f"ncols must be a positive int; got {ncols}")
    n, h, w, c = pixels.shape
    rows = max(1, -(-n // ncols))
    out = np.full((rows * (h + pad) - pad, ncols * (w + pad) - pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = pixels[i]
    return out


def png_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """uint8 (H, W, C) with C in {1, 3, 4} -> PNG file bytes (grayscale stays 1 channel).

    ``compress_level`` (0-9): zlib effort; live views refreshed twice a second use 1.
    """
    from PIL import Image

    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have shape (H, W, C) with C in 1, 3, 4; got {image.shape}")
    data = image[:, :, 0] if image.shape[2] == 1 else image  # uint8 2-D -> "L", 3 channels -> "RGB", 4 -> "RGBA"
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data, dtype=np.uint8)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def png_data_uri(image: np.ndarray, compress_level: int = 6) -> str:
    """:func:`png_bytes` as a ``data:image/png;base64,...`` URI (for plotly image traces and HTML)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, compress_level)).decode("ascii")


def grid_image_trace(pixels: np.ndarray, ncols: int, pad: int = 1, **kwargs) -> go.Image:
    """A ``go.Image`` of the tiled grid (PNG ``source``, pixel-exact, no smoothing)."""
    return go.Image(source=png_data_uri(tile(pixels, ncols, pad)), hoverinfo="skip", **kwargs)


def tile_centers(n: int, ncols: int, h: int, w: int, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of the centres of the first ``n`` tiles of a grid made by :func:`tile`."""
    r, k = np.divmod(np.arange(n), ncols)
    return k * (w + pad) + (w - 1) / 2.0, r * (h + pad) + (h - 1) / 2.0


def image_grid_figure(
    images,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ncols: int = 10,
    indices=None,
    labels=None,
    values=None,
    value_name: str = "score",
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    tile_px: int = 40,
) -> go.Figure:
    """A grid of images (row-major, ``ncols`` per row) with per-tile hover: index, class and value.

    ``images`` (n, C, H, W) normalized (give ``mean``/``std``) or in [0, 1]; ``indices`` (default
    0..n-1), ``labels`` and ``values`` (n,) are shown on hover and kept in the overlay trace's
    ``customdata`` columns (index, class, value). ``tile_px`` is the on-screen size of one tile.
    Traces: 0 = the image, 1 = the hover overlay.
    """
    pix = to_pixels(images, mean, std)
    n, h, w, _ = pix.shape
    ncols = max(1, min(int(ncols), n))
    return _grid_figure(pix, ncols, indices, labels, values, value_name, class_names, title, tile_px)


def _grid_figure(pix, ncols, indices, labels, values, value_name, class_names, title, tile_px, pad=1, keep=None):
    """Grid figure of uint8 pixels; ``keep`` (n,) bool: tiles that get a hover point (blank cells do not)."""
    n, h, w, _ = pix.shape
    fig = go.Figure()
    fig.add_trace(grid_image_trace(pix, ncols, pad, name="images"))
    cx, cy = tile_centers(n, ncols, h, w, pad)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        cx, cy = cx[keep], cy[keep]
        indices, labels, values = (None if a is None else _numpy(a)[keep] for a in (indices, labels, values))
    fig.add_trace(_overlay_trace(cx, cy, indices, labels, values, value_name, class_names, size=tile_px))
    rows = max(1, -(-n // ncols))
    width = ncols * tile_px + 40
    height = rows * tile_px + (70 if title else 30)
    fig.update_layout(
        title=title,
        width=width,
        height=height,
        margin=dict(l=10, r=10, t=50 if title else 10, b=10),
        showlegend=False,
        hovermode="closest",
        hoverdistance=max(10, tile_px // 2),
        xaxis=dict(visible=False, range=[-0.5, ncols * (w + pad) - pad - 0.5]),
        yaxis=dict(visible=False, range=[rows * (h + pad) - pad - 0.5, -0.5], scaleanchor="x"),
        plot_bgcolor="white",
    )
    return fig


def _overlay_trace(cx, cy, indices, labels, values, value_name, class_names, size, name="tiles"):
    n = len(cx)
    idx = np.arange(n) if indices is None else _numpy(indices).reshape(-1)
    if idx.shape[0] != n:
        raise ValueError(f"indices must have one entry per image ({n}); got {idx.shape[0]}")
    cols = [idx.astype(np.float64)]
    lines = ["index %{customdata[0]}"]
    if labels is not None:
        lab = _numpy(labels).reshape(-1)
        if lab.shape[0] != n:
            raise ValueError(f"labels must have one entry per image ({n}); got {lab.shape[0]}")
        cols.append(lab.astype(np.float64))
        lines.append("class %{customdata[1]}" + ("" if class_names is None else " (%{text})"))
    else:
        cols.append(np.full(n, np.nan))
    if values is not None:
        val = _numpy(values).reshape(-1)
        if val.shape[0] != n:
            raise ValueError(f"values must have one entry per image ({n}); got {val.shape[0]}")
        cols.append(val.astype(np.float64))
        lines.append(f"{value_name} %{{customdata[2]:.4g}}")
    else:
        cols.append(np.full(n, np.nan))
    text = None
    if labels is not None and class_names is not None:
        text = [str(class_names[int(c)]) for c in cols[1]]
    return go.Scatter(
        x=cx,
        y=cy,
        mode="markers",
        marker=dict(size=max(6, size), opacity=0.0, symbol="square"),
        customdata=np.stack(cols, axis=1),
        text=text,
        hovertemplate="<br>".join(lines) + "<extra></extra>",
        name=name,
        showlegend=False,
    )

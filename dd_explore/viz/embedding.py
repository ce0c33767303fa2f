"""2-D embedding of the real points (UMAP, cached on disk; PCA fallback) and the scatter figure over it.

``compute_embedding`` runs UMAP once per (data, features, parameters) and stores the coordinates in
``<cache_dir>/embedding-<method>-<key>.npz``; the key is a SHA-256 of the data bytes, shape and dtype,
the ``features`` name and every parameter, so a second call with the same input reads the file back.

Hover with images: plotly cannot show a picture inside a hover label. Every point carries
``customdata = (index, class, value)``; the live widgets show the image of the hovered/clicked point in
a companion panel, and the HTML report does the same with a small script and a sprite sheet
(see ``dd_explore.report``). The figure itself stays small: 4000 points are ~100 kB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore._io import write_npz
from dd_explore.viz.images import _numpy

logger = logging.getLogger(__name__)

METHODS = ("umap", "pca")
CACHE_ENV = "DD_EXPLORE_CACHE"


@dataclass(frozen=True)
class Embedding:
    """2-D coordinates of n points.

    coords (n, 2) float32; method: what was computed ("umap" or "pca"); requested: what was asked for;
    key: the cache key; params: the parameters in the key; from_cache: read back from disk;
    fallback_reason: why PCA replaced UMAP ("" when it did not).
    """

    coords: np.ndarray
    method: str
    requested: str
    key: str
    params: dict = field(default_factory=dict)
    from_cache: bool = False
    fallback_reason: str = ""

    def __len__(self) -> int:
        return int(self.coords.shape[0])


def default_cache_dir() -> Path:
    """``$DD_EXPLORE_CACHE/embeddings`` if set, else ``~/.cache/dd_explore/embeddings``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "dd_explore") / "embeddings"


def cache_key(X: np.ndarray, features: str, params: dict) -> str:
    """SHA-256 over the data bytes, shape and dtype, the features name and the parameters."""
    h = hashlib.sha256()
    h.update(json.dumps({"shape": list(X.shape), "dtype": str(X.dtype), "features": features, "params": params}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(X).tobytes())
    return h.hexdigest()


def _fit_pca(X: np.ndarray, random_state: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    if X.shape[1] == 1:
        return np.concatenate([X, np.zeros_like(X)], axis=1)
    return PCA(n_components=2, random_state=random_state).fit_transform(X)


def _reduce(X: np.ndarray, dims: int, random_state: int) -> np.ndarray:
    """PCA to ``dims`` dimensions before UMAP when the features are wider (the usual speed-up)."""
    if dims <= 0 or X.shape[1] <= dims or X.shape[0] <= dims:
        return X
    from sklearn.decomposition import PCA

    return PCA(n_components=dims, random_state=random_state).fit_transform(X)


def _fit_umap(X: np.ndarray, n_neighbors: int, min_dist: float, random_state: int) -> np.ndarray:
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=random_state, n_jobs=1)
    return reducer.fit_transform(X)


def compute_embedding(
    X,
    method: str = "umap",
    *,
    features: str = "pixels",
    random_state: int = 0,
    cache_dir: str | Path | None = None,
    cache: bool = True,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    pca_dims: int = 50,
) -> Embedding:
    """2-D embedding of ``X`` (n, ...) flattened to (n, d), computed once and cached.

    method: "umap" (PCA to ``pca_dims`` first when d is larger, then UMAP with ``n_neighbors``,
    ``min_dist``) or "pca" (fast). When UMAP cannot run (import error, too few points, a failure in
    the fit) the result is PCA, with ``method="pca"`` and ``fallback_reason`` saying why.
    features: a name for what ``X`` holds (e.g. "pixels", "convnet-random"); part of the cache key.
    cache_dir: folder of the cache (default :func:`default_cache_dir`); ``cache=False`` neither reads
    nor writes it.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int; got {random_state!r}")
    if not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be an int >= 2; got {n_neighbors!r}")
    if not (isinstance(min_dist, (int, float)) and 0.0 <= float(min_dist) <= 1.0):
        raise ValueError(f"min_dist must be a number in [0, 1]; got {min_dist!r}")
    arr = _numpy(X)
    if arr.ndim < 2 or arr.shape[0] < 2:
        raise ValueError(f"X must have shape (n, ...) with n >= 2 points; got {arr.shape}")
    arr = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"X must be finite; {int((~np.isfinite(arr)).sum())} entries are NaN or inf")

    params: dict = {"method": method, "random_state": int(random_state)}
    if method == "umap":
        params.update(n_neighbors=int(n_neighbors), min_dist=float(min_dist), pca_dims=int(pca_dims))
    key = cache_key(arr, features, params)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"embedding-{method}-{key[:32]}.npz"
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as d:
                if str(d["key"]) == key:
                    logger.info("embedding read from cache %s", path)
                    return Embedding(d["coords"].astype(np.float32), str(d["method"]), method, key, params, True, str(d["reason"]))
        except (OSError, KeyError, ValueError) as exc:  # a broken cache file is recomputed
            logger.warning("ignoring unreadable embedding cache %s: %s", path, exc)

    used, reason = method, ""
    if method == "umap":
        if arr.shape[0] <= 3:
            used, reason = "pca", f"UMAP needs more than 3 points; got {arr.shape[0]}"
        else:
            try:
                reduced = _reduce(arr, int(pca_dims), int(random_state))
                coords = _fit_umap(reduced, min(int(n_neighbors), arr.shape[0] - 1), float(min_dist), int(random_state))
            except Exception as exc:  # noqa: BLE001 - any UMAP failure falls back to PCA, logged
                used, reason = "pca", f"UMAP failed: {type(exc).__name__}: {exc}"
        if reason:
            logger.warning("embedding: %s; using PCA", reason)
    if used == "pca":
        coords = _fit_pca(arr, int(random_state))
    coords = np.asarray(coords, dtype=np.float32)

    if cache:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_npz(path, coords=coords, method=np.array(used), key=np.array(key), reason=np.array(reason))
        except OSError as exc:
            logger.warning("could not write embedding cache %s: %s", path, exc)
    return Embedding(coords, used, method, key, params, False, reason)


def _hover(value_name: str, class_names: Sequence[str] | None) -> str:
    cls = "class %{customdata[1]}" + (" (%{text})" if class_names is not None else "")
    return "index %{customdata[0]}<br>" + cls + f"<br>{value_name} %{{customdata[2]:.4g}}<extra>%{{fullData.name}}</extra>"


def _points_customdata(idx: np.ndarray, labels: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    v = np.full(idx.shape[0], np.nan) if values is None else values.astype(np.float64)
    return np.stack([idx.astype(np.float64), labels.astype(np.float64), v], axis=1)


def embedding_figure(
    embedding: Embedding | np.ndarray,
    labels,
    *,
    color=None,
    color_name: str = "score",
    colorscale: str = "Viridis",
    log_color: bool = False,
    color_range: tuple[float, float] | None = (0.01, 0.99),
    marked=None,
    marked_name: str = "chosen",
    centers=None,
    centers_name: str = "k-means centers",
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    point_size: float = 4.0,
    width: int = 720,
    height: int = 560,
) -> go.Figure:
    """Scatter of the 2-D embedding, coloured by ``color`` (n,), with ``marked`` and ``centers`` overlaid.

    embedding: an :class:`Embedding` or (n, 2) coordinates; labels (n,): class of every point.
    color: one value per point (e.g. sensitivity scores, draw counts); the points trace's
    ``marker.color`` is this array itself (``log_color`` uses log10(value) for the colours instead
    and keeps the raw value in hover). ``color_range``: quantiles of the values mapped to the ends of the
    colour scale (outliers saturate instead of washing out the rest; None: min to max).
    Without ``color`` points are coloured by class.
    marked, centers: global indices into the n points (e.g. ``Selection.indices``, k-means
    ``center_indices``). Traces: 0 = all points, then "marked" (if given), then "centers" (if given).
    Every trace's ``customdata`` rows are (index, class, value), for hover and for linked widgets.
    """
    coords = embedding.coords if isinstance(embedding, Embedding) else _numpy(embedding)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"embedding coordinates must have shape (n, 2); got {coords.shape}")
    n = coords.shape[0]
    lab = _numpy(labels).reshape(-1)
    if lab.shape[0] != n:
        raise ValueError(f"labels must have one entry per embedded point ({n}); got {lab.shape[0]}")
    values = None
    if color is not None:
        values = _numpy(color).reshape(-1)
        if values.shape[0] != n:
            raise ValueError(f"color must have one entry per embedded point ({n}); got {values.shape[0]}")
    idx_all = np.arange(n)
    text = None if class_names is None else np.asarray([str(class_names[int(c)]) for c in lab], dtype=object)

    if values is not None:
        shown = np.log10(np.maximum(values, np.min(values[values > 0]) if np.any(values > 0) else 1e-12)) if log_color else values
        marker = dict(color=shown, colorscale=colorscale, size=point_size, showscale=True,
                      colorbar=dict(title=dict(text=("log10 " if log_color else "") + color_name), thickness=12))
        finite = np.asarray(shown, dtype=np.float64)[np.isfinite(shown)]
        if color_range is not None and finite.size:
            lo, hi = np.quantile(finite, color_range)
            if hi > lo:
                marker.update(cmin=float(lo), cmax=float(hi))
    else:
        marker = dict(color=lab, colorscale="Turbo", size=point_size, showscale=True,
                      colorbar=dict(title=dict(text="class"), thickness=12))
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=coords[:, 0], y=coords[:, 1], mode="markers", name="points", marker=marker,
        customdata=_points_customdata(idx_all, lab, values), text=text,
        hovertemplate=_hover(color_name, class_names),
    ))
    for which, name, symbol, size, colour in (
        (marked, marked_name, "circle-open", point_size * 2.6, "#d62728"),
        (centers, centers_name, "x-thin-open", point_size * 2.6, "black"),
    ):
        if which is None:
            continue
        sel = _numpy(which).reshape(-1).astype(np.int64)
        if sel.size and (sel.min() < 0 or sel.max() >= n):
            raise ValueError(f"{name} indices must lie in 0..{n - 1}; got min {sel.min()}, max {sel.max()}")
        fig.add_trace(go.Scatter(
            x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=name,
            marker=dict(symbol=symbol, size=size, color=colour, line=dict(width=2, color=colour)),
            customdata=_points_customdata(sel, lab[sel], None if values is None else values[sel]),
            text=None if text is None else text[sel],
            hovertemplate=_hover(color_name, class_names),
        ))
    method = embedding.method.upper() if isinstance(embedding, Embedding) else "embedding"
    fig.update_layout(
        title=title, width=width, height=height, template="plotly_white", hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0),
        xaxis=dict(title=f"{method} 1", showticklabels=False, zeroline=False),
        yaxis=dict(title=f"{method} 2", showticklabels=False, zeroline=False),
        margin=dict(l=40, r=20, t=60 if title else 30, b=40),
    )
    return fig

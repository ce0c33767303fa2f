"""2-D embedding of the real points (UMAP, cached on disk; PCA fallback) and the scatter figure over it.

``compute_embedding`` runs UMAP once per (data, features, parameters) and stores the coordinates in
``<cache_dir>/embedding-<method>-<key>.npz``; the key is a SHA-256 of the data bytes, shape and dtype,
the ``features`` name and every parameter, so a second call with the same input reads the file back.

Large sets: above ``max_fit`` points (default 20,000) the embedding is fitted on a seeded subsample and
the other points are placed by their nearest fitted neighbours (said under the figure); above
5,000 points the scatter is drawn with WebGL.

Hover with images: plotly cannot show a picture inside a hover label. Every point carries
``customdata = (index, class, value)``; the live widgets show the image of the hovered/clicked point in
a companion panel, and the HTML report does the same with a small script and thumbnails of a budget of
points (see ``dd_explore.report``). The figure itself stays small: 4000 points are ~100 kB.
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
from dd_explore.viz.scales import WEBGL_THRESHOLD, color_mapping, scatter_trace

logger = logging.getLogger(__name__)

METHODS = ("umap", "pca")
CACHE_ENV = "DD_EXPLORE_CACHE"


@dataclass(frozen=True)
class Embedding:
    """2-D coordinates of n points.

    coords (n, 2) float32; method: what was computed ("umap" or "pca"); requested: what was asked for;
    key: the cache key; params: the parameters in the key; from_cache: read back from disk;
    fallback_reason: why PCA replaced UMAP ("" when it did not); note: how a large set was embedded
    (fit on a subsample, the rest placed by nearest neighbours; "" when every point was fitted).
    """

    coords: np.ndarray
    method: str
    requested: str
    key: str
    params: dict = field(default_factory=dict)
    from_cache: bool = False
    fallback_reason: str = ""
    note: str = ""

    def __len__(self) -> int:
        return int(self.coords.shape[0])


#: above this many points the embedding is fitted on a seeded subsample of this size and the other points
#: are placed at the distance-weighted mean of their nearest fitted neighbours (UMAP on 50,000 points then
#: takes about a minute on a 2-core CPU instead of several)
MAX_FIT = 20_000
PLACE_NEIGHBORS = 10


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


def _split_key(split, features: str, params: dict) -> str:
    """Cache key of a data set's Split: its stored bytes (uint8 pixels and their normalization, or the
    float images), shape, the features name and the parameters."""
    return split.digest({"features": features, "params": params})


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


def _quiet_numba() -> None:
    """Use numba's ``workqueue`` threading layer unless the user chose one (``NUMBA_THREADING_LAYER``).

    With the default OpenMP layer, the worker threads UMAP leaves behind keep competing with torch's own
    OpenMP threads: DM steps after an embedding in the same process (a notebook, the dashboard, the bench)
    were measured 5-30x slower on a 2-core CPU. Takes effect only before numba's first parallel call."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    try:
        import numba

        numba.config.THREADING_LAYER = "workqueue"
    except Exception:  # noqa: BLE001 - numba missing or too old: UMAP itself will say so
        pass


def exact_knn(X: np.ndarray, k: int, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n, k) int64, distances (n, k) float32) of each row's k nearest rows (itself first), exact,
    with torch in row blocks (memory: one block x n distances)."""
    import torch

    A = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    n = A.shape[0]
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    sq = (A * A).sum(1)
    for s in range(0, n, batch):
        blk = A[s : s + batch]
        d2 = (sq[s : s + batch, None] - 2.0 * blk @ A.T + sq[None, :]).clamp_min_(0.0)
        rows = torch.arange(blk.shape[0])
        d2[rows, rows + s] = -1.0  # the point itself first, whatever the rounding
        v, i = d2.topk(k, largest=False)
        idx[s : s + blk.shape[0]] = i.numpy()
        dist[s : s + blk.shape[0]] = v.clamp_min(0.0).sqrt().numpy()
    return idx, dist


def _fit_umap(X: np.ndarray, n_neighbors: int, min_dist: float, random_state: int) -> np.ndarray:
    """UMAP with an exact k-NN graph computed by torch (``precomputed_knn``): skips pynndescent, whose numba
    compilation was most of a first call's cost (80 s -> 26 s for 20,000 points on 2 cores)."""
    _quiet_numba()
    import warnings

    import umap

    X = np.asarray(X, dtype=np.float32)
    kw = dict(n_components=2, n_neighbors=n_neighbors, min_dist=min_dist, random_state=random_state, n_jobs=1)
    if X.shape[0] > n_neighbors:
        try:
            idx, dist = exact_knn(X, n_neighbors)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
                warnings.filterwarnings("ignore", message=".*n_jobs.*")
                return umap.UMAP(precomputed_knn=(idx, dist, None), **kw).fit_transform(X)
        except TypeError:  # an umap-learn without precomputed_knn
            pass
    return umap.UMAP(**kw).fit_transform(X)


def _rows(X, idx: np.ndarray | None = None, batch: int = 4096) -> np.ndarray:
    """Float32 (m, d) rows ``idx`` (default all) of an array or a Split, flattened."""
    from dd_explore.selection.features import is_split

    if is_split(X):
        if idx is None:
            idx = np.arange(len(X))
        parts = [X.batch(idx[s : s + batch], "cpu").reshape(min(batch, idx.shape[0] - s), -1).numpy()
                 for s in range(0, idx.shape[0], batch)]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    arr = X if idx is None else X[idx]
    return np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float32)


def _project(X, n: int, mean: np.ndarray, components: np.ndarray, batch: int = 4096) -> np.ndarray:
    """(rows of X - mean) @ components.T for all n rows, a batch at a time (float32)."""
    out = np.empty((n, components.shape[0]), dtype=np.float32)
    for s in range(0, n, batch):
        rows = _rows(X, np.arange(s, min(n, s + batch)))
        out[s : s + rows.shape[0]] = (rows - mean) @ components.T
    return out


def _place(Z: np.ndarray, fit_idx: np.ndarray, fit_coords: np.ndarray, k: int = PLACE_NEIGHBORS,
           batch: int = 4096) -> np.ndarray:
    """2-D places of every row of Z: fitted rows keep theirs, the others go to the inverse-distance-weighted
    mean of their ``k`` nearest fitted rows (distances in Z's space)."""
    import torch

    n = Z.shape[0]
    coords = np.empty((n, 2), dtype=np.float32)
    coords[fit_idx] = fit_coords
    rest = np.setdiff1d(np.arange(n), fit_idx)
    ref = torch.from_numpy(np.ascontiguousarray(Z[fit_idx], dtype=np.float32))
    fc = torch.from_numpy(np.ascontiguousarray(fit_coords, dtype=np.float32))
    k = min(k, ref.shape[0])
    for s in range(0, rest.shape[0], batch):
        rows = rest[s : s + batch]
        d = torch.cdist(torch.from_numpy(np.ascontiguousarray(Z[rows], dtype=np.float32)), ref)
        dist, nn = d.topk(k, largest=False)
        w = 1.0 / (dist + 1e-6)
        w = w / w.sum(1, keepdim=True)
        coords[rows] = (fc[nn] * w[..., None]).sum(1).numpy()
    return coords


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
    max_fit: int = MAX_FIT,
) -> Embedding:
    """2-D embedding of ``X`` (n, ...) flattened to (n, d), computed once and cached.

    X: an array/tensor, or a data set's Split (e.g. ``ds.train``; read in batches, compact pixels stay
    compact; the cache key hashes the stored pixels).
    method: "umap" (PCA to ``pca_dims`` first when d is larger, then UMAP with ``n_neighbors``,
    ``min_dist``) or "pca" (fast). When UMAP cannot run (import error, too few points, a failure in
    the fit) the result is PCA, with ``method="pca"`` and ``fallback_reason`` saying why.
    max_fit: with more points than this, PCA and UMAP are fitted on a seeded subsample of ``max_fit``
    points and every other point is placed at the inverse-distance-weighted mean of its
    :data:`PLACE_NEIGHBORS` nearest fitted points (in the PCA space); ``Embedding.note`` says so.
    features: a name for what ``X`` holds (e.g. "pixels", "convnet-random"); part of the cache key.
    cache_dir: folder of the cache (default :func:`default_cache_dir`); ``cache=False`` neither reads
    nor writes it.
    """
    from dd_explore.selection.features import is_split

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool):
        raise ValueError(f"random_state must be an int; got {random_state!r}")
    if not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be an int >= 2; got {n_neighbors!r}")
    if not (isinstance(min_dist, (int, float)) and 0.0 <= float(min_dist) <= 1.0):
        raise ValueError(f"min_dist must be a number in [0, 1]; got {min_dist!r}")
    if isinstance(max_fit, bool) or not isinstance(max_fit, (int, np.integer)) or max_fit < 10:
        raise ValueError(f"max_fit must be an int >= 10; got {max_fit!r}")
    split = is_split(X)
    if split:
        n = len(X)
        if X.ndim < 2 or n < 2:
            raise ValueError(f"X must have shape (n, ...) with n >= 2 points; got {tuple(X.shape)}")
        arr = None
    else:
        arr = _numpy(X)
        if arr.ndim < 2 or arr.shape[0] < 2:
            raise ValueError(f"X must have shape (n, ...) with n >= 2 points; got {arr.shape}")
        arr = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f"X must be finite; {int((~np.isfinite(arr)).sum())} entries are NaN or inf")
        n = arr.shape[0]

    params: dict = {"method": method, "random_state": int(random_state)}
    if method == "umap":
        params.update(n_neighbors=int(n_neighbors), min_dist=float(min_dist), pca_dims=int(pca_dims))
    subsample = n > int(max_fit)
    if subsample:
        params.update(max_fit=int(max_fit), place_neighbors=PLACE_NEIGHBORS)
    key = _split_key(X, features, params) if split else cache_key(arr, features, params)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"embedding-{method}-{key[:32]}.npz"
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as d:
                if str(d["key"]) == key:
                    logger.info("embedding read from cache %s", path)
                    note = str(d["note"]) if "note" in d.files else ""
                    return Embedding(d["coords"].astype(np.float32), str(d["method"]), method, key, params, True,
                                     str(d["reason"]), note)
        except (OSError, KeyError, ValueError) as exc:  # a broken cache file is recomputed
            logger.warning("ignoring unreadable embedding cache %s: %s", path, exc)

    note = ""
    if subsample:
        coords, used, reason, note = _embed_subsample(X if split else arr, n, method, int(random_state),
                                                      int(n_neighbors), float(min_dist), int(pca_dims), int(max_fit))
    else:
        if arr is None:
            arr = _rows(X)
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
            write_npz(path, coords=coords, method=np.array(used), key=np.array(key), reason=np.array(reason),
                      note=np.array(note))
        except OSError as exc:
            logger.warning("could not write embedding cache %s: %s", path, exc)
    return Embedding(coords, used, method, key, params, False, reason, note)


def _embed_subsample(X, n: int, method: str, random_state: int, n_neighbors: int, min_dist: float, pca_dims: int,
                     max_fit: int):
    """(coords, method used, fallback reason, note) of a large set: fit on a seeded subsample, place the rest."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(random_state)
    fit_idx = np.sort(rng.choice(n, size=max_fit, replace=False))
    fit_rows = _rows(X, fit_idx)
    dims = 2 if method == "pca" else min(pca_dims if pca_dims > 0 else fit_rows.shape[1], fit_rows.shape[1])
    if dims < fit_rows.shape[1]:
        pca = PCA(n_components=dims, random_state=random_state).fit(fit_rows)
        mean, comps = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
        del fit_rows
        Z = _project(X, n, mean, comps)
    else:
        del fit_rows
        Z = _rows(X)
    used, reason = method, ""
    if method == "umap":
        try:
            fit_coords = _fit_umap(Z[fit_idx], min(n_neighbors, max_fit - 1), min_dist, random_state)
        except Exception as exc:  # noqa: BLE001 - any UMAP failure falls back to PCA, logged
            used, reason = "pca", f"UMAP failed: {type(exc).__name__}: {exc}"
            logger.warning("embedding: %s; using PCA", reason)
    if used == "pca":
        if Z.shape[1] > 2:
            pca2 = PCA(n_components=2, random_state=random_state).fit(Z[fit_idx])
            return (((Z - pca2.mean_) @ pca2.components_.T).astype(np.float32), used, reason,
                    f"PCA fitted on a seeded {max_fit:,} of the {n:,} points")
        fit_coords = Z[fit_idx] if Z.shape[1] == 2 else np.concatenate([Z[fit_idx], np.zeros_like(Z[fit_idx])], 1)
    coords = _place(Z, fit_idx, np.asarray(fit_coords, dtype=np.float32))
    note = (f"{used.upper()} fitted on a seeded {max_fit:,} of the {n:,} points; the others placed at their "
            f"{PLACE_NEIGHBORS} nearest fitted neighbours")
    return coords, used, reason, note


def _hover(value_name: str, class_names: Sequence[str] | None) -> str:
    cls = "class %{customdata[1]}" + (" (%{text})" if class_names is not None else "")
    return "index %{customdata[0]}<br>" + cls + f"<br>{value_name} %{{customdata[2]:.4g}}<extra>%{{fullData.name}}</extra>"


def _points_customdata(idx: np.ndarray, labels: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    v = np.full(idx.shape[0], np.nan) if values is None else values.astype(np.float64)
    cd = np.stack([idx.astype(np.float64), labels.astype(np.float64), v], axis=1)
    # many points: float32 halves what the page carries (indices stay exact below 2^24)
    return cd.astype(np.float32) if idx.shape[0] > WEBGL_THRESHOLD else cd


def embedding_figure(
    embedding: Embedding | np.ndarray,
    labels,
    *,
    color=None,
    color_name: str = "score",
    colorscale: str = "Viridis",
    color_scale: str = "linear",
    log_color: bool = False,
    color_range: tuple[float, float] | None = (0.01, 0.99),
    marked=None,
    marked_name: str = "chosen",
    centers=None,
    centers_name: str = "k-means centers",
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    point_size: float | None = None,
    width: int = 720,
    height: int = 560,
) -> go.Figure:
    """Scatter of the 2-D embedding, coloured by ``color`` (n,), with ``marked`` and ``centers`` overlaid.

    embedding: an :class:`Embedding` or (n, 2) coordinates; labels (n,): class of every point.
    color: one value per point (e.g. sensitivity scores, draw counts). ``color_scale``: "linear" (the
    points trace's ``marker.color`` is this array itself), "log", "rank" or "auto" (log or rank when the
    values are skewed enough that a linear scale paints most points alike); the colour bar says which and
    labels its ticks in the original units; hover always shows the raw value (``customdata[2]``).
    ``log_color=True`` is ``color_scale="log"``. ``color_range``: quantiles of the values mapped to the
    ends of a linear/log colour scale (outliers saturate instead of washing out the rest; None: min to max).
    Without ``color`` points are coloured by class.
    marked, centers: global indices into the n points (e.g. ``Selection.indices``, k-means
    ``center_indices``). Traces: 0 = all points, then "marked" (if given), then "centers" (if given).
    Above :data:`~dd_explore.viz.scales.WEBGL_THRESHOLD` points a trace is drawn with WebGL
    (``scattergl``). Every trace's ``customdata`` rows are (index, class, value), for hover and for
    linked widgets. An :class:`Embedding` fitted on a subsample says so under the plot.
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
    if log_color:
        color_scale = "log"
    if point_size is None:
        point_size = 4.0 if n <= WEBGL_THRESHOLD else 3.0
    idx_all = np.arange(n)
    text = None if class_names is None else np.asarray([str(class_names[int(c)]) for c in lab], dtype=object)

    if values is not None:
        cm = color_mapping(values, color_name, color_scale, color_range)
        shown = cm.shown if cm.scale != "linear" else values
        if n > WEBGL_THRESHOLD:
            shown = np.asarray(shown, dtype=np.float32)  # colours: float32 is plenty, half the page
        marker = dict(color=shown, colorscale=colorscale, size=point_size, showscale=True, **cm.marker)
    else:
        marker = dict(color=lab, colorscale="Turbo", size=point_size, showscale=True,
                      colorbar=dict(title=dict(text="class"), thickness=12))
    fig = go.Figure()
    fig.add_trace(scatter_trace(
        n, x=coords[:, 0], y=coords[:, 1], mode="markers", name="points", marker=marker,
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
        fig.add_trace(scatter_trace(
            sel.size, x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=name,
            marker=dict(symbol=symbol, size=size, color=colour, line=dict(width=2, color=colour)),
            customdata=_points_customdata(sel, lab[sel], None if values is None else values[sel]),
            text=None if text is None else text[sel],
            hovertemplate=_hover(color_name, class_names),
        ))
    method = embedding.method.upper() if isinstance(embedding, Embedding) else "embedding"
    note = embedding.note if isinstance(embedding, Embedding) else ""
    fig.update_layout(
        title=title, width=width, height=height, template="plotly_white", hovermode="closest",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0.0),
        xaxis=dict(title=f"{method} 1", showticklabels=False, zeroline=False),
        yaxis=dict(title=f"{method} 2", showticklabels=False, zeroline=False),
        margin=dict(l=40, r=20, t=60 if title else 30, b=58 if note else 40),
    )
    if note:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0.0, y=0.0, yshift=-30, xanchor="left",
                           yanchor="top", showarrow=False, font=dict(size=10, color="#666"))
    return fig

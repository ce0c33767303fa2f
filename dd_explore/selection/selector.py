"""``select``: class-balanced selection of real points by any registered method."""

from __future__ import annotations

import inspect
import logging
import numbers

import numpy as np
import torch

from dd_explore.selection import _checks
from dd_explore.selection._random import torch_generator, spawn_seeds
from dd_explore.selection.features import check_features, extract_features, is_split
from dd_explore.selection.methods import METHODS, ClassPick
from dd_explore.selection.result import ClassDetails, Selection

logger = logging.getLogger(__name__)

FEATURE_OPTIONS = ("width", "depth", "norm", "pooling", "batch_size")


def list_methods() -> list[str]:
    """Names of the registered selection methods."""
    return METHODS.names()


def _labels(y, n: int) -> np.ndarray:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-dimensional int labels (n,); got shape {tuple(arr.shape)}")
    if arr.shape[0] != n:
        raise ValueError(f"y must have one label per point of X ({n}); got {arr.shape[0]}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("y must hold int labels; got non-integer values")
    elif arr.dtype.kind not in "biu":
        raise ValueError(f"y must hold int labels; got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _make_method(method: str, method_kw: dict):
    factory = METHODS.get(method)
    try:
        inspect.signature(factory).bind(**method_kw)
    except TypeError:
        valid = [p for p in inspect.signature(factory).parameters]
        raise ValueError(
            f"options for method {method!r} must be among {valid}; got {sorted(method_kw)}"
        ) from None
    return factory(**method_kw)


def select(
    X,
    y,
    ipc: int,
    method: str = "sensitivity-kmeans",
    features: str = "pixels",
    random_state: int | None = None,
    delta: float | None = None,
    *,
    device=None,
    progress: bool = False,
    feature_options: dict | None = None,
    **method_kw,
) -> Selection:
    """Pick ``ipc`` real points per class of ``X`` (n, ...) with labels ``y`` (n,) by ``method``.

    ``X``: an array/tensor, or a data set's :class:`~dd_explore.data.Split` (e.g. ``ds.train``): its
    features are then computed in batches from the stored (possibly uint8) pixels.

    ``features``: "pixels", "convnet", "pca:<k>" or "convnet+pca:<k>" (see :mod:`.features`);
    ``delta``: optional redundancy filter (reject a candidate closer than delta, in feature space, to a
    chosen point of its class); ``random_state``: None or an int (per-class streams are derived from it);
    ``device``: where the work runs (default: X's device for a tensor, else "auto");
    ``feature_options``: ConvNet options (width, depth, norm, pooling, batch_size);
    ``method_kw``: the method's options (e.g. ``k`` for sensitivity-kmeans, ``kernel`` for sensitivity-krr).
    All inputs are checked before any work; errors are ValueErrors naming the parameter and value.
    """
    # --- validation (no work before this block ends) ---
    inst = _make_method(method, method_kw)
    split = is_split(X)  # a data set's Split: features computed from it in batches (compact pixels stay compact)
    Xt = X if split else _checks.as_tensor("X", X)
    if Xt.ndim < 2:
        raise ValueError(f"X must have shape (n, ...) with at least 2 dims; got shape {tuple(Xt.shape)}")
    n = int(Xt.shape[0])
    if n < 2:
        raise ValueError(f"X must hold at least 2 points; got {n}")
    labels = _labels(y, n)
    if not split:
        _checks.check_finite("X", _checks.as_float("X", Xt))
    classes, counts = np.unique(labels, return_counts=True)
    sizes = {int(c): int(k) for c, k in zip(classes, counts)}
    smallest, smallest_size = min(sizes.items(), key=lambda kv: kv[1])
    if not (isinstance(ipc, numbers.Integral) and not isinstance(ipc, bool) and 1 <= int(ipc) <= smallest_size):
        raise ValueError(
            f"ipc must be a positive int no larger than the smallest class ({smallest_size} images in class "
            f"{smallest}); got {ipc!r}"
        )
    ipc = int(ipc)
    spec = check_features(features, tuple(Xt.shape))
    if delta is not None:
        delta = _checks.check_positive_float("delta", delta, allow_zero=True)
    _checks.check_random_state("random_state", random_state, allow_generator=False)
    opts = dict(feature_options or {})
    unknown = sorted(set(opts) - set(FEATURE_OPTIONS))
    if unknown:
        raise ValueError(f"feature_options keys must be among {list(FEATURE_OPTIONS)}; got {unknown}")
    if opts and spec.base != "convnet":
        raise ValueError(f"feature_options apply to ConvNet features only; got features={features!r}")
    inst.check(ipc, sizes)
    if device is None:
        dev = Xt.device if isinstance(X, torch.Tensor) or split else _resolve("auto")
    else:
        dev = _resolve(device)

    # --- work ---
    seeds = spawn_seeds(random_state, 2 + len(classes))
    batch_size = int(opts.pop("batch_size", 256))
    F = extract_features(Xt, features, random_state=seeds[0], device=dev, batch_size=batch_size, options=opts,
                         progress=progress, across_ranks=True)  # every rank runs select(): the embedding is split
    y_dev = torch.as_tensor(labels, device=dev)
    positions = torch.as_tensor(np.searchsorted(classes, labels), device=dev)
    context = inst.prepare(F, positions, seeds[1])

    from tqdm.auto import tqdm

    from dd_explore import distributed

    # classes are independent (each its own random stream): across ranks each rank selects its block of
    # classes and every rank gathers all of them
    dist = distributed.context()
    mine = distributed.owned(len(classes)) if dist.active else range(len(classes))
    done: dict[int, tuple] = {}
    for pos in tqdm(mine, desc=f"select ({method})", disable=not (progress and dist.main)):
        label = int(classes[pos])
        cand = torch.nonzero(y_dev == label, as_tuple=False).flatten()
        gen = torch_generator(seeds[2 + pos], dev)
        if cand.shape[0] == ipc:
            m = ipc
            p = torch.full((m,), 1.0 / m, dtype=torch.float64, device=dev)
            pick = ClassPick(chosen=torch.arange(m, device=dev), probabilities=p,
                             weights=torch.ones(m, dtype=torch.float64, device=dev), scores=p.clone(),
                             note="class taken whole (size == ipc)")
        else:
            pick = inst.select_class(F[cand], ipc, gen, delta, cand, context)
        done[pos] = (_details(label, cand, pick), _np(pick.weights).astype(np.float64), cand.cpu().numpy(),
                     pick.probabilities.cpu().numpy(), pick.scores.cpu().numpy())
    if dist.active:
        done = distributed.merge_owned(distributed.gather_objects(done))
    probabilities = np.zeros(n, dtype=np.float64)
    scores = np.zeros(n, dtype=np.float64)
    details: list[ClassDetails] = []
    weight_parts: list[np.ndarray] = []
    for pos in range(len(classes)):
        detail, weight, cand_np, probs, sc = done[pos]
        details.append(detail)
        weight_parts.append(weight)
        probabilities[cand_np] = probs
        scores[cand_np] = sc
    indices = np.concatenate([d.chosen for d in details])
    weights = np.concatenate(weight_parts)
    sel = Selection(
        method=method,
        ipc=ipc,
        features=features,
        random_state=None if random_state is None else int(random_state),
        indices=indices.astype(np.int64),
        labels=labels[indices],
        weights=weights,
        probabilities=probabilities,
        scores=scores,
        per_class=tuple(details),
        delta=delta,
        params=inst.params(),
        feature_dim=int(F.shape[1]),
    )
    logger.info("select: %s ipc=%d features=%s -> %d points", method, ipc, features, indices.shape[0])
    return sel


def _resolve(device) -> torch.device:
    from dd_explore.device import resolve_device

    return resolve_device(device)


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy()


def _details(label: int, cand: torch.Tensor, pick: ClassPick) -> ClassDetails:
    """Move a method's per-class result to numpy with global indices."""
    return ClassDetails(
        label=int(label),
        candidates=_np(cand).astype(np.int64),
        chosen=_np(cand[pick.chosen]).astype(np.int64),
        centers=_np(pick.centers),
        center_indices=None if pick.center_indices is None else _np(cand[pick.center_indices]).astype(np.int64),
        assignment=_np(pick.assignment),
        distances_sq=_np(pick.distances_sq),
        cluster_sizes=_np(pick.cluster_sizes),
        cost=pick.cost,
        leverage=_np(pick.leverage),
        residual_sq=_np(pick.residual_sq),
        residual_term=_np(pick.residual_term),
        d_eff=pick.d_eff,
        filled=int(pick.filled),
        note=pick.note,
    )

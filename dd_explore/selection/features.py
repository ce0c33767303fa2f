"""Feature spaces the selection runs in.

``features`` is one of:
- ``"pixels"``: the images flattened as given (a data set's images are already normalized);
- ``"convnet"``: embeddings of a randomly initialized ConvNet (``dd_explore.models.create("convnet")``,
  protocol architecture unless ``options`` say otherwise), seeded, in eval mode, batched, on ``device``;
- ``"pca:<k>"`` / ``"convnet+pca:<k>"``: the first k principal components of either (PCA over all
  points, deterministic: eigendecomposition of the smaller of the covariance / Gram matrix, signs fixed
  so the largest loading of each component is positive).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from dd_explore._random import seeded
from dd_explore.selection import _checks

logger = logging.getLogger(__name__)

CONVNET_DEFAULTS = {"width": 128, "depth": 3, "norm": "instance", "pooling": "avg"}


@dataclass(frozen=True)
class FeatureSpec:
    base: str  # "pixels" or "convnet"
    pca: int | None


def parse_features(features: str) -> FeatureSpec:
    """``"pixels"``, ``"convnet"``, ``"pca:<k>"`` (= ``"pixels+pca:<k>"``) or ``"convnet+pca:<k>"``."""
    valid = "'pixels', 'convnet', 'pca:<k>' or 'convnet+pca:<k>' with k a positive int"
    s = features.strip() if isinstance(features, str) else None
    if s in ("pixels", "convnet"):
        return FeatureSpec(base=s, pca=None)
    if s is not None:
        for prefix, base in (("pca:", "pixels"), ("pixels+pca:", "pixels"), ("convnet+pca:", "convnet")):
            rest = s[len(prefix):]
            if s.startswith(prefix) and rest.isascii() and rest.isdigit() and int(rest) >= 1:
                return FeatureSpec(base=base, pca=int(rest))
    raise ValueError(f"features must be {valid}; got {features!r}")


def check_features(features: str, shape: tuple[int, ...]) -> FeatureSpec:
    """Validate ``features`` against the shape of X (n, ...) before any work."""
    spec = parse_features(features)
    n = shape[0]
    if spec.base == "convnet" and len(shape) not in (3, 4):
        raise ValueError(
            f"features={features!r} needs images X of shape (n, C, H, W) or (n, H, W); got shape {tuple(shape)}"
        )
    if spec.pca is not None and spec.base == "pixels":
        d = 1
        for s in shape[1:]:
            d *= int(s)
        if spec.pca > min(n, d):
            raise ValueError(
                f"features {features!r}: the PCA dimension must be at most min(n, d) = {min(n, d)}; got {spec.pca}"
            )
    if spec.pca is not None and spec.pca > n:
        raise ValueError(f"features {features!r}: the PCA dimension must be at most n = {n}; got {spec.pca}")
    return spec


def pca(F: torch.Tensor, k: int) -> torch.Tensor:
    """Scores on the first ``k`` principal components of ``F`` (n, d) -> (n, k) in F's dtype."""
    n, d = F.shape
    if not 1 <= k <= min(n, d):
        raise ValueError(f"the PCA dimension must be an int in [1, min(n, d) = {min(n, d)}]; got {k}")
    Fc = F - F.mean(0)
    F64 = Fc.to(torch.float64)
    if d <= n:
        evals, V = torch.linalg.eigh(F64.T @ F64)
        V = V[:, torch.argsort(evals, descending=True)[:k]]
    else:
        evals, U = torch.linalg.eigh(F64 @ F64.T)
        order = torch.argsort(evals, descending=True)[:k]
        U, ev = U[:, order], evals[order].clamp_min(1e-300)
        V = (F64.T @ U) / ev.sqrt()[None, :]
    idx = V.abs().argmax(0)
    V = V * torch.sign(V[idx, torch.arange(k, device=V.device)])[None, :]
    return (F64 @ V).to(F.dtype)


# ---------------------------------------------------------------------------- sources: a tensor or a Split
def is_split(X) -> bool:
    """True for a data set's :class:`~dd_explore.data.Split` (anything with ``batch`` and ``iter_batches``)."""
    return hasattr(X, "iter_batches") and hasattr(X, "batch") and hasattr(X, "labels")


def _batches(X, batch_size: int, device: torch.device, progress: bool, desc: str):
    """(start, float images (b, ...) on ``device``) over X (a tensor or a Split), with a progress bar."""
    from tqdm.auto import tqdm

    n = int(X.shape[0])
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False)
    try:
        if is_split(X):
            for start, xb in X.iter_batches(batch_size, device):
                yield start, xb
                bar.update(int(xb.shape[0]))
        else:
            for start in range(0, n, batch_size):
                xb = _checks.as_float("X", X[start : start + batch_size]).to(device)
                yield start, xb
                bar.update(int(xb.shape[0]))
    finally:
        bar.close()


def pixel_features(X, device: torch.device, batch_size: int = 4096, progress: bool = False) -> torch.Tensor:
    """X flattened to (n, d) float32 on ``device``: a view of a float32 tensor already there, else filled
    batch by batch (a compact Split is normalized one batch at a time)."""
    if isinstance(X, torch.Tensor):
        F = _checks.as_float("X", X).reshape(X.shape[0], -1).to(device)
        return F if F.dtype == torch.float32 else F.to(torch.float32)
    n = int(X.shape[0])
    d = 1
    for s_ in X.shape[1:]:
        d *= int(s_)
    F = torch.empty((n, d), dtype=torch.float32, device=device)
    for start, xb in _batches(X, batch_size, device, progress, "pixel features"):
        F[start : start + xb.shape[0]] = xb.reshape(xb.shape[0], -1)
    return F


#: above this many values (n x d) PCA runs in batches (covariance accumulated in float64, then projected
#: batch by batch) instead of on a centred float64 copy of all the features
PCA_BATCHED_VALUES = 2**26


def pca_batched(X, k: int, device: torch.device, batch_size: int = 4096, progress: bool = False,
                flat=None) -> torch.Tensor:
    """:func:`pca` of X's flattened rows (X a tensor or a Split; or ``flat``, a function (start, batch) ->
    (b, d) features) without holding more than one batch and the d x d covariance: (n, k) float32.
    Needs d <= n (the covariance route); signs fixed as in :func:`pca`."""
    n = int(X.shape[0])
    total = cov = shift = None
    for start, xb in _batches(X, batch_size, device, progress, "PCA (covariance)"):
        f = (xb.reshape(xb.shape[0], -1) if flat is None else flat(xb)).to(torch.float32)
        if total is None:
            d = f.shape[1]
            if not 1 <= k <= min(n, d):
                raise ValueError(f"the PCA dimension must be an int in [1, min(n, d) = {min(n, d)}]; got {k}")
            shift = f.to(torch.float64).mean(0).to(torch.float32)  # keeps the float32 products well conditioned
            total = torch.zeros(d, dtype=torch.float64, device=device)
            cov = torch.zeros((d, d), dtype=torch.float64, device=device)
        f = f - shift
        total += f.sum(0, dtype=torch.float64)
        cov += (f.T @ f).to(torch.float64)  # float32 products per batch (2x faster), summed in float64
    mu = total / n
    cov -= n * torch.outer(mu, mu)
    evals, V = torch.linalg.eigh(cov)
    V = V[:, torch.argsort(evals, descending=True)[:k]]
    idx = V.abs().argmax(0)
    V = V * torch.sign(V[idx, torch.arange(k, device=V.device)])[None, :]
    center = (shift.to(torch.float64) + mu).to(torch.float32)
    V32 = V.to(torch.float32)
    out = torch.empty((n, k), dtype=torch.float32, device=device)
    for start, xb in _batches(X, batch_size, device, progress, "PCA (projection)"):
        f = (xb.reshape(xb.shape[0], -1) if flat is None else flat(xb)).to(torch.float32)
        out[start : start + f.shape[0]] = (f - center) @ V32
    return out


def _batch_at(X, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """Float images X[start:stop] on ``device`` (X a tensor or a Split)."""
    if is_split(X):
        return X.batch(slice(start, stop), device)
    return _checks.as_float("X", X[start:stop]).to(device)


def convnet_embeddings(images, seed: int, device: torch.device, batch_size: int = 256,
                       options: dict | None = None, progress: bool = False, across_ranks: bool = False) -> torch.Tensor:
    """Embeddings (n, embedding_dim) of a seeded, randomly initialized ConvNet, computed in batches
    (``images``: a tensor (n, C, H, W) / (n, H, W) or a Split).

    ``across_ranks`` (every rank of a torch.distributed run calls this together): each rank embeds its block
    of the same batches one process would, and the rows are summed over ranks (each row is nonzero on one
    rank only), so every rank gets exactly the one-process result for 1/world of the work."""
    from tqdm.auto import tqdm

    from dd_explore import distributed, models

    if not is_split(images) and images.ndim == 3:
        images = images[:, None]
    c, h, w = (int(s) for s in images.shape[1:])
    kw = dict(CONVNET_DEFAULTS)
    kw.update(options or {})
    with seeded(seed):
        net = models.create("convnet", channels=c, num_classes=2, image_size=(h, w), **kw)
    net = net.to(device).eval()
    n = int(images.shape[0])
    ctx = distributed.context()
    if across_ranks and ctx.active:
        starts = list(range(0, n, batch_size))
        mine = [starts[i] for i in distributed.owned(len(starts))]
        with torch.no_grad():
            dim = int(net.embed(_batch_at(images, 0, 1, device).to(torch.float32)).shape[1])
            out = torch.zeros((n, dim), dtype=torch.float32, device=device)
            for start in tqdm(mine, desc="convnet features", unit="batch", leave=False,
                              disable=not (progress and ctx.main)):
                xb = _batch_at(images, start, min(n, start + batch_size), device)
                out[start : start + xb.shape[0]] = net.embed(xb.to(torch.float32)).float()
        return distributed.all_reduce_sum(out)
    out = None
    with torch.no_grad():
        for start, xb in _batches(images, batch_size, device, progress, "convnet features"):
            e = net.embed(xb.to(torch.float32)).float()
            if out is None:
                out = torch.empty((n, e.shape[1]), dtype=torch.float32, device=device)
            out[start : start + e.shape[0]] = e
    return out


def extract_features(X, features: str = "pixels", *, random_state: int | None = 0, device=None,
                     batch_size: int = 256, options: dict | None = None, progress: bool = False,
                     across_ranks: bool = False) -> torch.Tensor:
    """Features (n, d') float32 on ``device`` (default: X's device) for the selection.

    ``X``: an array/tensor, or a data set's Split (features then come from its stored pixels one batch at
    a time). ``random_state`` seeds the random ConvNet; ``options`` are passed to the ConvNet (width,
    depth, norm, pooling). ``progress`` shows a tqdm bar per pass over the data. Memory: the result plus
    a batch (and the d x d covariance for PCA of wide data); never a float copy of a compact set except
    for ``"pixels"``, whose result is that copy. Raises ValueError for a bad ``features`` string or
    NaN/inf in the result. ``across_ranks``: every rank of a torch.distributed run calls this together and
    ConvNet embeddings are split across them (:func:`convnet_embeddings`); the result is the same.
    """
    t = X if is_split(X) else _checks.as_tensor("X", X)
    if t.ndim < 2:
        raise ValueError(f"X must have shape (n, ...) with at least 2 dims; got shape {tuple(t.shape)}")
    spec = check_features(features, tuple(t.shape))
    dev = t.device if device is None else torch.device(device)
    n = int(t.shape[0])
    d = 1
    for s_ in t.shape[1:]:
        d *= int(s_)
    big_batch = max(batch_size, 4096)
    if spec.base == "convnet":
        seed = 0 if random_state is None else int(random_state)
        F = convnet_embeddings(t if is_split(t) else _checks.as_float("X", t), seed, dev, batch_size, options, progress,
                               across_ranks=across_ranks)
    elif spec.pca is not None and (is_split(t) or n * d > PCA_BATCHED_VALUES) and d <= n:
        F = pca_batched(t, spec.pca, dev, big_batch, progress)  # never the (n, d) pixel matrix
        spec = FeatureSpec(spec.base, None)
    else:
        F = pixel_features(t, dev, big_batch, progress)
    if spec.pca is not None:
        if spec.pca > min(F.shape):
            raise ValueError(
                f"features {features!r}: the PCA dimension must be at most min(n, d) = {min(F.shape)}; got {spec.pca}"
            )
        F = pca_batched(F, spec.pca, dev, big_batch, progress) if F.numel() > PCA_BATCHED_VALUES and \
            F.shape[1] <= F.shape[0] else pca(F, spec.pca)
    _checks.check_finite(f"features ({features})", F)
    logger.debug("features %s: %s", features, tuple(F.shape))
    return F.contiguous()

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


def convnet_embeddings(images: torch.Tensor, seed: int, device: torch.device, batch_size: int = 256,
                       options: dict | None = None, progress: bool = False) -> torch.Tensor:
    """Embeddings (n, embedding_dim) of a seeded, randomly initialized ConvNet, computed in batches."""
    from tqdm.auto import tqdm

    from dd_explore import models

    if images.ndim == 3:
        images = images[:, None]
    c, h, w = (int(s) for s in images.shape[1:])
    kw = dict(CONVNET_DEFAULTS)
    kw.update(options or {})
    with seeded(seed):
        net = models.create("convnet", channels=c, num_classes=2, image_size=(h, w), **kw)
    net = net.to(device).eval()
    out = []
    with torch.no_grad():
        for s in tqdm(range(0, images.shape[0], batch_size), desc="convnet features", disable=not progress, leave=False):
            out.append(net.embed(images[s : s + batch_size].to(device, torch.float32)).float())
    return torch.cat(out)


def extract_features(X, features: str = "pixels", *, random_state: int | None = 0, device=None,
                     batch_size: int = 256, options: dict | None = None, progress: bool = False) -> torch.Tensor:
    """Features (n, d') float32 on ``device`` (default: X's device) for the selection.

    ``random_state`` seeds the random ConvNet; ``options`` are passed to the ConvNet (width, depth,
    norm, pooling). Raises ValueError for a bad ``features`` string or NaN/inf in the result.
    """
    t = _checks.as_tensor("X", X)
    if t.ndim < 2:
        raise ValueError(f"X must have shape (n, ...) with at least 2 dims; got shape {tuple(t.shape)}")
    spec = check_features(features, tuple(t.shape))
    dev = t.device if device is None else torch.device(device)
    if spec.base == "convnet":
        seed = 0 if random_state is None else int(random_state)
        F = convnet_embeddings(_checks.as_float("X", t), seed, dev, batch_size, options, progress)
    else:
        F = _checks.as_float("X", t).reshape(t.shape[0], -1).to(dev)
        if F.dtype != torch.float32:
            F = F.to(torch.float32)
    if spec.pca is not None:
        if spec.pca > min(F.shape):
            raise ValueError(
                f"features {features!r}: the PCA dimension must be at most min(n, d) = {min(F.shape)}; got {spec.pca}"
            )
        F = pca(F, spec.pca)
    _checks.check_finite(f"features ({features})", F)
    logger.debug("features %s: %s", features, tuple(F.shape))
    return F.contiguous()

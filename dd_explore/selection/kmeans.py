"""Sensitivity (importance) scores for the k-means loss from a k-means++ bicriteria solution.

For points P and a bicriteria solution B (k centers drawn by k-means++ D^2 seeding), every point p
has its nearest center b(p), its cluster P_b(p) and ``s(p) = d(p, B)^2 / cost(P, B) + 1 / |P_b(p)|``
with ``cost(P, B) = sum_p d(p, B)^2``. ``sum_p s(p) = 1 + (number of non-empty clusters) <= 1 + k``;
sampling m points with probability ``s / sum(s)`` and weighting each by ``1 / (m * prob)`` gives a
k-means coreset.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch

from dd_explore.selection import _checks
from dd_explore.selection._distances import PointSet, all_identical
from dd_explore.selection._random import torch_generator

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 8192


@dataclass(frozen=True)
class KMeansSensitivity:
    """Result of :func:`kmeans_sensitivity` (tensors on the input's device).

    scores (n,) float64: s(p); centers (k, d); center_indices (k,): rows of X that are the centers;
    assignment (n,): index of the nearest center; distances_sq (n,): d(p, B)^2; cluster_sizes (k,);
    cost: sum of distances_sq; uniform_fallback: True when the cost was 0 and scores are uniform (1/n).
    """

    scores: torch.Tensor
    centers: torch.Tensor
    center_indices: torch.Tensor
    assignment: torch.Tensor
    distances_sq: torch.Tensor
    cluster_sizes: torch.Tensor
    cost: float
    uniform_fallback: bool = False

    @property
    def k(self) -> int:
        return int(self.center_indices.shape[0])

    @property
    def probabilities(self) -> torch.Tensor:
        """Sampling distribution ``s / sum(s)`` (n,)."""
        return self.scores / self.scores.sum()


def draw_one(weights: torch.Tensor, generator: torch.Generator) -> int | None:
    """Index drawn with probability proportional to ``weights`` (inverse CDF); None when all are 0."""
    cs = torch.cumsum(weights, dim=0, dtype=torch.float64)
    total = cs[-1]
    if not bool(total > 0):
        return None
    u = torch.rand(1, generator=generator, dtype=torch.float64, device=weights.device) * total
    return int(torch.searchsorted(cs, u, right=True).clamp_max_(weights.shape[0] - 1))


def kmeans_plus_plus(points: PointSet, k: int, generator: torch.Generator):
    """D^2 seeding. Returns (center_indices, min squared distance, nearest-center index) for all points.

    When every remaining point coincides with a chosen center (fewer distinct points than k), the next
    center is drawn uniformly among the points not yet chosen.
    """
    X = points.X
    n = points.n
    device = X.device
    min_d2 = torch.full((n,), float("inf"), dtype=X.dtype, device=device)
    assign = torch.zeros(n, dtype=torch.long, device=device)
    chosen = torch.zeros(n, dtype=torch.bool, device=device)
    idx: list[int] = []
    for j in range(k):
        if j == 0:
            i = int(torch.randint(n, (1,), generator=generator, device=device))
        else:
            i = draw_one(min_d2, generator)
            if i is None:
                i = draw_one((~chosen).to(X.dtype), generator)
        idx.append(i)
        d2 = points.to_point(X[i])
        closer = d2 < min_d2
        min_d2 = torch.where(closer, d2, min_d2)
        assign.masked_fill_(closer, j)
        min_d2[i] = 0.0  # exact zero at the center itself (the norm trick leaves rounding noise)
        assign[i] = j
        chosen[i] = True
    return torch.tensor(idx, dtype=torch.long, device=device), min_d2, assign


def kmeans_sensitivity(X, k: int, random_state=None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> KMeansSensitivity:
    """Sensitivity scores for the k-means loss of the points ``X`` (n, d).

    ``k`` bicriteria centers come from k-means++ D^2 seeding drawn with a ``torch.Generator``
    (``random_state``: None, int or generator). Everything runs on ``X``'s device; distances are
    computed in chunks of ``chunk_size`` rows, so memory is O(n (d + k)), never n x n. All-identical
    points (cost 0) give a RuntimeWarning and uniform scores 1/n.
    """
    chunk_size = _checks.check_int("chunk_size", chunk_size, 1)
    X = _checks.as_points("X", X, chunk_size)
    n = X.shape[0]
    k = _checks.check_int("k", k, 1, n, rule=f"a positive int no larger than the number of points ({n})")
    _checks.check_random_state("random_state", random_state)
    gen = torch_generator(random_state, X.device)

    if all_identical(X, chunk_size):
        warnings.warn(
            f"all {n} points are identical (k-means cost 0); falling back to uniform sensitivity scores",
            RuntimeWarning,
            stacklevel=2,
        )
        center_idx = torch.randperm(n, generator=gen, device=X.device)[:k]
        assign = torch.zeros(n, dtype=torch.long, device=X.device)
        assign[center_idx] = torch.arange(k, device=X.device)
        return _uniform(X, center_idx, assign, torch.zeros(n, dtype=X.dtype, device=X.device), k)

    points = PointSet(X, chunk_size)
    center_idx, d2, assign = kmeans_plus_plus(points, k, gen)
    sizes = torch.bincount(assign, minlength=k)
    cost = float(d2.to(torch.float64).sum())
    if not cost > 0.0:
        warnings.warn(
            f"the k-means cost of {n} points with k={k} centers is 0 (at most k distinct points); "
            "falling back to uniform sensitivity scores",
            RuntimeWarning,
            stacklevel=2,
        )
        return _uniform(X, center_idx, assign, d2, k)
    scores = d2.to(torch.float64) / cost + 1.0 / sizes[assign].to(torch.float64)
    logger.debug("kmeans_sensitivity: n=%d k=%d cost=%.4g", n, k, cost)
    return KMeansSensitivity(
        scores=scores,
        centers=X[center_idx].clone(),
        center_indices=center_idx,
        assignment=assign,
        distances_sq=d2,
        cluster_sizes=sizes,
        cost=cost,
    )


def _uniform(X, center_idx, assign, d2, k) -> KMeansSensitivity:
    n = X.shape[0]
    return KMeansSensitivity(
        scores=torch.full((n,), 1.0 / n, dtype=torch.float64, device=X.device),
        centers=X[center_idx].clone(),
        center_indices=center_idx,
        assignment=assign,
        distances_sq=d2,
        cluster_sizes=torch.bincount(assign, minlength=k),
        cost=float(d2.to(torch.float64).sum()),
        uniform_fallback=True,
    )

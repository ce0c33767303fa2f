"""Squared Euclidean distances from all points to one point, without an n x n matrix.

``PointSet`` keeps the points, their mean and the squared norms of the centred points, and computes
``||x - c||^2 = ||x - mu||^2 - 2 (x - mu).(c - mu) + ||c - mu||^2`` with one matrix-vector product
(memory O(n)). Centring keeps the cancellation error at the scale of the data's spread. Values below the
rounding error of that expansion (about ``eps (4 + sqrt(d)) (||x - mu||^2 + 2 ||x|| ||c - mu|| + ||c - mu||^2)``)
cannot be told from 0 and are set to 0; so duplicates of a center are at distance exactly 0.
"""

from __future__ import annotations

import math

import torch


class PointSet:
    """Points (n, d) with cached norms; all methods stay on the points' device.

    The norms are computed in chunks of ``chunk_size`` rows (temporary memory O(chunk_size * d)).
    """

    def __init__(self, X: torch.Tensor, chunk_size: int = 8192):
        self.X = X
        self.chunk_size = int(chunk_size)
        self.mu = X.mean(dim=0)
        n = X.shape[0]
        sq = torch.empty(n, dtype=X.dtype, device=X.device)
        for start in range(0, n, self.chunk_size):
            block = X[start : start + self.chunk_size] - self.mu
            torch.linalg.vector_norm(block, dim=1, out=sq[start : start + block.shape[0]])
        self.sq = sq.square_()  # ||x - mu||^2
        self._eps = torch.finfo(X.dtype).eps * (4.0 + math.sqrt(X.shape[1]))
        self._tol_sq = self.sq * self._eps  # rounding-error bound, the parts that do not depend on c
        self._tol_x = torch.linalg.vector_norm(X, dim=1).mul_(2.0 * self._eps)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def to_point(self, c: torch.Tensor) -> torch.Tensor:
        """(n,) squared distances from every point to ``c`` (d,); unresolvable values are 0."""
        w = c.to(self.X.dtype) - self.mu
        w2 = torch.dot(w, w)
        const = 2.0 * torch.dot(self.mu, w) + w2
        d2 = torch.addmv(self.sq, self.X, w, alpha=-2.0).add_(const)
        tol = torch.add(self._tol_sq, self._tol_x, alpha=float(w2.sqrt())).add_(self._eps * w2)
        return torch.where(d2 > tol, d2, torch.zeros((), dtype=d2.dtype, device=d2.device))


def all_identical(X: torch.Tensor, chunk_size: int = 8192) -> bool:
    """True when every row equals the first one exactly (stops at the first differing chunk)."""
    first = X[0]
    for start in range(0, X.shape[0], chunk_size):
        if not bool((X[start : start + chunk_size] == first).all()):
            return False
    return True

"""Squared Euclidean distances without an n x n matrix.

``PointSet`` keeps the points, their mean and the squared norms of the centred points, and computes
``||x - c||^2 = ||x - mu||^2 - 2 (x - mu).(c - mu) + ||c - mu||^2`` (clamped at 0). Centring first keeps
the cancellation error at the scale of the data's spread, not of its offset. Distances to one point
cost a matrix-vector product (memory O(n)); to k points they are computed in row chunks
(memory O(chunk * k)).
"""

from __future__ import annotations

import torch


class PointSet:
    """Points (n, d) with cached centring; all methods stay on the points' device."""

    def __init__(self, X: torch.Tensor, chunk_size: int = 8192):
        self.X = X
        self.chunk_size = int(chunk_size)
        self.mu = X.mean(dim=0)
        sq = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
        for start in range(0, X.shape[0], self.chunk_size):
            block = X[start : start + self.chunk_size] - self.mu
            torch.linalg.vector_norm(block, dim=1, out=sq[start : start + block.shape[0]])
        self.sq = sq.square_()  # ||x - mu||^2

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def to_point(self, c: torch.Tensor) -> torch.Tensor:
        """(n,) squared distances from every point to ``c`` (d,)."""
        w = c.to(self.X.dtype) - self.mu
        const = 2.0 * torch.dot(self.mu, w) + torch.dot(w, w)
        return torch.addmv(self.sq, self.X, w, alpha=-2.0).add_(const).clamp_min_(0.0)

    def to_points(self, C: torch.Tensor, rows: slice | None = None) -> torch.Tensor:
        """(rows, k) squared distances from the points in ``rows`` (default all) to the centers ``C`` (k, d)."""
        rows = rows if rows is not None else slice(0, self.n)
        W = C.to(self.X.dtype) - self.mu
        cross = self.X[rows] @ W.T - (self.mu @ W.T)
        return (self.sq[rows, None] - 2.0 * cross + (W * W).sum(dim=1)[None, :]).clamp_min_(0.0)

    def nearest(self, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(min squared distance, index of the nearest center) for every point, in row chunks."""
        n = self.n
        best = torch.empty(n, dtype=self.X.dtype, device=self.X.device)
        arg = torch.empty(n, dtype=torch.long, device=self.X.device)
        for start in range(0, n, self.chunk_size):
            rows = slice(start, min(start + self.chunk_size, n))
            d2 = self.to_points(C, rows)
            best[rows], arg[rows] = d2.min(dim=1)
        return best, arg


def all_identical(X: torch.Tensor, chunk_size: int = 8192) -> bool:
    """True when every row equals the first one exactly (stops at the first differing chunk)."""
    first = X[0]
    for start in range(0, X.shape[0], chunk_size):
        if not bool((X[start : start + chunk_size] == first).all()):
            return False
    return True

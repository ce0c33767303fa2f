"""Kernels for the kernel-ridge-regression sensitivity, exact and by random features.

Fully connected ReLU networks with ``depth`` hidden layers (weight variance ``weight_var``, bias
variance ``bias_var``, NTK parameterization) have closed-form kernels given by the arc-cosine
recursion. With ``Sigma^0(x, x') = weight_var * x.x' / d + bias_var`` and, per layer,
``theta = arccos(Sigma / sqrt(Sigma_xx Sigma_x'x'))``::

    Sigma^h = weight_var * sqrt(Sigma_xx Sigma_x'x') (sin theta + (pi - theta) cos theta) / (2 pi) + bias_var
    Edot^h  = (pi - theta) / (2 pi)
    Theta^h = weight_var * Theta^(h-1) * Edot^h + Sigma^h          (Theta^0 = Sigma^0)

NNGP = Sigma^depth, NTK = Theta^depth. RBF: ``exp(-||x - x'||^2 / (2 bandwidth^2))`` with the bandwidth
by the median heuristic (median pairwise distance) unless given.

Random-feature maps ``phi`` with ``phi(x).phi(x') -> k(x, x')`` as ``num_features`` grows:
- NNGP: a random ReLU network of width ``num_features`` (its last hidden layer, scaled).
- NTK: a random ReLU network of width ``num_features // 2``; per layer, its NNGP features next to a sketch
  of the NTK's product term: the elementwise product of a Gaussian projection of the previous layer's NTK
  features with the ReLU-derivative features (unbiased for ``Theta^(h-1) * weight_var * Edot^h``);
  dimension ``2 * (num_features // 2)``.
- RBF: random Fourier features ``[cos(W x), sin(W x)] / sqrt(D/2)``, ``W ~ N(0, I / bandwidth^2)``,
  ``num_features // 2`` frequencies (dimension rounded down to even).
Exact kernels are computed in float64 and return (n1, n2) matrices: use them for small n only.
"""

from __future__ import annotations

import math

import torch

from dd_explore.selection import _checks
from dd_explore.selection._random import torch_generator

KERNELS = ("ntk", "nngp", "rbf")


def _pair(X1, X2):
    A = _checks.as_float("X1", _checks.as_tensor("X1", X1))
    if A.ndim != 2:
        raise ValueError(f"X1 must be 2-dimensional (n, d); got shape {tuple(A.shape)}")
    if X2 is None:
        return A, None
    B = _checks.as_float("X2", _checks.as_tensor("X2", X2, device=A.device))
    if B.ndim != 2 or B.shape[1] != A.shape[1]:
        raise ValueError(f"X2 must be 2-dimensional with {A.shape[1]} features like X1; got shape {tuple(B.shape)}")
    return A, B


def _check_fc(depth, weight_var, bias_var) -> tuple[int, float, float]:
    depth = _checks.check_int("depth", depth, 1)
    weight_var = _checks.check_positive_float("weight_var", weight_var)
    bias_var = _checks.check_positive_float("bias_var", bias_var, allow_zero=True)
    return depth, weight_var, bias_var


def _relu_recursion(X1, X2, depth, wv, bv, ntk: bool) -> torch.Tensor:
    A = X1.to(torch.float64)
    B = A if X2 is None else X2.to(torch.float64)
    d = A.shape[1]
    S = wv * (A @ B.T) / d + bv
    s1 = wv * (A * A).sum(1) / d + bv
    s2 = s1 if X2 is None else wv * (B * B).sum(1) / d + bv
    T = S.clone() if ntk else None
    for _ in range(depth):
        norm = torch.sqrt(s1[:, None] * s2[None, :])
        rho = torch.where(norm > 0, S / norm.clamp_min(1e-300), torch.zeros_like(S)).clamp_(-1.0, 1.0)
        theta = torch.arccos(rho)
        e_relu = norm * (torch.sin(theta) + (math.pi - theta) * rho) / (2 * math.pi)
        S = wv * e_relu + bv
        if ntk:
            T = wv * T * (math.pi - theta) / (2 * math.pi) + S
        s1 = wv * s1 / 2 + bv
        s2 = s1 if X2 is None else wv * s2 / 2 + bv
    if X2 is None:  # exact symmetry
        out = T if ntk else S
        return (out + out.T) / 2
    return T if ntk else S


def nngp_kernel(X1, X2=None, depth: int = 2, weight_var: float = 2.0, bias_var: float = 0.0) -> torch.Tensor:
    """NNGP kernel of a fully connected ReLU network with ``depth`` hidden layers; (n1, n2) float64."""
    depth, wv, bv = _check_fc(depth, weight_var, bias_var)
    A, B = _pair(X1, X2)
    return _relu_recursion(A, B, depth, wv, bv, ntk=False)


def ntk_kernel(X1, X2=None, depth: int = 2, weight_var: float = 2.0, bias_var: float = 0.0) -> torch.Tensor:
    """Neural tangent kernel of a fully connected ReLU network with ``depth`` hidden layers; (n1, n2) float64."""
    depth, wv, bv = _check_fc(depth, weight_var, bias_var)
    A, B = _pair(X1, X2)
    return _relu_recursion(A, B, depth, wv, bv, ntk=True)


def median_bandwidth(X, max_points: int = 1000, random_state=0) -> float:
    """Median pairwise Euclidean distance of (a seeded subsample of at most ``max_points``) points.

    Zero distances (duplicates) are ignored; 1.0 when all points coincide.
    """
    A = _checks.as_float("X", _checks.as_tensor("X", X))
    if A.ndim != 2 or A.shape[0] < 2:
        raise ValueError(f"X must be 2-dimensional with at least 2 points; got shape {tuple(A.shape)}")
    n = A.shape[0]
    if n > max_points:
        gen = torch_generator(random_state, A.device)
        A = A[torch.randperm(n, generator=gen, device=A.device)[:max_points]]
    A = A.to(torch.float64)
    A = A - A.mean(0)
    sq = (A * A).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * A @ A.T).clamp_min(0)
    iu = torch.triu_indices(A.shape[0], A.shape[0], offset=1, device=A.device)
    dist = d2[iu[0], iu[1]].sqrt()
    dist = dist[dist > 1e-12 * (1 + float(sq.max()) ** 0.5)]
    if dist.numel() == 0:
        return 1.0
    return float(dist.median())


def rbf_kernel(X1, X2=None, bandwidth: float | None = None) -> torch.Tensor:
    """``exp(-||x - x'||^2 / (2 bandwidth^2))``; bandwidth by :func:`median_bandwidth` of X1 when None."""
    A, B = _pair(X1, X2)
    if bandwidth is None:
        bandwidth = median_bandwidth(A)
    bandwidth = _checks.check_positive_float("bandwidth", bandwidth)
    A64 = A.to(torch.float64)
    B64 = A64 if B is None else B.to(torch.float64)
    mu = A64.mean(0)
    A64, B64 = A64 - mu, B64 - mu
    d2 = ((A64 * A64).sum(1)[:, None] + (B64 * B64).sum(1)[None, :] - 2 * A64 @ B64.T).clamp_min(0)
    K = torch.exp(-d2 / (2 * bandwidth**2))
    if B is None:
        K = (K + K.T) / 2
        K.diagonal().fill_(1.0)
    return K


class ReLUFeatures:
    """Random-feature map for the FC ReLU NNGP (``ntk=False``) or NTK (``ntk=True``), about ``num_features`` wide.

    The random weights are drawn once at construction, so the map can be applied chunk by chunk.
    """

    def __init__(self, dim: int, num_features: int, depth: int = 2, weight_var: float = 2.0,
                 bias_var: float = 0.0, ntk: bool = False, random_state=None, device="cpu",
                 dtype=torch.float32):
        self.dim = _checks.check_int("dim", dim, 1)
        self.num_features = _checks.check_int("num_features", num_features, 1)
        self.depth, self.weight_var, self.bias_var = _check_fc(depth, weight_var, bias_var)
        self.ntk = bool(ntk)
        self.width = max(1, self.num_features // 2) if self.ntk else self.num_features
        gen = torch_generator(random_state, device)
        D = self.width
        extra = 1 if self.bias_var > 0 else 0
        in_dim = self.dim + extra
        psi_dim = in_dim
        self.G: list[torch.Tensor] = []  # layer weights (D, in)
        self.R: list[torch.Tensor] = []  # NTK sketch projections (D, psi_dim)
        for _ in range(self.depth):
            self.G.append(torch.randn(D, in_dim, generator=gen, device=device, dtype=dtype))
            if self.ntk:
                self.R.append(torch.randn(D, psi_dim, generator=gen, device=device, dtype=dtype))
                psi_dim = D + D + extra
            in_dim = D + extra

    @property
    def output_dim(self) -> int:
        extra = 1 if self.bias_var > 0 else 0
        return (2 * self.width if self.ntk else self.width) + extra

    def _with_bias(self, a: torch.Tensor) -> torch.Tensor:
        if self.bias_var <= 0:
            return a
        return torch.cat([a, torch.full((a.shape[0], 1), math.sqrt(self.bias_var), dtype=a.dtype, device=a.device)], 1)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(self.G[0].dtype)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must be (n, {self.dim}); got shape {tuple(X.shape)}")
        D = self.width
        wv = self.weight_var
        a = self._with_bias(X * math.sqrt(wv / self.dim))  # a.a' = Sigma^0
        psi = a
        for h in range(self.depth):
            u = a @ self.G[h].T
            a = self._with_bias(torch.relu(u) * math.sqrt(wv / D))
            if self.ntk:
                e = (u > 0).to(u.dtype) * math.sqrt(wv / D)  # e.e' -> weight_var * Edot
                z = (psi @ self.R[h].T) * e  # z.z' -> (psi.psi') (e.e')
                psi = torch.cat([z, a], 1)
        return psi if self.ntk else a


class FourierFeatures:
    """Random Fourier features for the RBF kernel with the given bandwidth."""

    def __init__(self, dim: int, num_features: int, bandwidth: float, random_state=None, device="cpu",
                 dtype=torch.float32):
        self.dim = _checks.check_int("dim", dim, 1)
        self.num_features = _checks.check_int("num_features", num_features, 2)
        self.bandwidth = _checks.check_positive_float("bandwidth", bandwidth)
        gen = torch_generator(random_state, device)
        self.W = torch.randn(self.num_features // 2, self.dim, generator=gen, device=device, dtype=dtype) / self.bandwidth

    @property
    def output_dim(self) -> int:
        return 2 * (self.num_features // 2)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        X = X.to(self.W.dtype)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must be (n, {self.dim}); got shape {tuple(X.shape)}")
        proj = X @ self.W.T
        return torch.cat([torch.cos(proj), torch.sin(proj)], 1) / math.sqrt(self.W.shape[0])


def feature_map(kernel: str, dim: int, num_features: int, depth: int = 2, weight_var: float = 2.0,
                bias_var: float = 0.0, bandwidth: float | None = None, random_state=None, device="cpu"):
    """The random-feature map approximating ``kernel`` (``"ntk"``, ``"nngp"`` or ``"rbf"``)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)}; got {kernel!r}")
    if kernel == "rbf":
        if bandwidth is None:
            raise ValueError("bandwidth must be given for the RBF feature map (see median_bandwidth)")
        return FourierFeatures(dim, num_features, bandwidth, random_state=random_state, device=device)
    return ReLUFeatures(dim, num_features, depth, weight_var, bias_var, ntk=kernel == "ntk",
                        random_state=random_state, device=device)


def nngp_features(X, num_features: int, depth: int = 2, weight_var: float = 2.0, bias_var: float = 0.0,
                  random_state=None) -> torch.Tensor:
    """Random ReLU features (n, num_features [+1]) whose inner products approximate :func:`nngp_kernel`."""
    A = _checks.as_float("X", _checks.as_tensor("X", X))
    return ReLUFeatures(A.shape[1], num_features, depth, weight_var, bias_var, ntk=False,
                        random_state=random_state, device=A.device)(A)


def ntk_features(X, num_features: int, depth: int = 2, weight_var: float = 2.0, bias_var: float = 0.0,
                 random_state=None) -> torch.Tensor:
    """Random features (n, 2 (num_features // 2) [+1]) whose inner products approximate :func:`ntk_kernel`."""
    A = _checks.as_float("X", _checks.as_tensor("X", X))
    return ReLUFeatures(A.shape[1], num_features, depth, weight_var, bias_var, ntk=True,
                        random_state=random_state, device=A.device)(A)


def rbf_features(X, num_features: int, bandwidth: float | None = None, random_state=None) -> torch.Tensor:
    """Random Fourier features (n, 2 (num_features // 2)) approximating :func:`rbf_kernel`."""
    A = _checks.as_float("X", _checks.as_tensor("X", X))
    if bandwidth is None:
        bandwidth = median_bandwidth(A)
    return FourierFeatures(A.shape[1], num_features, bandwidth, random_state=random_state, device=A.device)(A)

"""``sensitivity-krr``: sensitivity sampling for the kernel-ridge-regression loss (KIP-style methods).

``scope="global"`` (default): one KRR problem over all points of all classes against their one-hot labels
(the loss a kernel method such as KIP fits), so the residual term marks points that the kernel predicts
badly from the others (near class boundaries, atypical); the leverage marks points in sparse directions of
the feature space. Each class then samples m = ipc points without replacement with probability
s / sum(s) over the class; weights 1/(m * prob) (or 1/pi with ``weighting="inclusion"``, as in
sensitivity-kmeans). ``scope="class"``: a KRR problem per class on its own
points; its one-hot targets are constant, so the residual term measures how badly a point is predicted
by its class-mates (isolation within the class).
Details per class: leverage, residual_sq, residual_term, d_eff (the class's share of sum(tau); for
``scope="global"`` the d_eff of all classes adds up to the global one).
"""

from __future__ import annotations

import torch

from dd_explore.selection._checks import check_int, check_positive_float
from dd_explore.selection._distances import PointSet
from dd_explore.selection._sampling import coreset_weights, draw_without_replacement
from dd_explore.selection.kernels import KERNELS
from dd_explore.selection.krr import DEFAULT_EXACT_MAX_N, krr_sensitivity
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod
from dd_explore.selection.methods.sensitivity_kmeans import check_weighting

SCOPES = ("global", "class")


@METHODS.register("sensitivity-krr")
class SensitivityKRR(SelectionMethod):
    name = "sensitivity-krr"

    def __init__(self, kernel: str = "ntk", ridge: float = 0.1, depth: int = 2, num_features: int | None = None,
                 exact_max_n: int = DEFAULT_EXACT_MAX_N, bandwidth: float | None = None, weight_var: float = 2.0,
                 bias_var: float = 0.0, scope: str = "global", weighting: str = "sampling"):
        self.kernel = kernel
        self.ridge = ridge
        self.depth = depth
        self.num_features = num_features
        self.exact_max_n = exact_max_n
        self.bandwidth = bandwidth
        self.weight_var = weight_var
        self.bias_var = bias_var
        self.scope = scope
        self.weighting = weighting

    def params(self):
        return {"kernel": self.kernel, "ridge": self.ridge, "depth": self.depth, "num_features": self.num_features,
                "exact_max_n": self.exact_max_n, "bandwidth": self.bandwidth, "weight_var": self.weight_var,
                "bias_var": self.bias_var, "scope": self.scope, "weighting": self.weighting}

    def check(self, ipc, class_sizes):
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {list(KERNELS)}; got {self.kernel!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {list(SCOPES)}; got {self.scope!r}")
        check_positive_float("ridge", self.ridge)
        check_int("depth", self.depth, 1)
        check_int("exact_max_n", self.exact_max_n, 0)
        if self.num_features is not None:
            check_int("num_features", self.num_features, 2)
        if self.bandwidth is not None:
            check_positive_float("bandwidth", self.bandwidth)
        check_positive_float("weight_var", self.weight_var)
        check_positive_float("bias_var", self.bias_var, allow_zero=True)
        check_weighting(self.weighting)

    def _krr(self, X, Y, seed):
        return krr_sensitivity(X, Y, kernel=self.kernel, ridge=self.ridge, depth=self.depth,
                               num_features=self.num_features, exact_max_n=self.exact_max_n,
                               bandwidth=self.bandwidth, weight_var=self.weight_var, bias_var=self.bias_var,
                               random_state=seed)

    def prepare(self, X, y, seed):
        if self.scope != "global":
            return None
        return self._krr(X, y, seed)

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        if self.scope == "global":
            r = context
            sl = candidates.to(r.scores.device)
            leverage, residual_sq, residual_term = r.leverage[sl], r.residual_sq[sl], r.residual_term[sl]
            scores = r.scores[sl]
        else:
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
            ones = torch.ones(X_c.shape[0], 1, dtype=torch.float64, device=X_c.device)
            r = self._krr(X_c, ones, seed)
            leverage, residual_sq, residual_term, scores = r.leverage, r.residual_sq, r.residual_term, r.scores
        p = scores / scores.sum()
        points = PointSet(X_c) if delta else None
        chosen, filled = draw_without_replacement(p, ipc, generator, points, delta)
        weights = coreset_weights(p, chosen, ipc, self.weighting)
        return ClassPick(chosen=chosen, probabilities=p, weights=weights, scores=scores, leverage=leverage,
                         residual_sq=residual_sq, residual_term=residual_term, d_eff=float(leverage.sum()),
                         filled=filled)

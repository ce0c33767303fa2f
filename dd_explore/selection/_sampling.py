"""Drawing m of n points without replacement, with an optional redundancy filter.

Successive sampling proportional to p (draw one point with probability p / sum(p), remove it, renormalize,
repeat) is done at once with exponential keys: ``key_i = E_i / p_i``, ``E_i ~ Exp(1)``; ascending keys give
the draw order. The redundancy filter walks that order and rejects a candidate whose distance to an
already accepted point is below ``delta``; rejected points leave the pool. This is the same as successive
sampling restricted, at every draw, to the points not within ``delta`` of the chosen ones. If the pool
runs out before m points are accepted, the remaining slots are filled with the rejected points in their
draw order (``filled`` counts them and a warning is issued).
"""

from __future__ import annotations

import warnings

import torch

from dd_explore.selection._distances import PointSet


def sampling_keys(p: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float64 keys whose ascending order is a successive-sampling order proportional to ``p``."""
    e = torch.empty(p.shape[0], dtype=torch.float64, device=p.device).exponential_(generator=generator)
    return e / p.to(torch.float64)  # p = 0 -> inf (drawn last)


def take_in_order(order: torch.Tensor, m: int, points: PointSet | None, delta: float | None) -> tuple[torch.Tensor, int]:
    """First ``m`` entries of ``order`` that pass the delta filter (fill-ups counted). Returns (chosen, filled)."""
    if delta is None or points is None or delta <= 0:
        return order[:m], 0
    n = order.shape[0]
    X = points.X
    blocked = torch.zeros(n, dtype=torch.bool, device=order.device)  # by point index
    chosen: list[int] = []
    pos = 0
    thr = float(delta) ** 2
    while len(chosen) < m:
        free = ~blocked[order]
        free[:pos] = False
        i = int(torch.argmax(free.to(torch.uint8)))
        if not bool(free[i]):
            break
        j = int(order[i])
        chosen.append(j)
        blocked |= points.to_point(X[j]) < thr
        blocked[j] = True
        pos = i + 1
    filled = m - len(chosen)
    if filled:
        taken = torch.zeros(n, dtype=torch.bool, device=order.device)
        if chosen:
            taken[torch.tensor(chosen, device=order.device)] = True
        rest = order[~taken[order]][:filled]
        chosen.extend(int(v) for v in rest)
        warnings.warn(
            f"redundancy filter delta={delta}: only {m - filled} of {m} points are at least delta apart; "
            f"filled {filled} slots with the nearest-rejected points in draw order",
            RuntimeWarning,
            stacklevel=3,
        )
    return torch.tensor(chosen, dtype=torch.long, device=order.device), filled


def draw_without_replacement(p: torch.Tensor, m: int, generator: torch.Generator,
                             points: PointSet | None = None, delta: float | None = None) -> tuple[torch.Tensor, int]:
    """``m`` distinct indices by successive sampling proportional to ``p`` (in draw order), delta-filtered."""
    keys = sampling_keys(p, generator)
    if delta is None or delta <= 0:
        return torch.topk(keys, m, largest=False, sorted=True).indices, 0
    return take_in_order(torch.argsort(keys), m, points, delta)


WEIGHTINGS = ("sampling", "inclusion")


def inclusion_probabilities(p: torch.Tensor, m: int) -> torch.Tensor:
    """Approximate inclusion probabilities of successive sampling of m points proportional to p.

    ``pi_i = 1 - exp(-t p_i)`` with t chosen so that ``sum(pi) = m``. It is exact in the limit of small
    p, and it captures the saturation of heavy points (pi <= 1) that ``m p`` misses. t is found by
    Newton's method from t = m / sum(p): f(t) = sum(pi) is increasing and concave, so the iterates rise
    monotonically to the root.
    """
    p = p.to(torch.float64)
    if m >= int((p > 0).sum()):
        return (p > 0).to(torch.float64)
    t = m / float(p.sum())
    for _ in range(100):
        e = torch.exp(-t * p)
        f = float((1.0 - e).sum())
        if m - f <= 1e-12 * m:
            break
        t += (m - f) / float((p * e).sum())
    return -torch.expm1(-t * p)


def coreset_weights(p: torch.Tensor, chosen: torch.Tensor, m: int, weighting: str = "sampling") -> torch.Tensor:
    """Weights of the chosen points: ``1 / (m p)`` ("sampling") or ``1 / pi`` ("inclusion")."""
    if weighting == "inclusion":
        return 1.0 / inclusion_probabilities(p, m)[chosen]
    return 1.0 / (m * p[chosen].to(torch.float64))

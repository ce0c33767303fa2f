"""``kcenter``: greedy k-center (Gonzalez; Sener & Savarese's core-set baseline).

The first center is the point nearest the class mean (``first="mean"``, deterministic) or a random point
(``first="random"``, seeded); each next center is the point farthest from the chosen ones.
probabilities: 1/m on the chosen points; weights: the number of class points nearest to each center
(sums to n_c); scores: each point's distance to its nearest chosen center (the covering distance, 0 for
the chosen). The clustering fields hold the centers, assignment, squared distances and cell sizes.
``delta`` changes nothing: the farthest point is never closer than delta unless all points are.
"""

from __future__ import annotations

import torch

from dd_explore.selection._distances import PointSet
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod

FIRST = ("mean", "random")


@METHODS.register("kcenter")
class KCenter(SelectionMethod):
    name = "kcenter"

    def __init__(self, first: str = "mean"):
        self.first = first

    @property
    def randomized(self) -> bool:  # type: ignore[override]
        return self.first == "random"

    def params(self):
        return {"first": self.first}

    def check(self, ipc, class_sizes):
        if self.first not in FIRST:
            raise ValueError(f"first must be one of {list(FIRST)}; got {self.first!r}")

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        n = X_c.shape[0]
        points = PointSet(X_c)
        if self.first == "mean":
            j = int(torch.argmin(points.sq))
        else:
            j = int(torch.randint(n, (1,), generator=generator, device=X_c.device))
        min_d2 = torch.full((n,), float("inf"), dtype=X_c.dtype, device=X_c.device)
        assign = torch.zeros(n, dtype=torch.long, device=X_c.device)
        chosen = []
        for t in range(ipc):
            if t > 0:
                masked = min_d2.clone()
                masked[torch.tensor(chosen, device=X_c.device)] = -1.0
                j = int(torch.argmax(masked))
            chosen.append(j)
            d2 = points.to_point(X_c[j])
            closer = d2 < min_d2
            min_d2 = torch.where(closer, d2, min_d2)
            assign.masked_fill_(closer, t)
            min_d2[j] = 0.0
            assign[j] = t
        idx = torch.tensor(chosen, dtype=torch.long, device=X_c.device)
        sizes = torch.bincount(assign, minlength=ipc)
        probs = torch.zeros(n, dtype=torch.float64, device=X_c.device)
        probs[idx] = 1.0 / ipc
        return ClassPick(
            chosen=idx,
            probabilities=probs,
            weights=sizes.to(torch.float64),
            scores=min_d2.to(torch.float64).sqrt(),
            centers=X_c[idx].clone(),
            center_indices=idx,
            assignment=assign,
            distances_sq=min_d2,
            cluster_sizes=sizes,
            cost=float(min_d2.to(torch.float64).sum()),
        )

"""``herding``: greedy mean matching (Welling 2009; the DC benchmark's herding baseline).

Step t picks the unchosen point x that brings the mean of the chosen points closest to the class mean:
argmin_x ||mu - (S_t + x) / (t + 1)||. Deterministic. probabilities: 1/m on the chosen points, 0 elsewhere;
weights n_c/m; scores: m - t for the point picked at step t (earlier = higher), 0 for the others.
With ``delta``, points closer than delta to a chosen point are skipped while others remain.
"""

from __future__ import annotations

import torch

from dd_explore.selection._distances import PointSet
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod


@METHODS.register("herding")
class Herding(SelectionMethod):
    name = "herding"
    randomized = False

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        n = X_c.shape[0]
        points = PointSet(X_c)
        mu = points.mu
        total = torch.zeros_like(mu)
        taken = torch.zeros(n, dtype=torch.bool, device=X_c.device)
        blocked = torch.zeros(n, dtype=torch.bool, device=X_c.device)
        thr = float(delta) ** 2 if delta else None
        chosen, filled = [], 0
        for t in range(ipc):
            target = (t + 1) * mu - total
            obj = points.to_point(target)
            free = ~(taken | blocked)
            if not bool(free.any()):
                free = ~taken
                filled += 1
            obj = obj.masked_fill(~free, float("inf"))
            j = int(torch.argmin(obj))
            chosen.append(j)
            taken[j] = True
            total = total + X_c[j]
            if thr is not None:
                blocked |= points.to_point(X_c[j]) < thr
        idx = torch.tensor(chosen, dtype=torch.long, device=X_c.device)
        probs = torch.zeros(n, dtype=torch.float64, device=X_c.device)
        probs[idx] = 1.0 / ipc
        scores = torch.zeros(n, dtype=torch.float64, device=X_c.device)
        scores[idx] = torch.arange(ipc, 0, -1, dtype=torch.float64, device=X_c.device)
        weights = torch.full((ipc,), n / ipc, dtype=torch.float64, device=X_c.device)
        return ClassPick(chosen=idx, probabilities=probs, weights=weights, scores=scores, filled=filled)

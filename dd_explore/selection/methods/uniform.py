"""``random``: uniform sampling without replacement (the field's usual initialization).

probabilities = scores = 1/n_c; weights = n_c/m.
"""

from __future__ import annotations

import torch

from dd_explore.selection._distances import PointSet
from dd_explore.selection._sampling import draw_without_replacement
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod


@METHODS.register("random")
class RandomSelection(SelectionMethod):
    name = "random"

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        n = X_c.shape[0]
        p = torch.full((n,), 1.0 / n, dtype=torch.float64, device=X_c.device)
        points = PointSet(X_c) if delta else None
        chosen, filled = draw_without_replacement(p, ipc, generator, points, delta)
        weights = torch.full((ipc,), n / ipc, dtype=torch.float64, device=X_c.device)
        return ClassPick(chosen=chosen, probabilities=p, weights=weights, scores=p.clone(), filled=filled)

"""The interface every selection method implements, and the registry they live in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dd_explore._registry import Registry

METHODS: Registry = Registry("method")


@dataclass(frozen=True)
class ClassPick:
    """What a method returns for one class (tensors on the features' device, indices local to the class).

    ``probabilities`` (n_c,) sums to 1; ``weights`` (m,) are the coreset weights of ``chosen``;
    the clustering fields (k-means or k-center) and the KRR fields are None when they do not apply.
    """

    chosen: torch.Tensor
    probabilities: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor
    centers: torch.Tensor | None = None
    center_indices: torch.Tensor | None = None
    assignment: torch.Tensor | None = None
    distances_sq: torch.Tensor | None = None
    cluster_sizes: torch.Tensor | None = None
    cost: float | None = None
    leverage: torch.Tensor | None = None
    residual_sq: torch.Tensor | None = None
    residual_term: torch.Tensor | None = None
    d_eff: float | None = None
    filled: int = 0
    note: str = ""


class SelectionMethod:
    """Base class: the constructor only stores options; ``check`` validates them before any work.

    ``select_class(X_c, ipc, generator, delta, candidates, context)`` picks ``ipc`` points of one class
    (X_c: (n_c, d) features with n_c > ipc; candidates: their global indices); ``prepare`` may compute
    something over all points once (its result is passed as ``context``).
    """

    name: str = ""
    randomized: bool = True

    def params(self) -> dict[str, Any]:
        """JSON-serializable options (recorded in the Selection)."""
        return {}

    def check(self, ipc: int, class_sizes: dict[int, int]) -> None:
        """Raise ValueError for bad options (called before any work)."""

    def prepare(self, X: torch.Tensor, y: torch.Tensor, seed: int) -> Any:
        """Optional global step over all points (``y`` are class positions 0..C-1)."""
        return None

    def select_class(self, X_c: torch.Tensor, ipc: int, generator: torch.Generator, delta: float | None,
                     candidates: torch.Tensor, context: Any) -> ClassPick:
        raise NotImplementedError

"""``sensitivity-kmeans``: k-means sensitivity sampling (docs/design.md, section 2.2).

Bicriteria by k-means++ with ``k`` centers (default k = ipc), s(p) = d(p,B)^2/cost + 1/|P_b(p)|;
m = ipc points drawn without replacement with probability s / sum(s); weights 1/(m * prob)
(``weighting="sampling"``, the default) or 1/pi with pi the approximate inclusion probability of sampling
without replacement (``weighting="inclusion"``, unbiased also for heavy points; see docs/selection.md).
probabilities = s / sum(s); scores = s.
"""

from __future__ import annotations

from dd_explore.selection._checks import check_int
from dd_explore.selection._distances import PointSet
from dd_explore.selection._sampling import WEIGHTINGS, coreset_weights, draw_without_replacement
from dd_explore.selection.kmeans import DEFAULT_CHUNK_SIZE, kmeans_sensitivity
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod


def check_k(k, class_sizes: dict[int, int]) -> None:
    if k is None:
        return
    label, size = min(class_sizes.items(), key=lambda kv: kv[1])
    check_int("k", k, 1, size, rule=f"a positive int no larger than the smallest class ({size} points in class {label})")


def check_weighting(weighting) -> None:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {list(WEIGHTINGS)}; got {weighting!r}")


def clustering_fields(ks) -> dict:
    return dict(
        centers=ks.centers,
        center_indices=ks.center_indices,
        assignment=ks.assignment,
        distances_sq=ks.distances_sq,
        cluster_sizes=ks.cluster_sizes,
        cost=ks.cost,
        note="uniform fallback (k-means cost 0)" if ks.uniform_fallback else "",
    )


@METHODS.register("sensitivity-kmeans")
class SensitivityKMeans(SelectionMethod):
    name = "sensitivity-kmeans"

    def __init__(self, k: int | None = None, weighting: str = "sampling", chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.k = k
        self.weighting = weighting
        self.chunk_size = chunk_size

    def params(self):
        return {"k": self.k, "weighting": self.weighting, "chunk_size": self.chunk_size}

    def check(self, ipc, class_sizes):
        check_k(self.k, class_sizes)
        check_weighting(self.weighting)
        check_int("chunk_size", self.chunk_size, 1)

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        k = self.k if self.k is not None else ipc
        ks = kmeans_sensitivity(X_c, k, random_state=generator, chunk_size=self.chunk_size)
        p = ks.probabilities
        points = PointSet(X_c, self.chunk_size) if delta else None
        chosen, filled = draw_without_replacement(p, ipc, generator, points, delta)
        weights = coreset_weights(p, chosen, ipc, self.weighting)
        return ClassPick(chosen=chosen, probabilities=p, weights=weights, scores=ks.scores, filled=filled,
                         **clustering_fields(ks))

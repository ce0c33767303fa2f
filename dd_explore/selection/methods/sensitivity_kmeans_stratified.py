"""``sensitivity-kmeans-stratified``: one point per bicriteria cluster, drawn by sensitivity inside it.

k-means++ with k = ipc centers and s(p) as in ``sensitivity-kmeans``; cluster b contributes the point p
with probability s(p) / S_b (S_b = sum of s over the cluster). Clusters are visited in seeding order; with
``delta`` a cluster's draw order is walked until a point at least delta from the chosen ones is found
(else its first draw is taken). Empty clusters (fewer distinct points than k) leave slots that are
filled by sensitivity sampling among the remaining points.
probabilities: pi(p) = s(p) / S_b(p), divided by the number of non-empty clusters (sums to 1);
weights 1/(m * prob) = S_b / s(p) when every cluster is non-empty; scores = s.
"""

from __future__ import annotations

import torch

from dd_explore.selection._checks import check_int
from dd_explore.selection._distances import PointSet
from dd_explore.selection._sampling import sampling_keys, take_in_order
from dd_explore.selection.kmeans import DEFAULT_CHUNK_SIZE, kmeans_sensitivity
from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod
from dd_explore.selection.methods.sensitivity_kmeans import clustering_fields


@METHODS.register("sensitivity-kmeans-stratified")
class StratifiedSensitivityKMeans(SelectionMethod):
    name = "sensitivity-kmeans-stratified"

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.chunk_size = chunk_size

    def params(self):
        return {"chunk_size": self.chunk_size}

    def check(self, ipc, class_sizes):
        check_int("chunk_size", self.chunk_size, 1)

    def select_class(self, X_c, ipc, generator, delta, candidates, context) -> ClassPick:
        n = X_c.shape[0]
        ks = kmeans_sensitivity(X_c, ipc, random_state=generator, chunk_size=self.chunk_size)
        s, assign = ks.scores, ks.assignment
        cluster_sum = torch.zeros(ipc, dtype=torch.float64, device=X_c.device).index_add_(0, assign, s)
        pi = s / cluster_sum[assign]
        nonempty = int((ks.cluster_sizes > 0).sum())
        probs = pi / nonempty
        keys = sampling_keys(s, generator)
        order = torch.argsort(keys)
        by_cluster = order[torch.argsort(assign[order], stable=True)]  # grouped by cluster, draw order inside
        starts = torch.cumsum(ks.cluster_sizes, 0) - ks.cluster_sizes
        points = PointSet(X_c, self.chunk_size) if delta else None
        thr = float(delta) ** 2 if delta else None
        blocked = torch.zeros(n, dtype=torch.bool, device=X_c.device)
        chosen, filled = [], 0
        for b in range(ipc):
            size = int(ks.cluster_sizes[b])
            if size == 0:
                continue
            members = by_cluster[int(starts[b]) : int(starts[b]) + size]
            pick = int(members[0])
            if thr is not None:
                free = ~blocked[members]
                if bool(free.any()):
                    pick = int(members[int(torch.argmax(free.to(torch.uint8)))])
                else:
                    filled += 1
                blocked |= points.to_point(X_c[pick]) < thr
                blocked[pick] = True
            chosen.append(pick)
        if len(chosen) < ipc:  # empty clusters: fill by sensitivity among the rest
            taken = torch.zeros(n, dtype=torch.bool, device=X_c.device)
            taken[torch.tensor(chosen, device=X_c.device)] = True
            rest = order[~taken[order]]
            extra, f = take_in_order(rest, ipc - len(chosen), points, delta)
            chosen.extend(int(v) for v in extra)
            filled += f
        idx = torch.tensor(chosen, dtype=torch.long, device=X_c.device)
        p_chosen = probs[idx].clamp_min(1e-300)
        weights = 1.0 / (ipc * p_chosen)
        return ClassPick(chosen=idx, probabilities=probs, weights=weights, scores=s, filled=filled,
                         **clustering_fields(ks))

"""The selection record: what was chosen, with every per-point quantity the views draw.

Saved as ``selection.npz`` (all arrays) plus ``summary.json`` (options and a per-class summary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dd_explore._io import damage, read_json, read_npz, where, write_npz_compressed, write_text

_ARRAY_FIELDS = ("candidates", "chosen", "centers", "center_indices", "assignment", "distances_sq",
                 "cluster_sizes", "leverage", "residual_sq", "residual_term")


@dataclass(frozen=True)
class ClassDetails:
    """One class: its points (``candidates``, global indices), the ``chosen`` ones (global, in pick order).

    Clustering fields (sensitivity-kmeans*, kcenter; else None), all aligned with ``candidates``:
    ``centers`` (k, d) in feature space, ``center_indices`` (k,) global indices, ``assignment`` (n_c,)
    nearest-center id 0..k-1, ``distances_sq`` (n_c,) squared distance to it, ``cluster_sizes`` (k,),
    ``cost`` (sum of distances_sq). KRR fields (sensitivity-krr): ``leverage``, ``residual_sq``,
    ``residual_term`` (n_c,) and ``d_eff``. ``filled``: points taken despite the delta filter;
    ``note``: e.g. "class taken whole" or "uniform fallback (k-means cost 0)".
    """

    label: int
    candidates: np.ndarray
    chosen: np.ndarray
    centers: np.ndarray | None = None
    center_indices: np.ndarray | None = None
    assignment: np.ndarray | None = None
    distances_sq: np.ndarray | None = None
    cluster_sizes: np.ndarray | None = None
    cost: float | None = None
    leverage: np.ndarray | None = None
    residual_sq: np.ndarray | None = None
    residual_term: np.ndarray | None = None
    d_eff: float | None = None
    filled: int = 0
    note: str = ""

    @property
    def size(self) -> int:
        return int(self.candidates.shape[0])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": int(self.label), "size": self.size, "chosen": self.chosen.tolist()}
        if self.cluster_sizes is not None:
            out["k"] = int(self.cluster_sizes.shape[0])
            out["cluster_sizes"] = self.cluster_sizes.tolist()
            out["center_indices"] = self.center_indices.tolist()
            out["cost"] = float(self.cost)
        if self.leverage is not None:
            out["d_eff"] = float(self.d_eff)
            out["residual_sq_sum"] = float(self.residual_sq.sum())
        out["filled"] = int(self.filled)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Selection:
    """Result of :func:`dd_explore.selection.select` (numpy arrays on the CPU).

    indices (m_total,): chosen global indices into X, grouped by class in class order (pick order inside);
    labels: their labels; weights: their coreset weights; probabilities (n,): every point's sampling
    probability, summing to 1 within each class; scores (n,): the method's score per point (see
    docs/selection.md); per_class: one :class:`ClassDetails` per class, in class order.
    """

    method: str
    ipc: int
    features: str
    random_state: int | None
    indices: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    probabilities: np.ndarray
    scores: np.ndarray
    per_class: tuple[ClassDetails, ...]
    delta: float | None = None
    params: dict = field(default_factory=dict)
    feature_dim: int | None = None

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(d.label for d in self.per_class)

    @property
    def num_points(self) -> int:
        return int(self.probabilities.shape[0])

    def class_details(self, label: int) -> ClassDetails:
        for d in self.per_class:
            if d.label == label:
                return d
        raise ValueError(f"label must be one of {list(self.classes)}; got {label!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary: options, chosen indices/labels/weights and the per-class summary."""
        return {
            "method": self.method,
            "ipc": int(self.ipc),
            "features": self.features,
            "feature_dim": self.feature_dim,
            "random_state": self.random_state,
            "delta": self.delta,
            "params": _jsonable(self.params),
            "num_points": self.num_points,
            "num_selected": int(self.indices.shape[0]),
            "indices": self.indices.tolist(),
            "labels": self.labels.tolist(),
            "weights": [float(w) for w in self.weights],
            "per_class": [d.summary() for d in self.per_class],
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``selection.npz`` and ``summary.json`` into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "indices": self.indices, "labels": self.labels, "weights": self.weights,
            "probabilities": self.probabilities, "scores": self.scores,
        }
        for i, d in enumerate(self.per_class):
            for name in _ARRAY_FIELDS:
                value = getattr(d, name)
                if value is not None:
                    arrays[f"class{i}__{name}"] = value
        write_npz_compressed(directory / "selection.npz", **arrays)  # each file atomic (dd_explore._io)
        summary = self.to_dict()
        summary["per_class_meta"] = [
            {"label": int(d.label), "cost": d.cost, "d_eff": d.d_eff, "filled": int(d.filled), "note": d.note}
            for d in self.per_class
        ]
        write_text(directory / "summary.json", json.dumps(summary, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "Selection":
        """Read a selection written by :meth:`save`. :class:`ValueError` naming the file and what is wrong when
        one of the two is missing, truncated, corrupt or incomplete."""
        directory = Path(directory)
        npz_path, json_path = directory / "selection.npz", directory / "summary.json"
        for p in (npz_path, json_path):
            if not p.is_file():
                raise ValueError(f"directory must hold selection.npz and summary.json; {p} is missing")
        meta = read_json(json_path)
        arrays = read_npz(npz_path, ("indices", "labels", "weights", "probabilities", "scores"))
        try:
            per_class = []
            for i, m in enumerate(meta["per_class_meta"]):
                kw = {name: arrays.get(f"class{i}__{name}") for name in _ARRAY_FIELDS}
                per_class.append(ClassDetails(label=m["label"], cost=m["cost"], d_eff=m["d_eff"], filled=m["filled"],
                                              note=m["note"], **kw))
            return cls(
                method=meta["method"], ipc=meta["ipc"], features=meta["features"], random_state=meta["random_state"],
                indices=arrays["indices"], labels=arrays["labels"], weights=arrays["weights"],
                probabilities=arrays["probabilities"], scores=arrays["scores"], per_class=tuple(per_class),
                delta=meta["delta"], params=meta["params"], feature_dim=meta.get("feature_dim"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where(json_path)} is not a complete selection summary ({damage(exc)})") from exc


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


__all__ = ["ClassDetails", "Selection"]

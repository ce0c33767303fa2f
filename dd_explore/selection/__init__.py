"""Phase 1: choose the real points that start a synthetic set (or form a coreset).

>>> from dd_explore import data, selection
>>> ds = data.load("digits")
>>> sel = selection.select(ds.train.images, ds.train.labels, ipc=10, method="sensitivity-kmeans", random_state=0)
>>> sel.indices.shape, sorted(selection.list_methods())[:2]
((100,), ['herding', 'kcenter'])

Building blocks: :func:`kmeans_sensitivity` (k-means loss), :func:`krr_sensitivity` (kernel ridge
regression loss) and the kernels (FC ReLU NTK/NNGP, RBF, and their random-feature maps).
See docs/selection.md for formulas, options and result fields.
"""

from __future__ import annotations

from dd_explore.selection.kernels import (
    FourierFeatures,
    ReLUFeatures,
    feature_map,
    median_bandwidth,
    nngp_features,
    nngp_kernel,
    ntk_features,
    ntk_kernel,
    rbf_features,
    rbf_kernel,
)
from dd_explore.selection.kmeans import KMeansSensitivity, kmeans_sensitivity
from dd_explore.selection.krr import KRRSensitivity, krr_sensitivity
from dd_explore.selection.features import extract_features
from dd_explore.selection.methods import METHODS, SelectionMethod
from dd_explore.selection.result import ClassDetails, Selection
from dd_explore.selection.selector import list_methods, select

__all__ = [
    "METHODS",
    "ClassDetails",
    "FourierFeatures",
    "KMeansSensitivity",
    "KRRSensitivity",
    "ReLUFeatures",
    "Selection",
    "SelectionMethod",
    "extract_features",
    "feature_map",
    "kmeans_sensitivity",
    "krr_sensitivity",
    "list_methods",
    "median_bandwidth",
    "nngp_features",
    "nngp_kernel",
    "ntk_features",
    "ntk_kernel",
    "rbf_features",
    "rbf_kernel",
    "select",
]

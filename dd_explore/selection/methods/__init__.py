"""Selection methods, one module each, behind :class:`SelectionMethod` in the ``METHODS`` registry."""

from __future__ import annotations

from dd_explore.selection.methods.base import METHODS, ClassPick, SelectionMethod
from dd_explore.selection.methods import uniform as _uniform  # noqa: F401  (registers "random")
from dd_explore.selection.methods import herding as _herding  # noqa: F401
from dd_explore.selection.methods import kcenter as _kcenter  # noqa: F401
from dd_explore.selection.methods import sensitivity_kmeans as _skm  # noqa: F401
from dd_explore.selection.methods import sensitivity_kmeans_stratified as _skms  # noqa: F401
from dd_explore.selection.methods import sensitivity_krr as _skrr  # noqa: F401

__all__ = ["METHODS", "ClassPick", "SelectionMethod"]

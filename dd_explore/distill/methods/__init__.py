"""Distillation methods, one module each behind :class:`~dd_explore.distill.methods.base.DistillMethod`."""

from dd_explore._registry import Registry

METHODS: Registry = Registry("method")

from dd_explore.distill.methods import dc as _dc  # noqa: E402,F401
from dd_explore.distill.methods import dm as _dm  # noqa: E402,F401
from dd_explore.distill.methods import dsa as _dsa  # noqa: E402,F401
from dd_explore.distill.methods import kip as _kip  # noqa: E402,F401
from dd_explore.distill.methods import mtt as _mtt  # noqa: E402,F401
from dd_explore.distill.methods.base import DistillMethod  # noqa: E402


def list_methods() -> list[str]:
    return METHODS.names()


__all__ = ["METHODS", "DistillMethod", "list_methods"]

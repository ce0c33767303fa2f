"""Data: embedded real sets (``digits``, ``mnist5k``), torchvision sets from a local folder, user arrays.

>>> from dd_explore import data
>>> ds = data.load("mnist5k")
>>> ds.train.images.shape, ds.classes[:3]
(torch.Size([4000, 1, 28, 28]), ('0', '1', '2'))
"""

from __future__ import annotations

from pathlib import Path

from dd_explore.data.arrays import from_arrays
from dd_explore.data.dataset import Dataset, Split
from dd_explore.data.embedded import load_digits, load_mnist5k
from dd_explore.data.torchvision_sets import SPECS as _TV_SPECS
from dd_explore.data.torchvision_sets import load_torchvision

EMBEDDED = ("digits", "mnist5k")
TORCHVISION = tuple(_TV_SPECS)


def list_datasets() -> list[str]:
    return list(EMBEDDED) + list(TORCHVISION)


def load(name: str, root: str | Path | None = None, download: bool = False) -> Dataset:
    """Load a data set by name.

    Embedded sets (``digits``, ``mnist5k``) need nothing. torchvision sets (``mnist``, ``fashion_mnist``,
    ``cifar10``, ``cifar100``, ``svhn``) are read from ``root`` and downloaded only if ``download=True``.
    """
    if name == "digits":
        return load_digits()
    if name == "mnist5k":
        return load_mnist5k()
    if name in TORCHVISION:
        return load_torchvision(name, root, download)
    raise ValueError(f"dataset must be one of {list_datasets()}; got {name!r}")


__all__ = ["Dataset", "Split", "from_arrays", "list_datasets", "load"]

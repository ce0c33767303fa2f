"""Data: embedded real sets (``digits``, ``mnist5k``), torchvision sets from a local folder, your own image
folders (``imagefolder``: one subfolder per class), user arrays.

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
from dd_explore.data.folder import from_folder
from dd_explore.data.torchvision_sets import SPECS as _TV_SPECS
from dd_explore.data.torchvision_sets import load_torchvision

EMBEDDED = ("digits", "mnist5k")
TORCHVISION = tuple(_TV_SPECS)
FOLDER = ("imagefolder",)
FOLDER_OPTIONS = ("image_size", "channels", "test_fraction", "random_state", "on_error", "mean", "std", "progress")


def list_datasets() -> list[str]:
    return list(EMBEDDED) + list(TORCHVISION) + list(FOLDER)


def load(name: str, root: str | Path | None = None, download: bool = False, **options) -> Dataset:
    """Load a data set by name.

    Embedded sets (``digits``, ``mnist5k``) need nothing. torchvision sets (``mnist``, ``fashion_mnist``,
    ``cifar10``, ``cifar100``, ``svhn``) are read from ``root`` and downloaded only if ``download=True``.
    ``imagefolder`` reads your own images from ``root`` (one subfolder per class; see :func:`from_folder`,
    whose options -- ``image_size``, ``channels``, ``test_fraction``, ``random_state``, ``on_error`` --
    are passed through).
    """
    if name == "imagefolder":
        unknown = sorted(set(options) - set(FOLDER_OPTIONS))
        if unknown:
            raise ValueError(f"imagefolder options must be among {list(FOLDER_OPTIONS)}; got {unknown}")
        if root is None:
            raise ValueError("dataset 'imagefolder' needs root= (the CLI: --root DIR), a folder with one subfolder "
                             "of images per class")
        return from_folder(root, **options)
    if options:
        raise ValueError(f"options {sorted(options)} apply to dataset 'imagefolder' only; got them for {name!r}")
    if name == "digits":
        return load_digits()
    if name == "mnist5k":
        return load_mnist5k()
    if name in TORCHVISION:
        return load_torchvision(name, root, download)
    raise ValueError(f"dataset must be one of {list_datasets()}; got {name!r}")


def load_described(info: dict, root: str | Path | None = None) -> Dataset:
    """Load the data set a ``Dataset.describe()`` dict (e.g. a run config's ``run.dataset``) names.

    An image folder is read from the root it recorded, or from ``root`` when given (the folder moved);
    other sets by name, with ``root`` for torchvision sets.
    """
    source = info.get("source") or {}
    if source.get("loader") == "imagefolder":
        opts = {k: source[k] for k in ("image_size", "channels", "test_fraction", "random_state", "on_error")
                if source.get(k) is not None}
        return from_folder(root if root is not None else source.get("root"), name=info.get("name", "imagefolder"),
                           **opts)
    return load(info["name"], root=root)


__all__ = ["Dataset", "Split", "from_arrays", "from_folder", "list_datasets", "load", "load_described"]

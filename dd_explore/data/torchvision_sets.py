"""torchvision data sets read from a local folder (``root``); downloaded only with ``download=True``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dd_explore.data.arrays import from_arrays
from dd_explore.data.dataset import Dataset

# name -> (torchvision class, per-channel mean, std) -- the statistics the field's code uses.
SPECS = {
    "mnist": ("MNIST", (0.1307,), (0.3081,)),
    "fashion_mnist": ("FashionMNIST", (0.2861,), (0.3530,)),
    "cifar10": ("CIFAR10", (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ("CIFAR100", (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn": ("SVHN", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}


def _open(cls, name: str, root: Path, train: bool, download: bool):
    kwargs = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
    try:
        return cls(str(root), download=download, **kwargs)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
        raise FileNotFoundError(
            f"{name}: no {'train' if train else 'test'} files found under root={str(root)!r} "
            f"(torchvision looks in {str(root / cls.__name__) if name != 'svhn' else str(root)}). "
            f"Copy the torchvision files there, or call load({name!r}, root=..., download=True) "
            f"on a machine with internet access. ({exc})"
        ) from exc


def _arrays(ds, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "svhn":
        return np.asarray(ds.data), np.asarray(ds.labels)  # (n, 3, 32, 32)
    data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
    targets = ds.targets.numpy() if hasattr(ds.targets, "numpy") else np.asarray(ds.targets)
    return data, targets  # (n, H, W) for MNIST-like, (n, H, W, 3) for CIFAR


def load_torchvision(name: str, root: str | Path | None, download: bool = False) -> Dataset:
    import torchvision.datasets as tvd

    if root is None:
        raise ValueError(f"root must be a folder for torchvision data set {name!r}; got None")
    root = Path(root).expanduser()
    cls_name, mean, std = SPECS[name]
    cls = getattr(tvd, cls_name)
    train = _open(cls, name, root, True, download)
    test = _open(cls, name, root, False, download)
    Xtr, ytr = _arrays(train, name)
    Xte, yte = _arrays(test, name)
    classes = [str(c) for c in getattr(train, "classes", [])] or [str(i) for i in range(int(ytr.max()) + 1)]
    return from_arrays(Xtr, ytr, Xte, yte, name=name, classes=classes, pixel_range=255.0, mean=mean, std=std)

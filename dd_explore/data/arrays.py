"""``from_arrays``: turn user arrays/tensors into a validated :class:`Dataset`.

Also used by the embedded and torchvision loaders, so all data goes through one set of checks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from dd_explore.data.dataset import Dataset, Split


def _as_numpy(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be an array or tensor; got {type(value).__name__}") from exc


def _images(name: str, X, image_shape: Sequence[int] | None) -> np.ndarray:
    """Validate X and return (n, C, H, W) pixels in X's own dtype (bools become uint8)."""
    X = _as_numpy(name, X)
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers; got dtype {X.dtype}")
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(X.shape)}")
    if X.dtype.kind == "b":
        X = X.astype(np.uint8)
    if X.dtype.kind == "f":
        bad = _count_nonfinite(X)
        if bad:
            raise ValueError(f"{name} must be finite; found {bad} NaN/inf values")
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3 or int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise ValueError(
                f"image_shape must be (H, W) or (C, H, W) with as many values as one sample of {name} "
                f"({int(np.prod(X.shape[1:]))}); got {tuple(image_shape)}"
            )
        return X.reshape((X.shape[0],) + shape)
    if X.ndim == 3:
        return X[:, None, :, :]
    if X.ndim == 4:
        if X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):  # channels-last -> channels-first
            X = np.ascontiguousarray(X.transpose(0, 3, 1, 2))
        return X
    raise ValueError(
        f"{name} must have 3 dims (n, H, W) or 4 dims (n, C, H, W), or pass image_shape for (n, d); "
        f"got {X.ndim} dims with shape {tuple(X.shape)}"
    )


def _count_nonfinite(X: np.ndarray, rows: int = 4096) -> int:
    bad = 0
    for s in range(0, X.shape[0], rows):
        block = X[s : s + rows]
        if not np.isfinite(block.sum()):
            bad += int(block.size - np.isfinite(block).sum())
    return bad


def _is_8bit(X: np.ndarray, rows: int = 4096) -> bool:
    """True when every value is an integer in 0..255 (so uint8 holds it exactly)."""
    if X.dtype == np.uint8:
        return True
    for s in range(0, X.shape[0], rows):
        block = X[s : s + rows]
        if block.size and (block.min() < 0 or block.max() > 255):
            return False
        if X.dtype.kind == "f" and not np.array_equal(block, np.round(block)):
            return False
    return True


def _pixel_stats(X: np.ndarray, pixel_range: float, rows: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of X / pixel_range: exactly as a float32 array would give them for small X,
    accumulated in float64 over row blocks (no float copy of the whole set) for large X."""
    if X.size * 4 <= 256 * 2**20:
        F = X.astype(np.float32) / np.float32(pixel_range)
        return (tuple(float(m) for m in F.mean(axis=(0, 2, 3))),
                tuple(max(float(s), 1e-6) for s in F.std(axis=(0, 2, 3))))
    c = X.shape[1]
    total, sq = np.zeros(c), np.zeros(c)
    for s in range(0, X.shape[0], rows):
        block = X[s : s + rows].astype(np.float64) / float(pixel_range)
        total += block.sum(axis=(0, 2, 3))
        sq += np.square(block).sum(axis=(0, 2, 3))
    count = X.shape[0] * X.shape[2] * X.shape[3]
    mean = total / count
    var = np.maximum(sq / count - mean**2, 0.0)
    return tuple(float(m) for m in mean), tuple(max(float(np.sqrt(v)), 1e-6) for v in var)


STORAGE = ("auto", "uint8", "float32")


def _labels(name: str, y, n: int, classes: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    y = _as_numpy(name, y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional; got shape {tuple(y.shape)}")
    if y.shape[0] != n:
        raise ValueError(f"{name} must have one label per image ({n}); got {y.shape[0]}")
    if y.dtype.kind in "USO":  # strings: map sorted unique names to 0..C-1, keep the mapping
        names = sorted({str(v) for v in y})
        if classes is not None and list(classes) != names:
            raise ValueError(f"classes must match the string labels {names}; got {list(classes)}")
        lookup = {c: i for i, c in enumerate(names)}
        return np.array([lookup[str(v)] for v in y], dtype=np.int64), tuple(names)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{name} must be integers 0..C-1 or strings; got non-integer values such as {y[y != np.round(y)][:3]}")
    y = y.astype(np.int64)
    num = int(y.max()) + 1 if classes is None else len(classes)
    present = np.unique(y)
    if present.min() < 0 or present.max() >= num or (classes is None and len(present) != num):
        missing = sorted(set(range(num)) - set(present.tolist()))
        raise ValueError(
            f"{name} must be integers 0..C-1 with every class present; got values {present[:12].tolist()}"
            + (f" (missing {missing[:12]})" if missing else "")
        )
    names = tuple(str(c) for c in classes) if classes is not None else tuple(str(i) for i in range(num))
    return y, names


def stratified_split(y: np.ndarray, test_per_class: int | float, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class split: ``test_per_class`` images (int) or fraction (float) of each class go to test."""
    rng = np.random.default_rng(random_state)
    train_idx, test_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        if isinstance(test_per_class, (int, np.integer)):
            k = int(test_per_class)
        else:  # a fraction: at least one image on each side when the class has two or more
            k = min(max(int(round(test_per_class * len(idx))), 1), len(idx) - 1)
        if not 0 < k < len(idx):
            raise ValueError(f"test split must leave at least one image per class in train and test; class {c} has {len(idx)} images, asked for {k} in test")
        test_idx.append(idx[:k])
        train_idx.append(idx[k:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))


def from_arrays(
    X,
    y,
    X_test=None,
    y_test=None,
    *,
    name: str = "custom",
    classes: Sequence[str] | None = None,
    image_shape: Sequence[int] | None = None,
    pixel_range: float | None = None,
    test_fraction: float = 0.2,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    random_state: int = 0,
    storage: str = "auto",
) -> Dataset:
    """Build a :class:`Dataset` from arrays or tensors.

    X: (n, H, W), (n, C, H, W), channels-last (n, H, W, C), or (n, d) with ``image_shape``.
    y: integers 0..C-1 or strings (mapped to sorted class names, kept in ``classes``).
    Without ``X_test`` a seeded stratified ``test_fraction`` of each class becomes the test split.
    Pixels are scaled by ``pixel_range`` (default: 255 if the max exceeds 1, else 1) and normalized
    per channel with ``mean``/``std`` (default: train statistics).
    storage: "auto" keeps 8-bit pixels (every value an integer in 0..255, e.g. uint8 arrays) as uint8 and
    normalizes them per batch (:meth:`Split.from_pixels`), anything else as normalized float32;
    "uint8" insists on the compact form (ValueError when the values are not 8-bit); "float32" always
    stores normalized float32. ``split.images`` is the same normalized float32 tensor either way.
    """
    if storage not in STORAGE:
        raise ValueError(f"storage must be one of {list(STORAGE)}; got {storage!r}")
    Xtr = _images("X", X, image_shape)
    ytr, names = _labels("y", y, Xtr.shape[0], classes)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together; got only one of them")
    if X_test is not None:
        Xte = _images("X_test", X_test, image_shape)
        if Xte.shape[1:] != Xtr.shape[1:]:
            raise ValueError(f"X_test images must have the shape of X images {Xtr.shape[1:]}; got {Xte.shape[1:]}")
        yte_raw = _as_numpy("y_test", y_test)
        if yte_raw.dtype.kind in "USO":
            lookup = {c: i for i, c in enumerate(names)}
            unknown = sorted({str(v) for v in yte_raw} - set(lookup))
            if unknown:
                raise ValueError(f"y_test must use the class names of y {list(names)}; got unknown {unknown[:5]}")
            yte = np.array([lookup[str(v)] for v in yte_raw], dtype=np.int64)
            if yte.shape[0] != Xte.shape[0]:
                raise ValueError(f"y_test must have one label per image ({Xte.shape[0]}); got {yte.shape[0]}")
        else:
            yte, _ = _labels("y_test", yte_raw, Xte.shape[0], names)
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
        tr, te = stratified_split(ytr, float(test_fraction), random_state)
        Xtr, Xte, ytr, yte = Xtr[tr], Xtr[te], ytr[tr], ytr[te]
    if pixel_range is None:
        pixel_range = 255.0 if float(Xtr.max()) > 1.0 else 1.0
    if pixel_range <= 0:
        raise ValueError(f"pixel_range must be positive; got {pixel_range!r}")
    compact = storage != "float32" and _is_8bit(Xtr) and _is_8bit(Xte)
    if storage == "uint8" and not compact:
        raise ValueError("storage='uint8' needs 8-bit pixels (every value an integer in 0..255); got other values "
                         "(use storage='auto' or 'float32')")
    channels = Xtr.shape[1]
    if compact:
        Xtr, Xte = Xtr.astype(np.uint8, copy=False), Xte.astype(np.uint8, copy=False)
    if mean is None or std is None:
        m_, s_ = _pixel_stats(Xtr, float(pixel_range))
        mean = m_ if mean is None else mean
        std = s_ if std is None else std
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std must have one value per channel ({channels}); got {len(mean)} and {len(std)}")
    if min(std) <= 0:
        raise ValueError(f"std must be positive; got {std}")
    if compact:
        train = Split.from_pixels(torch.from_numpy(np.ascontiguousarray(Xtr)), torch.from_numpy(ytr), mean, std,
                                  float(pixel_range))
        test = Split.from_pixels(torch.from_numpy(np.ascontiguousarray(Xte)), torch.from_numpy(yte), mean, std,
                                 float(pixel_range))
        return Dataset(name, train, test, names, mean, std)
    Xtr = Xtr.astype(np.float32, copy=False) / np.float32(pixel_range)
    Xte = Xte.astype(np.float32, copy=False) / np.float32(pixel_range)
    m = np.array(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.array(std, dtype=np.float32).reshape(1, -1, 1, 1)
    train = Split(torch.from_numpy(np.ascontiguousarray((Xtr - m) / s)), torch.from_numpy(ytr))
    test = Split(torch.from_numpy(np.ascontiguousarray((Xte - m) / s)), torch.from_numpy(yte))
    return Dataset(name, train, test, names, mean, std)

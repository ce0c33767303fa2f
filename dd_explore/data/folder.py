"""``from_folder``: a data set from your own images, one subfolder per class.

Layouts::

    root/<class>/<image>            -> a seeded, stratified train/test split (``test_fraction`` per class)
    root/train/<class>/<image>      -> the given split (class names from train/; test/ must have the
    root/test/<class>/<image>          same class folders)

Every non-hidden file under a class folder (subfolders included) is read with Pillow (PNG, JPEG and the
other formats Pillow reads). Class names are the folder names, sorted. Pixels are kept as uint8
(grayscale when every image is, else RGB; alpha is dropped). ``image_size`` resizes every image
(bilinear, no crop); without it all images must have the same size.

Files that are not readable images are skipped with one warning that counts them (``on_error="skip"``,
the default) or stop the load with an error naming the file (``on_error="raise"``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from dd_explore.data.dataset import Dataset

logger = logging.getLogger(__name__)

ON_ERROR = ("skip", "raise")
CHANNELS = ("auto", 1, 3)
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _files(folder: Path) -> list[Path]:
    """Every non-hidden regular file under ``folder`` (recursively), sorted by relative path."""
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file():
            out.append(p)
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        h, w = (int(v) for v in value)
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok or h < 1 or w < 1:
        raise ValueError(f"image_size must be a positive int or (height, width) of positive ints; got {value!r}")
    return h, w


class _Problems:
    """Files that are not readable images: collected (skip) or raised at once (raise)."""

    def __init__(self, on_error: str, root: Path):
        self.on_error = on_error
        self.root = root
        self.items: list[tuple[Path, str]] = []

    def add(self, path: Path, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.on_error == "raise":
            raise ValueError(f"{path} is not a readable image ({reason}); remove it, or pass on_error='skip' to "
                             "skip such files with a warning") from exc
        self.items.append((path, reason))

    def warn(self) -> None:
        if not self.items:
            return
        first = "; ".join(f"{p.relative_to(self.root)} ({r})" for p, r in self.items[:3])
        more = f" and {len(self.items) - 3} more" if len(self.items) > 3 else ""
        warnings.warn(f"skipped {len(self.items)} file{'s' if len(self.items) != 1 else ''} under {self.root} that "
                      f"{'are' if len(self.items) != 1 else 'is'} not readable images: {first}{more}",
                      UserWarning, stacklevel=3)


def _scan(groups: dict[str, list[tuple[Path, int]]], problems: _Problems):
    """Open every file lazily (header only): (kept entries per group, sizes, gray flags)."""
    from PIL import Image

    kept: dict[str, list[tuple[Path, int, tuple[int, int], bool]]] = {}
    for group, entries in groups.items():
        rows = []
        for path, label in entries:
            try:
                with Image.open(path) as im:
                    w, h = im.size
                    gray = im.mode in _GRAY_MODES or (im.mode == "P" and _palette_is_gray(im))
            except Exception as exc:  # noqa: BLE001 - any failure to open means "not a readable image"
                problems.add(path, exc)
                continue
            rows.append((path, label, (int(h), int(w)), bool(gray)))
        kept[group] = rows
    return kept


def _palette_is_gray(im) -> bool:
    try:
        pal = np.asarray(im.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    except ValueError:
        return False
    return pal.size > 0 and bool(np.all(pal[:, 0] == pal[:, 1]) and np.all(pal[:, 1] == pal[:, 2]))


def _decode(rows, channels: int, size: tuple[int, int], resize: bool, problems: _Problems, progress: bool, desc: str):
    """Decode into one uint8 (n, C, H, W) array; rows that fail to decode are dropped."""
    from PIL import Image
    from tqdm.auto import tqdm

    h, w = size
    out = np.empty((len(rows), channels, h, w), dtype=np.uint8)
    labels = np.empty(len(rows), dtype=np.int64)
    k = 0
    for path, label, _, _ in tqdm(rows, desc=desc, disable=not progress, leave=False):
        try:
            with Image.open(path) as im:
                im = _to_mode(im, channels)
                if resize and im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt data shows up only when decoding
            problems.add(path, exc)
            continue
        if arr.shape[:2] != (h, w):
            problems.add(path, ValueError(f"decoded to {arr.shape[1]}x{arr.shape[0]}, header said {w}x{h}"))
            continue
        out[k] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        labels[k] = label
        k += 1
    if k < len(rows):
        out, labels = out[:k].copy(), labels[:k].copy()
    return out, labels


def _to_mode(im, channels: int):
    if channels == 1:
        if im.mode.startswith("I;16") or im.mode == "I":
            arr = np.asarray(im, dtype=np.float64)
            top = 65535.0 if arr.max() > 255 else 255.0
            from PIL import Image

            return Image.fromarray(np.clip(np.round(arr * 255.0 / top), 0, 255).astype(np.uint8), mode="L")
        return im.convert("L")
    return im.convert("RGB")


def from_folder(
    root: str | Path,
    *,
    image_size: int | Sequence[int] | None = None,
    channels: str | int = "auto",
    test_fraction: float = 0.2,
    random_state: int = 0,
    on_error: str = "skip",
    name: str = "imagefolder",
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    progress: bool = False,
) -> Dataset:
    """A :class:`Dataset` from a folder of images with one subfolder per class (see the module doc).

    image_size: None (all images must have one size) or an int / (height, width) to resize every image to.
    channels: "auto" (1 when every image is grayscale, else 3), 1 or 3.
    test_fraction / random_state: the seeded stratified split when there is no train/ + test/ layout.
    on_error: "skip" (warn once, counting the skipped files) or "raise" for files that are not readable images.
    mean / std: per-channel normalization (default: train statistics).
    The returned data set remembers how it was loaded (``Dataset.source``; recorded in run configs, so
    ``dd-explore report`` can load it again).
    """
    from dd_explore.data.arrays import from_arrays

    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {list(ON_ERROR)}; got {on_error!r}")
    if channels not in CHANNELS or isinstance(channels, bool):
        raise ValueError(f"channels must be one of {list(CHANNELS)}; got {channels!r}")
    size = _size(image_size)
    if not (isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a number in (0, 1); got {test_fraction!r}")
    if root is None:
        raise ValueError("root must be a folder of class subfolders (root/<class>/<image>); got None")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"root {root}: no such folder")
    if not root.is_dir():
        raise ValueError(f"root must be a folder of class subfolders; {root} is a file")

    split_given = (root / "train").is_dir() and (root / "test").is_dir()
    train_dir = root / "train" if split_given else root
    class_dirs = _class_dirs(train_dir)
    if not class_dirs:
        raise ValueError(f"{train_dir} has no class subfolders: expected {train_dir}/<class name>/<image files>"
                         + ("" if split_given else f" (or {root}/train/<class>/... and {root}/test/<class>/...)"))
    classes = [p.name for p in class_dirs]
    groups: dict[str, list[tuple[Path, int]]] = {"train": []}
    empty = []
    for label, d in enumerate(class_dirs):
        files = _files(d)
        if not files:
            empty.append(str(d.relative_to(root)))
        groups["train"] += [(f, label) for f in files]
    if split_given:
        test_dirs = {p.name: p for p in _class_dirs(root / "test")}
        missing, extra = sorted(set(classes) - set(test_dirs)), sorted(set(test_dirs) - set(classes))
        if missing or extra:
            raise ValueError(f"{root / 'test'} must have the class folders of {root / 'train'} ({classes}); "
                             + (f"missing {missing}" if missing else "") + ("; " if missing and extra else "")
                             + (f"not in train: {extra}" if extra else ""))
        groups["test"] = []
        for label, c in enumerate(classes):
            files = _files(test_dirs[c])
            if not files:
                empty.append(str(test_dirs[c].relative_to(root)))
            groups["test"] += [(f, label) for f in files]
    if empty:
        raise ValueError(f"class folder{'s' if len(empty) > 1 else ''} {empty} under {root} hold{'' if len(empty) > 1 else 's'} "
                         "no files; every class needs images")

    problems = _Problems(on_error, root)
    kept = _scan(groups, problems)
    for group, rows in kept.items():
        have = np.bincount([r[1] for r in rows], minlength=len(classes)) if rows else np.zeros(len(classes), int)
        none = [classes[c] for c in np.flatnonzero(have == 0)]
        if none:
            problems.warn()
            raise ValueError(f"class{'es' if len(none) > 1 else ''} {none} ha{'ve' if len(none) > 1 else 's'} no "
                             f"readable images{' in ' + group + '/' if split_given else ''} under {root}")
    all_rows = [r for rows in kept.values() for r in rows]
    if size is None:
        sizes: dict[tuple[int, int], Path] = {}
        for path, _, hw, _ in all_rows:
            sizes.setdefault(hw, path)
        if len(sizes) > 1:
            shown = ", ".join(f"{h}x{w} ({p.relative_to(root)})" for (h, w), p in list(sizes.items())[:4])
            raise ValueError(f"the images under {root} have {len(sizes)} different sizes (height x width: {shown}"
                             f"{', ...' if len(sizes) > 4 else ''}); pass image_size=(H, W) (or an int) to resize "
                             "them all to one size")
        size = next(iter(sizes))
        resize = False
    else:
        resize = True
    if channels == "auto":
        channels = 1 if all(r[3] for r in all_rows) else 3

    arrays = {g: _decode(rows, int(channels), size, resize, problems, progress, f"reading {g} images")
              for g, rows in kept.items()}
    problems.warn()
    for group, (_, lab) in arrays.items():
        none = [classes[c] for c in np.flatnonzero(np.bincount(lab, minlength=len(classes)) == 0)]
        if none:
            raise ValueError(f"classes {none} have no readable images{' in ' + group + '/' if split_given else ''} "
                             f"under {root}")
    source = {"loader": "imagefolder", "root": str(root.resolve()), "image_size": list(size) if resize else None,
              "channels": int(channels), "test_fraction": float(test_fraction), "random_state": int(random_state),
              "on_error": on_error}
    X, y = arrays["train"]
    if split_given:
        Xte, yte = arrays["test"]
        ds = from_arrays(X, y, Xte, yte, name=name, classes=classes, pixel_range=255.0, mean=mean, std=std)
    else:
        counts = np.bincount(y, minlength=len(classes))
        small = [f"{classes[c]} ({int(counts[c])})" for c in np.flatnonzero(counts < 2)]
        if small:
            raise ValueError(f"class{'es' if len(small) > 1 else ''} {small} under {root} need at least 2 readable "
                             "images for the train/test split (or give train/ and test/ folders)")
        ds = from_arrays(X, y, name=name, classes=classes, pixel_range=255.0, test_fraction=float(test_fraction),
                         mean=mean, std=std, random_state=int(random_state))
    logger.info("imagefolder %s: %d train / %d test images, %d classes, %s", root, len(ds.train), len(ds.test),
                len(classes), ds.image_shape)
    return ds.with_source(source)

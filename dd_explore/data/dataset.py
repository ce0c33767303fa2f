"""The dataset record every part of the toolkit takes: train/test splits of image tensors.

A split keeps its pixels compact (uint8, as read from disk; :meth:`Split.from_pixels`) or as normalized
float32 images (``Split(images, labels)``, e.g. user arrays that are not 8-bit pixels). Either way
``split.images`` is the normalized float32 tensor (computed on access for compact splits, kept when
small), and ``split.batch(idx, device)`` gives normalized images of some points, normalized on
``device`` (only the uint8 pixels travel): what the engine, the selection features and the views use, so
a 50,000-image colour set stays ~150 MB on the host.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

logger = logging.getLogger(__name__)

#: a compact split keeps its normalized float32 ``images`` after the first access when they take at most
#: this many bytes (small sets: the old behaviour, same tensor each time); larger ones are normalized at
#: every access (use ``batch`` / ``iter_batches`` instead)
CACHE_BYTES = 64 * 2**20
BATCH = 4096


def _index(idx, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(idx, slice):
        return torch.arange(n, device=device)[idx]
    if isinstance(idx, (int, np.integer)) and not isinstance(idx, bool):
        return torch.tensor([int(idx)], dtype=torch.long, device=device)
    if isinstance(idx, torch.Tensor):
        t = idx.to(device=device)
    else:
        t = torch.as_tensor(np.asarray(idx), device=device)
    if t.dtype == torch.bool:
        return torch.nonzero(t, as_tuple=False).flatten()
    return t.reshape(-1).to(torch.long)


class Split:
    """One split: ``labels`` (n,) int64 in 0..C-1 and the images.

    ``Split(images, labels)``: ``images`` (n, C, H, W) float32, already normalized, kept as they are.
    ``Split.from_pixels(pixels, labels, mean, std, scale=255.0)``: ``pixels`` (n, C, H, W) uint8 kept as
    they are; normalized images are ``(pixels / scale - mean) / std`` per channel.

    ``images``: every image, normalized float32 (for compact splits computed on access; cached when at
    most :data:`CACHE_BYTES`). ``batch(idx, device)``: normalized images of ``idx`` on ``device`` (the
    uint8 pixels are moved, then normalized there). ``iter_batches``: the whole split in batches.
    ``shape`` / ``ndim`` / ``device`` / ``dtype`` describe the images without building them; ``nbytes`` is
    what the split holds in memory.
    """

    def __init__(self, images: torch.Tensor | None = None, labels: torch.Tensor | None = None, *,
                 pixels: torch.Tensor | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, scale: float = 255.0):
        if labels is None:
            raise ValueError("labels must be given: (n,) int64 class ids")
        if (images is None) == (pixels is None):
            raise ValueError("give images (normalized float) or pixels (uint8 with mean, std, scale), not both")
        if pixels is not None:
            if pixels.dtype != torch.uint8 or pixels.ndim != 4:
                raise ValueError(f"pixels must be a (n, C, H, W) uint8 tensor; got {pixels.dtype} {tuple(pixels.shape)}")
            if mean is None or std is None:
                raise ValueError("compact pixels need the per-channel mean and std that normalize them")
            c = int(pixels.shape[1])
            mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
            if len(mean) != c or len(std) != c or min(std) <= 0 or not float(scale) > 0:
                raise ValueError(f"mean and std must have one value per channel ({c}), std and scale positive; "
                                 f"got mean {mean}, std {std}, scale {scale!r}")
            self._mean, self._std, self._scale = mean, std, float(scale)
        self._images = images
        self._pixels = pixels
        self._labels = labels
        self._cache: torch.Tensor | None = None
        self._consts: dict = {}
        self._warned = False

    @classmethod
    def from_pixels(cls, pixels: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                    scale: float = 255.0) -> "Split":
        """A compact split: uint8 ``pixels`` (n, C, H, W) normalized per batch with ``mean``/``std`` after
        dividing by ``scale``."""
        return cls(labels=labels, pixels=pixels, mean=mean, std=std, scale=scale)

    # ------------------------------------------------------------------ what it holds
    @property
    def labels(self) -> torch.Tensor:
        return self._labels

    @property
    def compact(self) -> bool:
        """True when the pixels are kept as uint8 (normalized per batch)."""
        return self._pixels is not None

    @property
    def pixels(self) -> torch.Tensor | None:
        """The raw uint8 pixels (n, C, H, W) of a compact split, else None."""
        return self._pixels

    @property
    def storage(self) -> str:
        """``"uint8"`` (compact) or ``"float32"``."""
        return "uint8" if self.compact else str(self._images.dtype).replace("torch.", "")

    @property
    def _store(self) -> torch.Tensor:
        return self._pixels if self._pixels is not None else self._images

    @property
    def shape(self) -> torch.Size:
        """Shape of ``images`` (n, C, H, W), without building them."""
        return self._store.shape

    @property
    def ndim(self) -> int:
        return self._store.ndim

    @property
    def device(self) -> torch.device:
        return self._store.device

    @property
    def dtype(self) -> torch.dtype:
        """dtype of ``images`` (float32 for compact splits)."""
        return torch.float32 if self.compact else self._images.dtype

    @property
    def nbytes(self) -> int:
        """Bytes the split holds: pixels or images, labels, and a cached normalized copy if any."""
        t = self._store
        total = t.numel() * t.element_size() + self._labels.numel() * self._labels.element_size()
        if self._cache is not None:
            total += self._cache.numel() * self._cache.element_size()
        return int(total)

    def digest(self, extra: dict | None = None) -> str:
        """SHA-256 of what the split stores (the uint8 pixels and their normalization, or the float images),
        its shape and ``extra`` (JSON); not the labels. A cache key for work done on the images."""
        import hashlib
        import json

        meta = {"shape": list(self.shape), "storage": self.storage, **(extra or {})}
        if self.compact:
            meta.update(mean=list(self._mean), std=list(self._std), scale=self._scale)
            data = self.pixels
        else:
            data = self.images
        h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        t = data.detach().cpu().contiguous()
        for s in range(0, t.shape[0], 8192):
            h.update(t[s : s + 8192].numpy().tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return int(self._labels.shape[0])

    def __repr__(self) -> str:
        return (f"Split(n={len(self)}, image shape {tuple(self.shape[1:])}, {self.storage} on {self.device}, "
                f"{self.nbytes / 2**20:.1f} MiB)")

    # ------------------------------------------------------------------ normalized images
    def _normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        dev = pixels.device
        consts = self._consts.get(dev)
        if consts is None:
            c = len(self._mean)
            consts = (torch.tensor(self._scale, dtype=torch.float32, device=dev),
                      torch.tensor(self._mean, dtype=torch.float32, device=dev).view(1, c, 1, 1),
                      torch.tensor(self._std, dtype=torch.float32, device=dev).view(1, c, 1, 1))
            self._consts[dev] = consts
        scale, mean, std = consts
        x = pixels.to(torch.float32)  # a new tensor: the in-place steps below (same values, fewer allocations)
        x.div_(scale)
        x.sub_(mean)
        return x.div_(std)

    @property
    def images(self) -> torch.Tensor:
        """Every image, normalized float32 (n, C, H, W) on the split's device."""
        if self._pixels is None:
            return self._images
        if self._cache is not None:
            return self._cache
        out = self._normalize(self._pixels)
        if out.numel() * 4 <= CACHE_BYTES:
            self._cache = out
        elif not self._warned:
            self._warned = True
            logger.info("normalizing all %d images of a compact split to float32 (%.0f MiB) on access; "
                        "split.batch(idx, device) / split.iter_batches() keep memory bounded", len(self),
                        out.numel() * 4 / 2**20)
        return out

    def batch(self, idx, device: torch.device | str | None = None) -> torch.Tensor:
        """Normalized float32 images of ``idx`` (indices, a bool mask, a slice or an int) on ``device``
        (default: the split's). Compact splits move the uint8 pixels and normalize them on ``device``."""
        store = self._store
        index = _index(idx, store.shape[0], store.device)
        part = store.index_select(0, index)
        if device is not None:
            part = part.to(device)
        if self._pixels is None:
            return part
        return self._normalize(part)

    def iter_batches(self, batch_size: int = BATCH, device: torch.device | str | None = None
                     ) -> Iterator[tuple[int, torch.Tensor]]:
        """(start, normalized images[start : start + batch_size]) over the whole split, in order."""
        n = len(self)
        for start in range(0, n, batch_size):
            yield start, self.batch(slice(start, min(n, start + batch_size)), device)

    def subset(self, idx) -> "Split":
        """A split of the points ``idx`` (same storage: compact stays compact)."""
        index = _index(idx, len(self), self._store.device)
        labels = self._labels.index_select(0, index.to(self._labels.device))
        if self._pixels is None:
            return Split(self._images.index_select(0, index), labels)
        return Split.from_pixels(self._pixels.index_select(0, index), labels, self._mean, self._std, self._scale)

    # ------------------------------------------------------------------ classes
    def class_indices(self, c: int) -> torch.Tensor:
        """Indices (into this split) of the images of class ``c``."""
        return torch.nonzero(self.labels == c, as_tuple=False).flatten()

    def class_counts(self, num_classes: int) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=num_classes)

    def to(self, device: torch.device | str) -> "Split":
        if torch.device(device) == self.device:
            return self
        if self._pixels is None:
            return Split(self._images.to(device), self._labels.to(device))
        return Split.from_pixels(self._pixels.to(device), self._labels.to(device), self._mean, self._std, self._scale)


@dataclass(frozen=True)
class Dataset:
    """A labelled image data set with a fixed train/test split.

    ``mean``/``std`` are the per-channel statistics used to normalize ``images``;
    ``denormalize`` maps images back to [0, 1] pixel values for display.
    """

    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: dict | None = None  # how to load it again (e.g. an image folder's root); in describe()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def nbytes(self) -> int:
        """Bytes both splits hold in memory (see :attr:`Split.nbytes`)."""
        return self.train.nbytes + self.test.nbytes

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.image_shape[1], self.image_shape[2]

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Normalized images -> pixel values clipped to [0, 1] (same device and shape)."""
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return (images * std + mean).clamp(0.0, 1.0)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel values in [0, 1] -> normalized images."""
        mean = torch.tensor(self.mean, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=pixels.dtype, device=pixels.device).view(1, -1, 1, 1)
        return (pixels - mean) / std

    def to(self, device: torch.device | str) -> "Dataset":
        return Dataset(self.name, self.train.to(device), self.test.to(device), self.classes, self.mean, self.std,
                       self.source)

    def with_source(self, source: dict | None) -> "Dataset":
        """The same data set recording ``source`` (how to load it again, e.g. ``{"loader": "imagefolder",
        "root": ...}``)."""
        return Dataset(self.name, self.train, self.test, self.classes, self.mean, self.std,
                       None if source is None else dict(source))

    def describe(self) -> dict:
        """A JSON-serializable summary (recorded in run configs)."""
        return {
            "name": self.name,
            "classes": list(self.classes),
            "image_shape": list(self.image_shape),
            "train_size": len(self.train),
            "test_size": len(self.test),
            "mean": list(self.mean),
            "std": list(self.std),
            **({"source": dict(self.source)} if self.source is not None else {}),
        }

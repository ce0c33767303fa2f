"""The dataset record every part of the toolkit takes: train/test splits of normalized image tensors."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Split:
    """One split: ``images`` (n, C, H, W) float32, normalized; ``labels`` (n,) int64 in 0..C-1."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_indices(self, c: int) -> torch.Tensor:
        """Indices (into this split) of the images of class ``c``."""
        return torch.nonzero(self.labels == c, as_tuple=False).flatten()

    def class_counts(self, num_classes: int) -> torch.Tensor:
        return torch.bincount(self.labels, minlength=num_classes)

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.images.to(device), self.labels.to(device))


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
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)

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

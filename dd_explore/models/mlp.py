"""A small fully connected network (the field's MLP baseline): flatten, two hidden ReLU layers."""

from __future__ import annotations

import torch
from torch import nn

from dd_explore.models import MODELS


class MLP(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int], width: int = 128, depth: int = 2):
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive int; got {width!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int; got {depth!r}")
        dims = [channels * int(image_size[0]) * int(image_size[1])] + [width] * depth
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.embedding_dim = width
        self.classifier = nn.Linear(width, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


@MODELS.register("mlp")
def _make_mlp(channels: int, num_classes: int, image_size, **kwargs) -> MLP:
    return MLP(channels, num_classes, tuple(image_size), **kwargs)

"""The field's ConvNet (DC/DSA/DM/MTT): [conv3x3 - norm - ReLU - pool] x depth, then a linear layer.

As in the reference code, a 28x28 input gets padding 3 in the first convolution, so feature maps are
32x32 and the depth-3, width-128 embedding is 2048-dimensional, comparable with published numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from dd_explore.models import MODELS
from dd_explore.models.norm import instance_norm

NORMS = ("instance", "batch", "none")
POOLINGS = ("avg", "max", "none")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")


def default_depth(image_size) -> int:
    """The reference's depth for the image size: as many blocks as keep the last feature map at least 4 px
    (28/32 px -> 3, as DC/DSA/DM/MTT on MNIST and CIFAR; 64 px -> 4, as on Tiny ImageNet), and at least 2.

    On 8x8 images (digits) this is 2: depth 3 ends on 2x2 maps whose instance norm over 4 values makes
    the input gradients explode, and DC with the defaults then destroyed the initial set (93 % -> 31 %).
    """
    side = min(int(image_size[0]), int(image_size[1]))
    if side == 28:
        side = 32  # the first convolution pads 28x28 to 32x32
    depth = 0
    while side // 2 >= 4:
        side //= 2
        depth += 1
    return max(2, depth)


class ConvNet(nn.Module):
    """ConvNet with configurable width, depth (None: :func:`default_depth` of the image size),
    normalization and pooling.

    ``embed(x)`` returns the flattened features before the classifier.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        width: int = 128,
        depth: int | None = None,
        norm: str = "instance",
        pooling: str = "avg",
    ):
        super().__init__()
        _check_choice("norm", norm, NORMS)
        _check_choice("pooling", pooling, POOLINGS)
        if depth is None:
            depth = default_depth(image_size)
        for pname, value in (("channels", channels), ("num_classes", num_classes), ("width", width), ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{pname} must be a positive int; got {value!r}")
        h, w = int(image_size[0]), int(image_size[1])
        layers: list[nn.Module] = []
        in_ch = channels
        for i in range(depth):
            pad = 3 if (i == 0 and (h, w) == (28, 28)) else 1
            layers.append(nn.Conv2d(in_ch, width, kernel_size=3, padding=pad))
            if i == 0 and pad == 3:
                h, w = h + 4, w + 4
            if norm == "instance":
                layers.append(instance_norm(width))  # GroupNorm(width, width), fast channels_last path
            elif norm == "batch":
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            if pooling != "none" and h >= 2 and w >= 2:
                layers.append(nn.AvgPool2d(2) if pooling == "avg" else nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.embedding_dim = width * h * w
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


@MODELS.register("convnet")
def _make_convnet(channels: int, num_classes: int, image_size, **kwargs) -> ConvNet:
    return ConvNet(channels, num_classes, tuple(image_size), **kwargs)


@MODELS.register("convnet-bn")
def _make_convnet_bn(channels: int, num_classes: int, image_size, **kwargs) -> ConvNet:
    """The reference's ConvNetBN: the ConvNet with batch norm."""
    return ConvNet(channels, num_classes, tuple(image_size), **{"norm": "batch", **kwargs})


@MODELS.register("convnet-nn")
def _make_convnet_nn(channels: int, num_classes: int, image_size, **kwargs) -> ConvNet:
    """The reference's ConvNetNN: the ConvNet without normalization."""
    return ConvNet(channels, num_classes, tuple(image_size), **{"norm": "none", **kwargs})

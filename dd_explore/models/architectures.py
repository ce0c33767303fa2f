"""The other networks of the field's cross-architecture tables: LeNet, AlexNet, VGG-11 and ResNet-18.

They follow the definitions of the reference code of DC/DSA/DM (VICO-UoE/DatasetCondensation,
``networks.py``), which MTT (GeorgeCazenavette/mtt-distillation) and DD-Ranking reuse; this module is our
own code with the same layer shapes. What the reference decides by ``channel == 1`` (MNIST-like 28x28) is
decided here by the image size, so that the same rule also serves 8x8 digits:

- **LeNet**: conv5(6) - ReLU - maxpool - conv5(16) - ReLU - maxpool - fc 120 - fc 84 - fc. 28x28 inputs get
  padding 2 in the first convolution (16x5x5 features, as the reference); 32x32 none. Smaller inputs pad
  both convolutions by 2 so the maps never vanish (8x8 -> 16x2x2).
- **AlexNet** (the reference's 5-conv variant for small images, no normalization): conv5(128) / conv5(192)
  / conv3(256, 192, 192), max-pooling after the 1st, 2nd and 5th; 28x28 inputs are padded by 4 in the
  first convolution (maps 32 -> 4, 192x4x4 features); others by 2.
- **VGG-11** with instance norm (the reference's default ``VGG11``; ``norm="batch"`` is its ``VGG11BN``):
  cfg [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]; 28x28 inputs are padded by 3 in the first
  convolution (32x32 maps), so the five max-pools end at 1x1 (512 features).
- **ResNet-18** (BasicBlock x [2, 2, 2, 2], 3x3 stem without max-pool, instance norm by default as the
  reference's ``ResNet18``; ``norm="batch"`` is its ``ResNet18BN``), global average pooling (the reference's
  ``avg_pool2d(out, 4)`` on the 4x4 map of 28x28 and 32x32 inputs; adaptive here so 8x8 inputs work).

On inputs smaller than 28x28 (8x8 digits) a downsampling that would leave a normalized map below 2x2
(instance norm of a 1x1 map is a constant) is skipped: AlexNet and ResNet-18 skip the late ones, VGG-11
the first ones (so its last blocks keep the reference's 4x4 and 2x2 maps). 28x28 and 32x32 inputs get
exactly the reference's maps.
``width`` scales the channels (the reference's widths at the default); every network has ``embed(x)``
(the features the classifier sees) and ``embedding_dim``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dd_explore.models import MODELS
from dd_explore.models.norm import instance_norm

NORMS = ("instance", "batch", "none")


def _check(channels, num_classes, image_size, width, norm=None, norms=NORMS) -> tuple[int, int]:
    for name, value in (("channels", channels), ("num_classes", num_classes), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if norm is not None and norm not in norms:
        raise ValueError(f"norm must be one of {list(norms)}; got {norm!r}")
    try:
        h, w = int(image_size[0]), int(image_size[1])
    except (TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"image_size must be (height, width); got {image_size!r}") from exc
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}")
    return h, w


def _no_depth(name: str, depth) -> None:
    if depth is not None:
        raise ValueError(f"depth applies to convnet and mlp only; {name} has a fixed depth; got depth={depth!r}")


def _norm2d(norm: str, ch: int) -> nn.Module:
    if norm == "instance":
        return instance_norm(ch)  # GroupNorm(ch, ch, affine=True): instance norm with affine, as the reference
    if norm == "batch":
        return nn.BatchNorm2d(ch)
    return nn.Identity()


def _conv_out(size: int, kernel: int, pad: int) -> int:
    return size + 2 * pad - kernel + 1


class LeNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size, width: int = 6, depth=None):
        super().__init__()
        h, w = _check(channels, num_classes, image_size, width)
        _no_depth("lenet", depth)
        c2 = max(1, round(width * 16 / 6))
        small = min(h, w) < 28
        pad1 = 2 if min(h, w) < 32 else 0
        pad2 = 2 if small else 0
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 5, padding=pad1), nn.ReLU(inplace=True)]
        h, w = _conv_out(h, 5, pad1), _conv_out(w, 5, pad1)
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        layers += [nn.Conv2d(width, c2, 5, padding=pad2), nn.ReLU(inplace=True)]
        h, w = _conv_out(h, 5, pad2), _conv_out(w, 5, pad2)
        if min(h, w) < 1:
            raise ValueError(f"image_size {tuple(image_size)} is too small for lenet")
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers, nn.Flatten(),
                                      nn.Linear(c2 * h * w, 120), nn.ReLU(inplace=True),
                                      nn.Linear(120, 84), nn.ReLU(inplace=True))
        self.embedding_dim = 84
        self.classifier = nn.Linear(84, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class AlexNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size, width: int = 128, norm: str = "none", depth=None):
        super().__init__()
        h, w = _check(channels, num_classes, image_size, width, norm)
        _no_depth("alexnet", depth)
        c1, c2, c3, c4, c5 = width, width * 3 // 2, width * 2, width * 3 // 2, width * 3 // 2
        pad1 = 4 if (h, w) == (28, 28) else 2
        plan = [(channels, c1, 5, pad1, True), (c1, c2, 5, 2, True), (c2, c3, 3, 1, False), (c3, c4, 3, 1, False),
                (c4, c5, 3, 1, True)]
        layers: list[nn.Module] = []
        for i, (cin, cout, k, pad, pool) in enumerate(plan):
            layers += [nn.Conv2d(cin, cout, k, padding=pad), _norm2d(norm, cout), nn.ReLU(inplace=True)]
            h, w = _conv_out(h, k, pad), _conv_out(w, k, pad)
            if pool and min(h, w) >= (2 if i == len(plan) - 1 else 4):
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.embedding_dim = c5 * h * w
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


VGG11_CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size, width: int = 64, norm: str = "instance",
                 cfg=VGG11_CFG, depth=None):
        super().__init__()
        h, w = _check(channels, num_classes, image_size, width, norm)
        _no_depth("vgg11", depth)
        layers: list[nn.Module] = []
        cin = channels
        first = True
        # the poolings that fit (28x28 padded to 32 and 32x32: all five); on smaller inputs the FIRST ones are
        # skipped, so the last blocks see the reference's 4x4 and 2x2 maps (8x8 digits: convs at 8, 8, 8, 4, 2)
        side = min(h, w) + (4 if (h, w) == (28, 28) else 0)
        n_pools = sum(1 for c in cfg if c == "M")
        skip = max(0, n_pools - max(0, side.bit_length() - 1))
        pool_i = 0
        for item in cfg:
            if item == "M":
                pool_i += 1
                if pool_i > skip and min(h, w) >= 2:
                    layers.append(nn.MaxPool2d(2))
                    h, w = h // 2, w // 2
                continue
            cout = max(1, item * width // 64)
            pad = 3 if first and (h, w) == (28, 28) else 1
            layers += [nn.Conv2d(cin, cout, 3, padding=pad), _norm2d(norm, cout), nn.ReLU(inplace=True)]
            h, w = _conv_out(h, 3, pad), _conv_out(w, 3, pad)
            cin, first = cout, False
        self.features = nn.Sequential(*layers)
        self.embedding_dim = cin * h * w
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _norm2d(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = _norm2d(norm, cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), _norm2d(norm, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, channels: int, num_classes: int, image_size, width: int = 64, norm: str = "instance", depth=None):
        super().__init__()
        h, w = _check(channels, num_classes, image_size, width, norm, norms=("instance", "batch"))
        _no_depth("resnet18", depth)
        self.conv1 = nn.Conv2d(channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = _norm2d(norm, width)
        blocks: list[nn.Module] = []
        cin = width
        for i, mult in enumerate((1, 2, 4, 8)):
            cout = width * mult
            # a stride that would take the map below 2x2 is skipped (instance norm of a 1x1 map is a constant)
            stride = 2 if i > 0 and min(h, w) >= 4 else 1
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
            blocks += [_BasicBlock(cin, cout, stride, norm), _BasicBlock(cout, cout, 1, norm)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.embedding_dim = cin
        self.classifier = nn.Linear(cin, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


@MODELS.register("lenet")
def _make_lenet(channels: int, num_classes: int, image_size, **kwargs) -> LeNet:
    return LeNet(channels, num_classes, tuple(image_size), **kwargs)


@MODELS.register("alexnet")
def _make_alexnet(channels: int, num_classes: int, image_size, **kwargs) -> AlexNet:
    return AlexNet(channels, num_classes, tuple(image_size), **kwargs)


@MODELS.register("alexnet-bn")
def _make_alexnet_bn(channels: int, num_classes: int, image_size, **kwargs) -> AlexNet:
    return AlexNet(channels, num_classes, tuple(image_size), **{"norm": "batch", **kwargs})


@MODELS.register("vgg11")
def _make_vgg11(channels: int, num_classes: int, image_size, **kwargs) -> VGG:
    return VGG(channels, num_classes, tuple(image_size), **kwargs)


@MODELS.register("vgg11-bn")
def _make_vgg11_bn(channels: int, num_classes: int, image_size, **kwargs) -> VGG:
    return VGG(channels, num_classes, tuple(image_size), **{"norm": "batch", **kwargs})


@MODELS.register("resnet18")
def _make_resnet18(channels: int, num_classes: int, image_size, **kwargs) -> ResNet18:
    return ResNet18(channels, num_classes, tuple(image_size), **kwargs)


@MODELS.register("resnet18-bn")
def _make_resnet18_bn(channels: int, num_classes: int, image_size, **kwargs) -> ResNet18:
    return ResNet18(channels, num_classes, tuple(image_size), **{"norm": "batch", **kwargs})

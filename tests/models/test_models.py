"""Models: the field's ConvNet shapes (28x28 -> 2048-d embedding), registry, bad input."""

from __future__ import annotations

import pytest
import torch

from dd_explore import models


@pytest.mark.parametrize("name", models.list_models())
@pytest.mark.parametrize("size", [(8, 8), (28, 28), (32, 32)])
def test_every_model_maps_images_to_logits(name, size):
    net = models.create(name, channels=3 if size == (32, 32) else 1, num_classes=7, image_size=size)
    x = torch.randn(5, 3 if size == (32, 32) else 1, *size)
    out = net(x)
    assert out.shape == (5, 7)
    assert net.embed(x).shape == (5, net.embedding_dim)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_convnet_matches_field_embedding():
    net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28))
    assert net.embedding_dim == 2048  # 28x28 padded to 32x32 -> 4x4x128
    assert net.embed(torch.randn(2, 1, 28, 28)).shape == (2, 2048)
    cifar = models.create("convnet", channels=3, num_classes=10, image_size=(32, 32))
    assert cifar.embedding_dim == 2048
    norms = {type(m).__name__ for m in net.modules()}
    assert "GroupNorm" in norms and "AvgPool2d" in norms


@pytest.mark.parametrize("norm,pool,kind", [("batch", "max", "BatchNorm2d"), ("none", "none", None)])
def test_convnet_options(norm, pool, kind):
    net = models.create("convnet", channels=1, num_classes=3, image_size=(8, 8), width=16, depth=2, norm=norm, pooling=pool)
    names = {type(m).__name__ for m in net.modules()}
    assert (kind in names) if kind else not ({"BatchNorm2d", "GroupNorm"} & names)
    assert net(torch.randn(4, 1, 8, 8)).shape == (4, 3)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match=r"model must be one of \['alexnet', .*'vgg11-bn'\]; got 'resnet'"):
        models.create("resnet", channels=1, num_classes=2, image_size=(8, 8))
    with pytest.raises(ValueError, match=r"norm must be one of .*got 'layer'"):
        models.create("convnet", channels=1, num_classes=2, image_size=(8, 8), norm="layer")
    with pytest.raises(ValueError, match=r"width must be a positive int; got 0"):
        models.create("convnet", channels=1, num_classes=2, image_size=(8, 8), width=0)

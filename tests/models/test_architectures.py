"""The field's cross-architecture networks: the reference shapes at 28x28 and 32x32, adapted to 8x8."""

from __future__ import annotations

import pytest
import torch

from dd_explore import models


@pytest.mark.parametrize("name, c, size, dim", [
    ("lenet", 1, 28, 84), ("lenet", 3, 32, 84),
    ("alexnet", 1, 28, 192 * 4 * 4), ("alexnet", 3, 32, 192 * 4 * 4),
    ("vgg11", 1, 28, 512), ("vgg11", 3, 32, 512),
    ("resnet18", 1, 28, 512), ("resnet18", 3, 32, 512),
    ("convnet-bn", 1, 28, 2048), ("convnet-nn", 3, 32, 2048),
])
def test_reference_shapes(name, c, size, dim):
    net = models.create(name, channels=c, num_classes=10, image_size=(size, size))
    assert net.embedding_dim == dim
    assert net(torch.randn(2, c, size, size)).shape == (2, 10)


def test_reference_layers():
    lenet = models.create("lenet", channels=1, num_classes=10, image_size=(28, 28))
    assert [m.padding for m in lenet.features if isinstance(m, torch.nn.Conv2d)] == [(2, 2), (0, 0)]
    alex = models.create("alexnet", channels=1, num_classes=10, image_size=(28, 28))
    convs = [m for m in alex.features if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 192, 256, 192, 192] and convs[0].padding == (4, 4)
    vgg = models.create("vgg11", channels=3, num_classes=10, image_size=(32, 32))
    assert [m.out_channels for m in vgg.features if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in vgg.features) == 5
    assert any(isinstance(m, torch.nn.GroupNorm) for m in vgg.features)  # the reference's VGG11: instance norm
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in models.create("vgg11-bn", channels=3, num_classes=10,
                                                                         image_size=(32, 32)).features)
    res = models.create("resnet18", channels=3, num_classes=10, image_size=(32, 32))
    assert sum(p.numel() for p in res.parameters()) == 11_173_962  # ResNet-18 with a 3x3 stem, 10 classes


def test_small_inputs_keep_normalized_maps_at_2x2():
    """On 8x8 digits, no instance norm sees a 1x1 map (it would output a constant)."""
    for name in ("vgg11", "resnet18", "alexnet-bn", "convnet"):
        net = models.create(name, channels=1, num_classes=10, image_size=(8, 8), width=8)
        sizes = []
        hooks = [m.register_forward_hook(lambda mod, i, o: sizes.append(o.shape[-1]))
                 for m in net.modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.BatchNorm2d))]
        net(torch.randn(3, 1, 8, 8))
        for h in hooks:
            h.remove()
        assert sizes and min(sizes) >= 2, (name, sizes)


def test_fixed_depth_and_bad_arguments():
    with pytest.raises(ValueError, match=r"depth applies to convnet and mlp only; resnet18 has a fixed depth; got depth=3"):
        models.create("resnet18", channels=1, num_classes=10, image_size=(8, 8), depth=3)
    with pytest.raises(ValueError, match=r"norm must be one of \['instance', 'batch'\]; got 'none'"):
        models.create("resnet18", channels=1, num_classes=10, image_size=(8, 8), norm="none")
    with pytest.raises(ValueError, match=r"width must be a positive int; got 0"):
        models.create("vgg11", channels=1, num_classes=10, image_size=(8, 8), width=0)

"""The ConvNet's instance norm (dd_explore.models.norm.GroupNorm, with its channels_last CPU path) equals
nn.GroupNorm(C, C, affine=True): outputs and gradients (input, weight, bias; double backward), state_dict,
and the ConvNet's embedding and input gradient in the layout the methods use."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dd_explore import models
from dd_explore.distill.methods.base import embed
from dd_explore.models.norm import GroupNorm, instance_norm

CL = torch.channels_last


def _pair(c, seed=0):
    new = instance_norm(c)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        new.weight.copy_(torch.rand(c, generator=g) + 0.5)
        new.bias.copy_(torch.randn(c, generator=g))
    old = nn.GroupNorm(c, c, affine=True)
    old.load_state_dict(new.state_dict())
    return new, old


def _grads(norm, x, gy, create_graph=False):
    x = x.detach().clone().requires_grad_(True)
    y = norm(x)
    gx, gw, gb = torch.autograd.grad(y, (x, norm.weight, norm.bias), gy, create_graph=create_graph)
    return y, gx, gw, gb


def test_drop_in_group_norm():
    new, old = _pair(8)
    assert isinstance(new, nn.GroupNorm) and type(new).__name__ == "GroupNorm"
    assert repr(new) == repr(old)
    assert list(new.state_dict()) == list(old.state_dict())
    fresh = instance_norm(8)
    fresh.load_state_dict(old.state_dict())  # checkpoints of either load into the other
    torch.testing.assert_close(fresh.weight, old.weight)


@pytest.mark.parametrize("shape", [(32, 128, 32, 32), (32, 128, 16, 16), (5, 16, 8, 8), (3, 16, 2, 2), (2, 8, 1, 1)])
def test_channels_last_path_equals_group_norm(shape):
    new, old = _pair(shape[1])
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=g) * 3 + 2).contiguous(memory_format=CL)
    gy = torch.randn(shape, generator=g).contiguous(memory_format=CL)
    got = _grads(new, x, gy)
    assert got[0].is_contiguous(memory_format=CL)
    ref = _grads(old.double(), x.double().contiguous(), gy.double())  # float64, the plain kernel
    with torch.no_grad():  # the no-grad path (DM's real images)
        assert torch.equal(new(x), got[0])
    # nn.GroupNorm's own float32 kernels are no closer to float64 (both apply y = x * scale + shift)
    plain = _grads(old.float(), x.contiguous(), gy)
    for a, b in zip(got, ref):
        tol = 1e-4 + 2 * float((plain[0].detach().double() - ref[0].detach()).abs().max())
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=tol)


def test_input_gradient_only_and_gradient_layouts():
    new, old = _pair(16)
    for p in (*new.parameters(), *old.parameters()):
        p.requires_grad_(False)
    x = torch.randn(4, 16, 8, 8).contiguous(memory_format=CL).requires_grad_(True)
    x2 = x.detach().contiguous().requires_grad_(True)
    gy = torch.randn(4, 16, 8, 8)  # a contiguous incoming gradient
    new(x).backward(gy)
    old(x2).backward(gy)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5)


def test_double_backward_equals_group_norm():
    new, old = _pair(8)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 8, 4, 4, generator=g).contiguous(memory_format=CL)
    gy = torch.randn(3, 8, 4, 4, generator=g)
    out = []
    for norm in (new, old):
        xx = x.detach().clone().requires_grad_(True)
        (gw,) = torch.autograd.grad((norm(xx) * gy).sum(), (norm.weight,), create_graph=True)
        (gx,) = torch.autograd.grad((gw ** 2).sum(), (xx,))
        out.append(gx)
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-5)


def test_contiguous_and_other_inputs_use_group_norm_exactly():
    new, old = _pair(8)
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(new(x), old(x))
    x3 = torch.randn(2, 8, 7)
    assert torch.equal(new(x3), old(x3))


def test_vmap_goes_through_group_norm():
    new, old = _pair(8)
    x = torch.randn(3, 2, 8, 4, 4)
    got = torch.func.vmap(new)(x)
    torch.testing.assert_close(got, torch.stack([old(v) for v in x]))


def _old_convnet(net):
    old = copy.deepcopy(net)
    for i, layer in enumerate(old.features):
        if isinstance(layer, nn.GroupNorm):
            ref = nn.GroupNorm(layer.num_groups, layer.num_channels, affine=True)
            ref.load_state_dict(layer.state_dict())
            old.features[i] = ref
    return old


@pytest.mark.parametrize("width,n", [(128, 8), (32, 20)])
def test_convnet_embedding_and_input_gradient_equal_group_norm(width, n):
    """The ConvNet as DM runs it on CPUs (channels_last, frozen weights, input gradient) against the same
    ConvNet with nn.GroupNorm in the contiguous layout."""
    torch.manual_seed(0)
    net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=width)
    assert any(type(m) is GroupNorm for m in net.modules())
    ref = _old_convnet(net)
    for p in (*net.parameters(), *ref.parameters()):
        p.requires_grad_(False)
    net = net.to(memory_format=CL)
    x = torch.randn(n, 1, 28, 28)
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ea = embed(net, xa, True, 4)
    eb = ref.embed(xb)
    torch.testing.assert_close(ea, eb, rtol=1e-4, atol=1e-5)
    ea.pow(2).sum().backward()
    eb.pow(2).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-4 * float(xb.grad.abs().max()))
    with torch.no_grad():
        torch.testing.assert_close(embed(net, x, True), eb, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(net(x.contiguous(memory_format=CL)), ref(x), rtol=1e-4, atol=1e-5)


def test_training_gradients_equal_group_norm():
    """Weight gradients through the whole ConvNet (evaluation training) match nn.GroupNorm's."""
    torch.manual_seed(0)
    net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=16)
    ref = _old_convnet(net)
    net = net.to(memory_format=CL)
    x = torch.randn(6, 1, 28, 28)
    y = torch.arange(6) % 10
    F.cross_entropy(net(x.contiguous(memory_format=CL)), y).backward()
    F.cross_entropy(ref(x), y).backward()
    scale = max(float(p.grad.abs().max()) for p in ref.parameters())
    for (name, a), (_, b) in zip(net.named_parameters(), ref.named_parameters()):
        # (a convolution's bias before the norm has gradient 0 up to rounding: absolute tolerance)
        torch.testing.assert_close(a.grad.contiguous(), b.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)

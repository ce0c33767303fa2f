"""A DM step (channels_last on CPUs, DSA on) gives the same synthetic images with the ConvNet's fast
instance norm (dd_explore.models.norm) as with nn.GroupNorm(C, C), the reference's instance norm."""

import pytest
import torch
from torch import nn

import dd_explore.models.convnet as convnet
from dd_explore.distill.importance import UniformSampler
from dd_explore.distill.methods.base import MethodContext, RealBatches
from dd_explore.distill.methods.dm import DM


def _steps(digits, n, **options):
    m = DM(width=32, depth=2, **options)
    ctx = MethodContext(digits, 3, torch.device("cpu"), torch.Generator().manual_seed(0))
    init = torch.cat([digits.train.images[digits.train.labels == c][:3] for c in range(10)])
    m.setup(ctx, init, torch.arange(10).repeat_interleave(3))
    batches = RealBatches(digits.train.images, UniformSampler(digits.train.labels, 10),
                          torch.Generator().manual_seed(1), torch.device("cpu"))
    losses = [m.step(ctx, batches).loss for _ in range(n)]
    return m.images.detach().clone(), losses


@pytest.mark.parametrize("channels_last", ["on", "off"])
def test_dm_steps_equal_with_group_norm(digits, monkeypatch, channels_last):
    new_images, new_losses = _steps(digits, 3, dsa=True, batch_real=16, channels_last=channels_last)
    monkeypatch.setattr(convnet, "instance_norm", lambda c: nn.GroupNorm(c, c, affine=True))
    old_images, old_losses = _steps(digits, 3, dsa=True, batch_real=16, channels_last=channels_last)
    assert new_losses == pytest.approx(old_losses, rel=1e-4)
    torch.testing.assert_close(new_images, old_images, rtol=1e-4, atol=1e-5)

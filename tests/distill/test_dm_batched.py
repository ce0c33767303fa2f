"""DM's batched step (every class's real and synthetic images through one network pass, DSA parameters
drawn per class and applied to both sides) equals the per-class loop of the reference implementation."""

import pytest
import torch

from dd_explore import distill
from dd_explore.distill.importance import UniformSampler
from dd_explore.distill.methods.base import MethodContext, RealBatches, make_network
from dd_explore.distill.methods.dm import DM


def _setup(digits, seed, **options):
    m = DM(width=16, depth=2, **options)
    ctx = MethodContext(digits, 3, torch.device("cpu"), torch.Generator().manual_seed(seed))
    init = torch.cat([digits.train.images[digits.train.labels == c][:3] for c in range(10)])
    m.setup(ctx, init, torch.arange(10).repeat_interleave(3))
    batches = RealBatches(digits.train.images, UniformSampler(digits.train.labels, 10),
                          torch.Generator().manual_seed(seed + 1), torch.device("cpu"))
    return m, ctx, batches


@pytest.mark.parametrize("dsa", [True, False])
def test_batched_step_equals_the_per_class_loop(digits, dsa):
    m, ctx, batches = _setup(digits, 0, dsa=dsa, batch_real=16)
    before = m.images.detach().clone()
    m.step(ctx, batches)

    # the per-class loop, with the same draws in the same order
    ref, rctx, rbatches = _setup(digits, 0, dsa=dsa, batch_real=16)
    net = make_network(ref.options, digits, rctx.generator, rctx.device)
    for p in net.parameters():
        p.requires_grad_(False)
    real = rbatches.draw_all(16)
    params = ref.dsa.sample(10, rctx.generator, digits.image_size) if dsa else None
    loss = torch.zeros(())
    for c in range(10):
        xr = real.images[real.labels == c]
        xs = ref.images[c * 3 : (c + 1) * 3]
        if dsa:
            xr = ref.dsa.apply(xr, params, torch.full((xr.shape[0],), c))
            xs = ref.dsa.apply(xs, params, torch.full((3,), c))
        loss = loss + ((net.embed(xr).mean(0) - net.embed(xs).mean(0)) ** 2).sum()
    ref.optimizer.zero_grad()
    loss.backward()
    ref.optimizer.step()
    assert not torch.equal(m.images, before)
    torch.testing.assert_close(m.images, ref.images, rtol=1e-4, atol=1e-5)

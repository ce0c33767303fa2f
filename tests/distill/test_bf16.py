"""bf16 autocast (``precision="bf16"``): the ConvNet's instance norm stays fp32 through its fast CPU path, a DM
step and an evaluation stay close to fp32 (bfloat16 keeps 8 bits of mantissa: about 3 significant digits),
and a bad precision is refused by name before any work."""

import pytest
import torch
import torch.nn.functional as F

from dd_explore.device import autocast
from dd_explore.distill.importance import UniformSampler
from dd_explore.distill.methods.base import MethodContext, RealBatches
from dd_explore.distill.methods.dm import DM
from dd_explore.evaluate import evaluate
from dd_explore.models.norm import instance_norm


def test_instance_norm_under_cpu_autocast_is_fp32_and_equal():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 6, 6, generator=g).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    norm = instance_norm(8)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=g)
        norm.bias.uniform_(-0.5, 0.5, generator=g)
    with autocast(torch.device("cpu"), "bf16"):
        y = norm(x)
    assert y.dtype == torch.float32 and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, F.group_norm(x.float(), 8, norm.weight, norm.bias, norm.eps), rtol=1e-5, atol=1e-5)


def _dm_step(digits, **options):
    m = DM(width=32, depth=2, dsa=True, batch_real=16, **options)
    ctx = MethodContext(digits, 3, torch.device("cpu"), torch.Generator().manual_seed(0))
    init = torch.cat([digits.train.images[digits.train.labels == c][:3] for c in range(10)])
    m.setup(ctx, init, torch.arange(10).repeat_interleave(3))
    batches = RealBatches(digits.train.images, UniformSampler(digits.train.labels, 10),
                          torch.Generator().manual_seed(1), torch.device("cpu"))
    loss = m.step(ctx, batches).loss
    return init, m.images.detach().clone(), loss


def test_dm_bf16_step_is_close_to_fp32(digits):
    init, fp32, loss32 = _dm_step(digits)
    _, bf16, loss16 = _dm_step(digits, precision="bf16")
    assert loss16 == pytest.approx(loss32, rel=0.05)
    move32, move16 = fp32 - init, bf16 - init
    assert move16.abs().sum() > 0 and bf16.dtype == torch.float32  # the images stay fp32 and move
    cos = F.cosine_similarity(move32.flatten(), move16.flatten(), dim=0)
    assert cos > 0.95, cos  # the same update direction, to bf16 rounding


def test_dm_rejects_a_bad_precision(digits):
    with pytest.raises(ValueError, match=r"precision.*\['fp32', 'bf16'\].*'fp16'"):
        DM(precision="fp16").check(digits, 1)


def test_evaluate_bf16_is_recorded_and_close_to_fp32(digits):
    idx = torch.cat([torch.nonzero(digits.train.labels == c).flatten()[:5] for c in range(10)])
    kw = dict(runs=3, epochs=30, model_kwargs={"width": 32, "depth": 2}, device="cpu", progress=False, seed=0)
    a = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, **kw)
    b = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, precision="bf16", **kw)
    assert a.protocol.precision == "fp32" and b.protocol.precision == "bf16"
    assert b.to_dict()["protocol"]["precision"] == "bf16"
    # paired networks: bf16 rounding changes the trajectories, not the level (3 networks, 360 test images)
    assert abs(a.mean - b.mean) < 0.04, (a, b)


def test_evaluate_rejects_a_bad_precision(digits):
    with pytest.raises(ValueError, match=r"precision must be one of \['fp32', 'bf16'\]; got 'fp16'"):
        evaluate(digits.train.images[:10], digits.train.labels[:10], digits.test, precision="fp16", progress=False)

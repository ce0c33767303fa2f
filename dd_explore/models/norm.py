"""Instance norm (``GroupNorm(C, C)``, the reference's "instancenorm") with a fast CPU channels_last path.

PyTorch's CPU group-norm kernel is slow on channels_last tensors when every group is one channel: on the
ConvNet's shapes (32 images, width 128, one thread) its forward takes 4-9x longer than the per-channel
statistics computed here on 16x16 and 8x8 maps, and its backward 2-5x longer at every size. The
methods run the ConvNet channels_last on CPUs, so this path covers most of a DM step's normalization.

:class:`GroupNorm` is a drop-in ``nn.GroupNorm`` (same parameters, state_dict keys and repr): with
``num_groups == num_channels`` and an affine transform, a 4-d channels_last CPU input goes through
:func:`instance_norm_channels_last`; anything else (contiguous inputs, GPUs, torch.func transforms) goes
through ``nn.GroupNorm``. Both give the same values to float tolerance (tests/models/test_norm_equivalence.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) channels_last -> the (N, H*W, C) view of the same memory."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, h * w, c)


def _forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float):
    """y = (x - mean) * rstd * weight + bias per (image, channel) over H*W, two-pass variance: (y, mean, rstd),
    y channels_last (not a view), mean and rstd (N, 1, C)."""
    x3 = _rows(x)
    mean = x3.mean(1, keepdim=True)
    y = torch.empty_like(x, memory_format=torch.channels_last)
    buf = _rows(y)
    torch.sub(x3, mean, out=buf)
    var = buf.square_().mean(1, keepdim=True)
    rstd = torch.rsqrt(var + eps)
    scale = rstd * weight
    shift = bias - mean * scale
    torch.addcmul(shift, x3, scale, out=buf)
    return y, mean, rstd


class _InstanceNormCL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, rstd = _forward(x, weight, bias, eps)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph (DC's gradient matching, MTT's unrolled steps): the reference op's own backward,
            # which autograd can differentiate again
            need = ctx.needs_input_grad[:3]
            with torch.enable_grad():
                y = F.group_norm(x, x.shape[1], weight, bias, ctx.eps)
                wanted = [t for t, n in zip((x, weight, bias), need) if n]
                got = iter(torch.autograd.grad(y, wanted, gy, create_graph=True))
            return (*(next(got) if n else None for n in need), None)
        n, c, h, w = x.shape
        hw = h * w
        x3 = _rows(x)
        g3 = _rows(gy.contiguous(memory_format=torch.channels_last))
        sg = g3.sum(1, keepdim=True)  # sum of g
        gx4 = torch.empty_like(x, memory_format=torch.channels_last)
        buf = torch.mul(g3, x3, out=_rows(gx4))
        sgxh = rstd * (buf.sum(1, keepdim=True) - mean * sg)  # sum of g * xhat
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # dx = a * (g - sum(g)/hw - xhat * sum(g xhat)/hw), a = rstd * weight, xhat = (x - mean) * rstd
            a = rstd * weight
            k = a * rstd * sgxh / hw
            c0 = k * mean - a * sg / hw
            torch.addcmul(c0, g3, a, out=buf).addcmul_(x3, k, value=-1)
            gx = gx4
        if ctx.needs_input_grad[1]:
            gw = sgxh.sum((0, 1))
        if ctx.needs_input_grad[2]:
            gb = sg.sum((0, 1))
        return gx, gw, gb, None


def instance_norm_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """``F.group_norm(x, C, weight, bias, eps)`` for a channels_last (N, C, H, W) ``x``, output channels_last."""
    if not torch.is_grad_enabled() or not (x.requires_grad or weight.requires_grad or bias.requires_grad):
        return _forward(x, weight, bias, eps)[0]
    return _InstanceNormCL.apply(x, weight, bias, eps)


def _fast_path(x: torch.Tensor) -> bool:
    if x.dim() != 4 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    try:
        if torch._C._functorch.is_functorch_wrapped_tensor(x):  # vmap / grad transforms: the plain op
            return False
    except AttributeError:  # pragma: no cover - older torch
        pass
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` that runs instance norm (``num_groups == num_channels``, affine) on channels_last CPU
    inputs through :func:`instance_norm_channels_last`: same parameters, state_dict and values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.bfloat16 and torch.is_autocast_enabled("cpu"):
            x = x.float()  # autocast runs group norm in fp32: the same, through the fast path below
        if self.affine and self.num_groups == self.num_channels and _fast_path(x):
            return instance_norm_channels_last(x, self.weight, self.bias, self.eps)
        return super().forward(x)


def instance_norm(channels: int) -> nn.Module:
    """The reference's "instancenorm": ``GroupNorm(channels, channels, affine=True)``."""
    return GroupNorm(channels, channels, affine=True)

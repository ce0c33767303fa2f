"""The augmentations of the field's evaluation protocols, as the reference code applies them.

- :class:`DSAEval`: DSA while *training the evaluation networks* (protocols ``dsa``/``dm``). The reference
  (VICO-UoE/DatasetCondensation ``utils.py``: ``epoch(..., aug=True)`` -> ``DiffAugment(img, strategy,
  param=ParamDiffAug())`` with no seed, mode ``'S'``) draws ONE family per batch (``torch.randint`` once per
  call) and that family's parameters per image. dd_explore's :class:`~dd_explore.distill.augment.DSA`
  object, called directly, draws a family per image; this wrapper reproduces the reference's per-batch
  choice with the same parameter ranges (brightness 1.0, saturation 2.0, contrast 0.5, crop 0.125,
  cutout 0.5, flip 0.5, scale 1.2, rotate 15 degrees).
- :class:`DCAugment`: DC's augmentation (protocol ``dc``; the reference's ``augment(images, dc_aug_param)``
  with ``get_daparam``: crop 4 px, scale 0.2, rotate 45 degrees, noise 0.001; strategy
  ``crop_scale_rotate`` for MNIST, ``crop_noise`` for ConvNetBN). One family per image, drawn uniformly
  among the strategy's. Crop pads by ``crop`` pixels with the batch's per-channel mean and cuts an HxW
  window at an offset in [0, 2 crop); scale resizes (nearest) each side by a factor in [1 - s, 1 + s] and
  centre-crops / zero-pads back; rotate turns by an integer angle in [-45, 45) degrees about the centre,
  filling with the mean of the channel means (bilinear here; the reference uses scipy's cubic spline);
  noise adds 0.001 x N(0, 1). Our own code, vectorized over the batch.

Both take ``(x, generator)`` and draw every random number from the explicit CPU generator.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from dd_explore.distill.augment import DSA, FAMILIES

DC_FAMILIES = ("crop", "scale", "rotate", "noise")


class DSAEval:
    """DSA for evaluation training: one family per batch (drawn from the generator), parameters per image."""

    def __init__(self, dsa: DSA | None = None):
        self.dsa = dsa if dsa is not None else DSA()
        self.dsa.families()  # validate the strategy now

    @property
    def name(self) -> str:
        return f"dsa-eval:{self.dsa.strategy}"

    def to_dict(self) -> dict:
        return {**self.dsa.to_dict(), "family": "one per batch", "parameters": "per image"}

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        fams = self.dsa.families()
        n = x.shape[0]
        params = self.dsa.sample(n, generator, tuple(x.shape[2:]))
        k = int(torch.randint(len(fams), (1,), generator=generator))
        active = torch.zeros(n, len(FAMILIES), dtype=torch.bool)
        active[:, FAMILIES.index(fams[k])] = True
        return self.dsa.apply(x, replace(params, active=active))


class DCAugment:
    """DC's evaluation augmentation (see the module docstring); ``strategy`` '_'-joins names of
    :data:`DC_FAMILIES`."""

    def __init__(self, strategy: str = "crop_scale_rotate", crop: int = 4, scale: float = 0.2, rotate: int = 45,
                 noise: float = 0.001):
        fams = tuple(s for s in strategy.split("_") if s)
        bad = [f for f in fams if f not in DC_FAMILIES]
        if bad or not fams:
            raise ValueError(f"dc strategy must be '_'-joined names from {list(DC_FAMILIES)}; got {strategy!r}")
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < 1:
            raise ValueError(f"dc crop must be a positive int (pixels); got {crop!r}")
        if not 0 <= scale < 1:
            raise ValueError(f"dc scale must be in [0, 1); got {scale!r}")
        if isinstance(rotate, bool) or not isinstance(rotate, int) or rotate < 1:
            raise ValueError(f"dc rotate must be a positive int (degrees); got {rotate!r}")
        self.strategy, self.families = strategy, fams
        self.crop, self.scale, self.rotate, self.noise = crop, float(scale), rotate, float(noise)

    @property
    def name(self) -> str:
        return f"dc:{self.strategy}"

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "crop": self.crop, "scale": self.scale, "rotate": self.rotate,
                "noise": self.noise, "family": "one per image"}

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        if n == 0:
            return x
        g = generator
        choice = torch.randint(len(self.families), (n,), generator=g)
        mean = x.detach().mean(dim=(0, 2, 3))  # per channel, over the batch (the reference's fill value)
        out = x.clone()
        for k, fam in enumerate(self.families):
            idx = torch.nonzero(choice == k, as_tuple=False).flatten()
            if idx.numel() == 0:
                continue
            d = idx.to(x.device)
            sub = x.index_select(0, d)
            if fam == "crop":
                sub = self._crop(sub, mean, g)
            elif fam == "scale":
                sub = self._scale(sub, g)
            elif fam == "rotate":
                sub = self._rotate(sub, float(mean.mean()), g)
            else:
                sub = sub + self.noise * torch.randn(sub.shape, generator=g).to(sub.device, sub.dtype)
            out = out.index_copy(0, d, sub)
        return out

    def _crop(self, x: torch.Tensor, mean: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.crop
        canvas = mean.view(1, c, 1, 1).expand(n, c, h + 2 * p, w + 2 * p).clone()
        canvas[:, :, p:p + h, p:p + w] = x
        r = torch.randint(0, 2 * p, (n,), generator=g).to(x.device)
        s = torch.randint(0, 2 * p, (n,), generator=g).to(x.device)
        rows = (torch.arange(h, device=x.device).view(1, h, 1) + r.view(-1, 1, 1)).expand(n, h, w)
        cols = (torch.arange(w, device=x.device).view(1, 1, w) + s.view(-1, 1, 1)).expand(n, h, w)
        batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
        return canvas.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

    def _scale(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        u = torch.rand(n, 2, generator=g)
        factors = (1 - self.scale) + 2 * self.scale * u
        sh = (factors[:, 0] * h).long().clamp(min=1)  # the reference scales both sides by shape[2]
        sw = (factors[:, 1] * h).long().clamp(min=1)
        big = torch.maximum(torch.maximum(sh, sw), torch.tensor(max(h, w)))
        # output pixel (i, j) = canvas (i + (M-H)//2, j + (M-W)//2) = scaled (that - (M-sh)//2, ...)
        i = torch.arange(h).view(1, h) + ((big - h) // 2).view(-1, 1) - ((big - sh) // 2).view(-1, 1)
        j = torch.arange(w).view(1, w) + ((big - w) // 2).view(-1, 1) - ((big - sw) // 2).view(-1, 1)
        inside = ((i >= 0) & (i < sh.view(-1, 1))).unsqueeze(2) & ((j >= 0) & (j < sw.view(-1, 1))).unsqueeze(1)
        src_i = (i.clamp(min=0) * h // sh.view(-1, 1)).clamp(max=h - 1)  # nearest: floor(dst * in / out)
        src_j = (j.clamp(min=0) * w // sw.view(-1, 1)).clamp(max=w - 1)
        batch = torch.arange(n).view(n, 1, 1).expand(n, h, w)
        rows = src_i.unsqueeze(2).expand(n, h, w)
        cols = src_j.unsqueeze(1).expand(n, h, w)
        dev = x.device
        picked = x.permute(0, 2, 3, 1)[batch.to(dev), rows.to(dev), cols.to(dev)].permute(0, 3, 1, 2)
        return picked * inside.to(dev, x.dtype).unsqueeze(1)

    def _rotate(self, x: torch.Tensor, fill: float, g: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        deg = torch.randint(-self.rotate, self.rotate, (n,), generator=g).to(torch.float32)
        ang = deg * math.pi / 180
        cos, sin = torch.cos(ang), torch.sin(ang)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x - fill, grid, align_corners=False) + fill


__all__ = ["DC_FAMILIES", "DCAugment", "DSAEval"]

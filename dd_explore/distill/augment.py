"""Differentiable siamese augmentation (DSA, Zhao & Bilen 2021): colour, crop, cutout, flip, scale, rotate.

Every transform is differentiable in the images. Random parameters are drawn from an explicit CPU
``torch.Generator`` by :meth:`DSA.sample` and applied by :meth:`DSA.apply`; applying the *same*
parameters to a real and a synthetic batch (the "siamese" part) is ``apply(x, p, groups)`` with
``groups`` mapping each image to its parameter set (e.g. its class).

>>> import torch
>>> from dd_explore.distill.augment import DSA, augment
>>> g = torch.Generator().manual_seed(0)
>>> dsa = DSA()
>>> p = dsa.sample(2, g, (8, 8))               # two parameter sets (e.g. two classes)
>>> real, syn = torch.randn(8, 1, 8, 8), torch.randn(4, 1, 8, 8)
>>> groups_real, groups_syn = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), torch.tensor([0, 0, 1, 1])
>>> a, b = dsa.apply(real, p, groups_real), dsa.apply(syn, p, groups_syn)
>>> augment(real, g).shape                     # plain per-image augmentation for evaluate(augment=...)
torch.Size([8, 1, 8, 8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")
MODES = ("single", "all")


@dataclass(frozen=True)
class AugmentParams:
    """Random parameters for ``G`` parameter sets (tensors on the CPU, first dimension G).

    ``active`` (G, 6) bool says which families (order of :data:`FAMILIES`) each set applies.
    """

    active: torch.Tensor
    brightness: torch.Tensor
    saturation: torch.Tensor
    contrast: torch.Tensor
    translate: torch.Tensor  # (G, 2) int64 pixel shifts (rows, cols)
    cutout: torch.Tensor  # (G, 2) int64 cutout centres (rows, cols)
    flip: torch.Tensor  # (G,) bool
    scale: torch.Tensor  # (G, 2) float
    rotate: torch.Tensor  # (G,) radians

    def __len__(self) -> int:
        return int(self.active.shape[0])


class DSA:
    """DSA augmentation with the reference defaults (strategy ``color_crop_cutout_flip_scale_rotate``).

    ``mode="single"`` (the reference's ``'S'``) applies one family per parameter set, drawn uniformly
    among ``strategy``; ``mode="all"`` applies every family of ``strategy`` in turn.
    Calling the object, ``dsa(x, generator)``, augments each image independently (for
    ``dd_explore.evaluate.evaluate(augment=...)``).
    """

    def __init__(
        self,
        strategy: str = "color_crop_cutout_flip_scale_rotate",
        mode: str = "single",
        brightness: float = 1.0,
        saturation: float = 2.0,
        contrast: float = 0.5,
        crop: float = 0.125,
        cutout: float = 0.5,
        flip: float = 0.5,
        scale: float = 1.2,
        rotate: float = 15.0,
    ):
        self.strategy = strategy
        self.mode = mode
        self.brightness = brightness
        self.saturation = saturation
        self.contrast = contrast
        self.crop = crop
        self.cutout = cutout
        self.flip = flip
        self.scale = scale
        self.rotate = rotate

    @property
    def name(self) -> str:
        return f"dsa:{self.strategy}:{self.mode}"

    def families(self) -> tuple[str, ...]:
        names = tuple(s for s in self.strategy.split("_") if s)
        bad = [s for s in names if s not in FAMILIES]
        if bad or not names:
            raise ValueError(f"dsa strategy must be '_'-joined names from {list(FAMILIES)}; got {self.strategy!r}")
        if self.mode not in MODES:
            raise ValueError(f"dsa mode must be one of {list(MODES)}; got {self.mode!r}")
        return names

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("strategy", "mode", "brightness", "saturation", "contrast", "crop",
                                              "cutout", "flip", "scale", "rotate")}

    # ------------------------------------------------------------------ parameters
    def sample(self, n: int, generator: torch.Generator, image_size: tuple[int, int]) -> AugmentParams:
        """Draw ``n`` parameter sets for (H, W) images from ``generator`` (same number of draws for any strategy)."""
        fams = self.families()
        g = generator
        h, w = int(image_size[0]), int(image_size[1])
        u = torch.rand(n, 8, generator=g)  # brightness, saturation, contrast, flip, scale x/y, rotate, family
        shift_h, shift_w = int(h * self.crop + 0.5), int(w * self.crop + 0.5)
        translate = torch.stack([
            torch.randint(-shift_h, shift_h + 1, (n,), generator=g),
            torch.randint(-shift_w, shift_w + 1, (n,), generator=g),
        ], 1)
        cut_h, cut_w = int(h * self.cutout + 0.5), int(w * self.cutout + 0.5)
        centre = torch.stack([
            torch.randint(0, h + (1 - cut_h % 2), (n,), generator=g),
            torch.randint(0, w + (1 - cut_w % 2), (n,), generator=g),
        ], 1)
        enabled = torch.tensor([f in fams for f in FAMILIES])
        if self.mode == "single":
            choice = torch.tensor([FAMILIES.index(f) for f in fams])[(u[:, 7] * len(fams)).long().clamp(max=len(fams) - 1)]
            active = F.one_hot(choice, len(FAMILIES)).bool()
        else:
            active = enabled.expand(n, -1).clone()
        ratio = self.scale
        return AugmentParams(
            active=active,
            brightness=(u[:, 0] - 0.5) * self.brightness,
            saturation=u[:, 1] * self.saturation,
            contrast=u[:, 2] + self.contrast,
            translate=translate,
            cutout=centre,
            flip=u[:, 3] < self.flip,
            scale=u[:, 4:6] * (ratio - 1.0 / ratio) + 1.0 / ratio,
            rotate=(u[:, 6] - 0.5) * 2 * self.rotate / 180 * math.pi,
        )

    # ------------------------------------------------------------------ application
    def apply(self, x: torch.Tensor, params: AugmentParams, groups: torch.Tensor | None = None) -> torch.Tensor:
        """Augment ``x`` (n, C, H, W); image i uses parameter set ``groups[i]`` (default: set i, or set 0 if G == 1)."""
        n, _, h, w = x.shape
        dev = x.device
        if groups is None:
            groups = torch.zeros(n, dtype=torch.long) if len(params) == 1 else torch.arange(n)
        groups = groups.to("cpu", torch.long)
        if n == 0:
            return x
        act = params.active[groups]  # (n, 6)

        def sel(col: int) -> torch.Tensor:
            return torch.nonzero(act[:, col], as_tuple=False).flatten()

        # colour: brightness, saturation, contrast (the reference applies all three)
        idx = sel(0)
        if idx.numel():
            gi = groups[idx]
            b = params.brightness[gi].to(dev, x.dtype).view(-1, 1, 1, 1)
            s = params.saturation[gi].to(dev, x.dtype).view(-1, 1, 1, 1)
            c = params.contrast[gi].to(dev, x.dtype).view(-1, 1, 1, 1)
            d = idx.to(dev)
            y = x.index_select(0, d) + b
            m = y.mean(dim=1, keepdim=True)
            y = (y - m) * s + m
            m = y.mean(dim=(1, 2, 3), keepdim=True)
            y = (y - m) * c + m
            x = x.index_copy(0, d, y)
        # crop: translate by whole pixels, zero padding
        idx = sel(1)
        if idx.numel():
            t = params.translate[groups[idx]]
            d = idx.to(dev)
            x = x.index_copy(0, d, _translate(x.index_select(0, d), t.to(dev)))
        # cutout: a square of zeros
        idx = sel(2)
        if idx.numel():
            ctr = params.cutout[groups[idx]].to(dev)
            ch, cw = int(h * self.cutout + 0.5), int(w * self.cutout + 0.5)
            rows = torch.arange(h, device=dev).view(1, h)
            cols = torch.arange(w, device=dev).view(1, w)
            r0 = (ctr[:, 0] - ch // 2).view(-1, 1)
            c0 = (ctr[:, 1] - cw // 2).view(-1, 1)
            in_r = (rows >= r0) & (rows < r0 + ch)
            in_c = (cols >= c0) & (cols < c0 + cw)
            mask = ~(in_r.unsqueeze(2) & in_c.unsqueeze(1))
            d = idx.to(dev)
            x = x.index_copy(0, d, x.index_select(0, d) * mask.unsqueeze(1).to(x.dtype))
        # flip (horizontal, with probability ``flip``)
        idx = sel(3)
        if idx.numel():
            idx = idx[params.flip[groups[idx]]]
            if idx.numel():
                d = idx.to(dev)
                x = x.index_copy(0, d, x.index_select(0, d).flip(3))
        # scale and rotate: an affine resampling
        theta = torch.eye(2, 3).repeat(n, 1, 1)
        need = act[:, 4] | act[:, 5]
        if bool(need.any()):
            sc = torch.where(act[:, 4:5], params.scale[groups], torch.ones(n, 2))
            ang = torch.where(act[:, 5], params.rotate[groups], torch.zeros(n))
            cos, sin = torch.cos(ang), torch.sin(ang)
            rot = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # (n, 2, 2)
            theta[:, :, :2] = rot @ torch.diag_embed(sc)
            idx = torch.nonzero(need, as_tuple=False).flatten()
            d = idx.to(dev)
            sub = x.index_select(0, d)
            grid = F.affine_grid(theta[idx].to(dev, x.dtype), list(sub.shape), align_corners=True)
            x = x.index_copy(0, d, F.grid_sample(sub, grid, align_corners=True))
        return x

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment every image with its own random parameters."""
        return self.apply(x, self.sample(x.shape[0], generator, tuple(x.shape[2:])))


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each image by whole pixels (rows, cols), filling with zeros (the reference's crop)."""
    n, c, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).view(1, h, 1) + shift[:, 0].view(-1, 1, 1) + 1
    cols = torch.arange(w, device=dev).view(1, 1, w) + shift[:, 1].view(-1, 1, 1) + 1
    rows = rows.clamp(0, h + 1).expand(n, h, w)
    cols = cols.clamp(0, w + 1).expand(n, h, w)
    batch = torch.arange(n, device=dev).view(n, 1, 1).expand(n, h, w)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


augment = DSA()
"""``augment(x, generator)``: DSA with the reference defaults, each image its own parameters."""

__all__ = ["AugmentParams", "DSA", "FAMILIES", "augment"]

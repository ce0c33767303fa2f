"""DSA: DC with differentiable siamese augmentation (Zhao & Bilen, ICML 2021).

Gradient matching as in :mod:`dd_explore.distill.methods.dc`, with the real and the synthetic batch of
each matching augmented with the *same* random DSA parameters (colour, crop, cutout, flip, scale,
rotate; one family per matching, as the reference's mode 'S'), and the inner network trained on
augmented synthetic images.
"""

from __future__ import annotations

from dataclasses import dataclass

from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.dc import DC, DCOptions
from dd_explore.options import default


@dataclass(frozen=True)
class DSAOptions(DCOptions):
    """DC's options with ``dsa=True``."""

    dsa: bool = default(DCOptions, "dsa", True)


@METHODS.register("dsa")
class DSAMethod(DC):
    Options = DSAOptions

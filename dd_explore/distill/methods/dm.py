"""DM: distribution matching (Zhao & Bilen, WACV 2023).

Each step draws a freshly initialized random ConvNet (seeded from the run's generator) and moves the
synthetic images so that, per class, their mean embedding matches the mean embedding of a real batch:
loss = sum_c || mean_i phi(real_ci) - mean_j phi(syn_cj) ||^2. All classes go through the network in
one forward pass (the ConvNet's instance norm is per image, so this equals the per-class loop).
With ``dsa=True`` (the reference default), real and synthetic images of a class get the same DSA
augmentation parameters. Importance weights (``weighting="reweight"``) turn the real class mean into
the unbiased weighted mean (1/n) sum_i w_i phi(x_i).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dd_explore.distill.methods import METHODS
from dd_explore.distributed import all_reduce_sum
from dd_explore.distill.methods.base import (
    ImageMethod,
    ImageOptions,
    MethodContext,
    RealBatches,
    StepOutput,
    embed,
    make_network,
)
from dd_explore.device import PRECISIONS, autocast
from dd_explore.options import Choice, default, option


@dataclass(frozen=True)
class DMOptions(ImageOptions):
    """DM's defaults: ``lr_img`` 1.0 and ``momentum`` 0.5 (the reference's), ``batch_real`` 64 (the
    reference code's 256 costs 4x on CPUs for little gain at IPC <= 10), DSA on (the reference's).
    ``precision`` "bf16" runs the embedding network's forward passes under bfloat16 autocast (the images, the
    class means and the loss stay fp32); BENCHMARKS.md has its speed and its effect on accuracy."""

    lr_img: float = default(ImageOptions, "lr_img", 1.0)
    batch_real: int = default(ImageOptions, "batch_real", 64)
    dsa: bool = default(ImageOptions, "dsa", True)
    precision: str = option("fp32", "arithmetic of the embedding network: fp32, or bf16 autocast (faster on GPUs "
                            "and AVX512-BF16 CPUs)", Choice(PRECISIONS))


@METHODS.register("dm")
class DM(ImageMethod):
    Options = DMOptions
    default_steps, default_probe, default_refresh = 1000, "network", 10

    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        o = self.options
        ds = ctx.dataset
        num_classes = ds.num_classes
        net = make_network(o, ds, ctx.generator, ctx.device)
        net.train()
        for p in net.parameters():
            p.requires_grad_(False)
        split = ctx.dist.active  # several ranks: this one matches its own classes only
        own = ctx.owned_classes
        real = batches.draw(tuple(range(num_classes)), o.batch_real, only=own if split else None)
        x_syn, syn_labels, syn_groups = self.images, self.labels, self.labels_cpu
        if split:
            rows = torch.nonzero(torch.isin(self.labels_cpu, torch.tensor(own)), as_tuple=False).flatten()
            x_syn = self.images.index_select(0, rows.to(self.images.device))
            syn_labels, syn_groups = self.labels.index_select(0, rows.to(self.labels.device)), self.labels_cpu[rows]
        x_real = real.images
        if self.dsa is not None:
            params = self.dsa.sample(num_classes, ctx.generator, ds.image_size)  # every class's, on every rank
            x_real = self.dsa.apply(x_real, params, real.labels_cpu())
            x_syn = self.dsa.apply(x_syn, params, syn_groups)
        with torch.no_grad():
            with autocast(ctx.device, o.precision):
                emb_real = embed(net, x_real, self.channels_last, self.chunk)
            mean_real = class_means(emb_real.float(), real.labels, num_classes, real.weights)
        with autocast(ctx.device, o.precision):
            emb_syn = embed(net, x_syn, self.channels_last, self.chunk)
        mean_syn = class_means(emb_syn.float(), syn_labels, num_classes, None)
        per_class = ((mean_real - mean_syn) ** 2).sum(1)
        if split:  # other ranks' classes are theirs: 0 here, their value after the sum
            mask = torch.zeros(num_classes, dtype=per_class.dtype, device=per_class.device)
            mask[own] = 1
            per_class = per_class * mask
        loss = per_class.sum()
        self.step_images(ctx, loss)
        per_class = all_reduce_sum(per_class.detach().clone())
        return StepOutput(float(per_class.sum()) if split else float(loss.detach()),
                          {"class_loss": per_class.cpu().tolist()})


def class_means(emb: torch.Tensor, labels: torch.Tensor, num_classes: int, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-class mean of ``emb`` rows; with ``weights``, the importance-weighted mean (1/n_c) sum w_i e_i."""
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).to(emb.dtype).unsqueeze(1)
    if weights is not None:
        emb = emb * weights.unsqueeze(1)
    sums = torch.zeros(num_classes, emb.shape[1], dtype=emb.dtype, device=emb.device).index_add(0, labels, emb)
    return sums / counts

"""DC: dataset condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021).

One step is one outer iteration: a freshly initialized network (seeded from the run's generator) is
alternately (a) used to match, class by class, the gradient of the loss on a real batch with the
gradient on the synthetic images of that class (the field's layer-wise distance: sum over output units
of 1 - cos between the per-unit gradient rows; bias and norm parameters contribute 0), updating the
images, and (b) trained for ``inner_loop`` epochs on the synthetic set; ``outer_loop`` times. Defaults of
``outer_loop``/``inner_loop`` follow the reference table for the IPC (1: 1/1, 10: 10/50, 20: 20/25,
30: 30/20, 40: 40/15, 50: 50/10). The probe (``probe="method"``) is the cross-entropy of the network
of the previous step, trained on the synthetic set, on each real point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dd_explore.distill.methods import METHODS
from dd_explore.distributed import all_reduce_sum
from dd_explore.distill.methods.base import (
    ImageMethod,
    ImageOptions,
    MethodContext,
    RealBatches,
    StepOutput,
    forward,
    loss_grad,
    make_network,
)
from dd_explore.options import Int, Number, default, option
from dd_explore.train import sgd_epochs

LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def default_loops(ipc: int) -> tuple[int, int]:
    """The reference's (outer_loop, inner_loop) for ``ipc`` (nearest tabulated IPC at or below)."""
    key = max(k for k in LOOPS if k <= ipc) if ipc >= 1 else 1
    return LOOPS[key]


@dataclass(frozen=True)
class DCOptions(ImageOptions):
    """DC's defaults (the reference's): ``lr_img`` 0.1, ``momentum`` 0.5, ``batch_real`` 256, no DSA."""

    lr_img: float = default(ImageOptions, "lr_img", 0.1)
    batch_real: int = default(ImageOptions, "batch_real", 256)
    lr_net: float = option(0.01, "SGD learning rate of the network trained between matchings", Number())
    batch_train: int = option(256, "batch size of the network's training on the synthetic set", Int())
    outer_loop: int | None = option(None, "matchings per step, each on a fresh network state",
                                    Int(optional=True, none="the reference table for the IPC"))
    inner_loop: int | None = option(None, "epochs of network training on the synthetic set between matchings",
                                    Int(optional=True, none="the reference table for the IPC"))


def match_distance(gw_syn: list[torch.Tensor], gw_real: list[torch.Tensor]) -> torch.Tensor:
    """The field's layer-wise gradient distance ("ours" in the DC code)."""
    total = gw_syn[0].new_zeros(())
    for gs, gr in zip(gw_syn, gw_real):
        if gs.ndim == 1:
            continue
        gs = gs.reshape(gs.shape[0], -1)
        gr = gr.reshape(gr.shape[0], -1)
        cos = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
        total = total + (1 - cos).sum()
    return total


@METHODS.register("dc")
class DC(ImageMethod):
    Options = DCOptions
    default_steps, default_probe, default_refresh = 200, "method", 1

    def loops(self, ipc: int) -> tuple[int, int]:
        outer, inner = default_loops(ipc)
        o = self.options
        return (o.outer_loop if o.outer_loop is not None else outer, o.inner_loop if o.inner_loop is not None else inner)

    def setup_method(self, ctx: MethodContext) -> None:
        self.net = None  # the network of the last step (the probe)
        self._arch = (ctx.dataset.channels, ctx.dataset.num_classes, ctx.dataset.image_size)

    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        o = self.options
        ds = ctx.dataset
        outer, inner = self.loops(ctx.ipc)
        net = make_network(o, ds, ctx.generator, ctx.device)
        net.train()
        params = [p for p in net.parameters() if p.ndim > 1]  # 1-d parameters add 0 to the distance
        net_opt = torch.optim.SGD(net.parameters(), lr=o.lr_net)
        total = 0.0
        ipc = ctx.ipc
        own = set(ctx.owned_classes)
        for ol in range(outer):
            loss = self.images.new_zeros(())
            for c in range(ds.num_classes):
                # every rank draws every class's batch and augmentation (the same random streams as one
                # process); a rank matches its own classes only
                real = batches.draw(c, o.batch_real, only=None if c in own else ())
                params_aug = self.dsa.sample(1, ctx.generator, ds.image_size) if self.dsa is not None else None
                if c not in own:
                    continue
                x_syn = self.images[c * ipc : (c + 1) * ipc]
                x_real = real.images
                if params_aug is not None:
                    x_real, x_syn = self.dsa.apply(x_real, params_aug), self.dsa.apply(x_syn, params_aug)
                gw_real = loss_grad(net, params, x_real, real.labels, real.weights, self.channels_last, self.chunk)
                l_syn = F.cross_entropy(forward(net, x_syn, self.channels_last), self.labels[c * ipc : (c + 1) * ipc])
                gw_syn = torch.autograd.grad(l_syn, params, create_graph=True)
                loss = loss + match_distance(gw_syn, gw_real)
            self.step_images(ctx, loss)
            total += float(all_reduce_sum(loss.detach().clone()))
            if ol == outer - 1:
                break
            self._train_inner(ctx, net, net_opt, inner)
        self.net = net
        return StepOutput(total / (outer * ds.num_classes))

    def _train_inner(self, ctx, net, net_opt, epochs: int) -> None:
        sgd_epochs(net, self.images.detach(), self.labels, net_opt, epochs=epochs, batch_size=self.options.batch_train,
                   generator=ctx.generator, augment=self.dsa, forward=lambda x: forward(net, x, self.channels_last),
                   chunk=self.chunk)

    @torch.no_grad()
    def probe_losses(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        if self.net is None:
            return None
        self.net.eval()
        step = self.chunk or 1024
        out = [F.cross_entropy(forward(self.net, images[i : i + step], self.channels_last), labels[i : i + step],
                               reduction="none") for i in range(0, images.shape[0], step)]
        self.net.train()
        return torch.cat(out) if out else images.new_zeros(0)

    def extra_state(self) -> dict:
        if self.net is None:
            return {}
        return {"net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}}

    def load_extra_state(self, state: dict) -> None:
        self.net = None
        if "net" in state:
            from dd_explore import models
            from dd_explore._random import seeded

            o = self.options
            channels, num_classes, image_size = self._arch
            with seeded(0):  # the architecture only; the weights come from the checkpoint
                net = models.create(o.model, channels=channels, num_classes=num_classes, image_size=image_size,
                                    **o.model_kwargs())
            net.load_state_dict(state["net"])
            self.net = net.to(self.images.device)
            if self.channels_last:
                self.net = self.net.to(memory_format=torch.channels_last)

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

from dd_explore.distill.augment import DSA
from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import (
    DistillMethod,
    MethodContext,
    ModelOptions,
    RealBatches,
    StepOutput,
    chunk_size,
    forward,
    loss_grad,
    make_network,
    use_channels_last,
)

LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def default_loops(ipc: int) -> tuple[int, int]:
    """The reference's (outer_loop, inner_loop) for ``ipc`` (nearest tabulated IPC at or below)."""
    key = max(k for k in LOOPS if k <= ipc) if ipc >= 1 else 1
    return LOOPS[key]


@dataclass(frozen=True)
class DCOptions(ModelOptions):
    """``lr_img``/``momentum``: SGD on the images (reference 0.1, 0.5); ``lr_net``: the inner network's SGD
    (0.01); ``batch_real``: real images per class per matching (256); ``batch_train``: inner training batch
    (256); ``outer_loop``/``inner_loop``: None -> the reference table; ``dsa``: siamese augmentation;
    ``chunk``: images per forward/backward pass for real batches and inner training (None: 32 on CPUs,
    where it is ~2x faster; gradients accumulate, same values up to rounding)."""

    lr_img: float = 0.1
    momentum: float = 0.5
    lr_net: float = 0.01
    batch_real: int = 256
    batch_train: int = 256
    outer_loop: int | None = None
    inner_loop: int | None = None
    dsa: bool = False
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    chunk: int | None = None


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
class DC(DistillMethod):
    name = "dc"
    Options = DCOptions
    default_steps = 200
    default_probe = "method"
    default_refresh = 1

    def check(self, dataset, ipc) -> None:
        super().check(dataset, ipc)
        if self.options.dsa:
            DSA(strategy=self.options.dsa_strategy).families()

    def loops(self, ipc: int) -> tuple[int, int]:
        outer, inner = default_loops(ipc)
        o = self.options
        return (o.outer_loop if o.outer_loop is not None else outer, o.inner_loop if o.inner_loop is not None else inner)

    def setup(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> None:
        o = self.options
        self.channels_last = use_channels_last(o, ctx.device)
        self.images = images.detach().clone().to(ctx.device).requires_grad_(True)
        self.labels = labels.clone().to(ctx.device)
        self.optimizer = torch.optim.SGD([self.images], lr=o.lr_img, momentum=o.momentum)
        self.dsa = DSA(strategy=o.dsa_strategy) if o.dsa else None
        self.chunk = chunk_size(o, ctx.device, o.chunk)
        self.net = None  # the network of the last step (the probe)
        self._arch = (ctx.dataset.channels, ctx.dataset.num_classes, ctx.dataset.image_size)

    def _augment_pair(self, ctx, x_real, x_syn):
        if self.dsa is None:
            return x_real, x_syn
        params = self.dsa.sample(1, ctx.generator, ctx.dataset.image_size)
        return self.dsa.apply(x_real, params), self.dsa.apply(x_syn, params)

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
        for ol in range(outer):
            loss = self.images.new_zeros(())
            for c in range(ds.num_classes):
                real = batches.draw(c, o.batch_real)
                x_syn = self.images[c * ipc : (c + 1) * ipc]
                x_real, x_syn = self._augment_pair(ctx, real.images, x_syn)
                gw_real = loss_grad(net, params, x_real, real.labels, real.weights, self.channels_last, self.chunk)
                l_syn = F.cross_entropy(forward(net, x_syn, self.channels_last), self.labels[c * ipc : (c + 1) * ipc])
                gw_syn = torch.autograd.grad(l_syn, params, create_graph=True)
                loss = loss + match_distance(gw_syn, gw_real)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
            if ol == outer - 1:
                break
            self._train_inner(ctx, net, net_opt, inner)
        self.net = net
        return StepOutput(total / (outer * ds.num_classes))

    def _train_inner(self, ctx, net, net_opt, epochs: int) -> None:
        x_all = self.images.detach()
        y_all = self.labels
        n = x_all.shape[0]
        bs = self.options.batch_train
        all_params = list(net.parameters())
        for _ in range(epochs):
            order = torch.randperm(n, generator=ctx.generator).to(x_all.device)
            for i in range(0, n, bs):
                idx = order[i : i + bs]
                x = x_all[idx]
                if self.dsa is not None:
                    x = self.dsa(x, ctx.generator)
                grads = loss_grad(net, all_params, x, y_all[idx], None, self.channels_last, self.chunk)
                for p, g in zip(all_params, grads):
                    p.grad = g
                net_opt.step()

    @torch.no_grad()
    def probe_losses(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        if self.net is None:
            return None
        self.net.eval()
        step = self.chunk or 1024
        out = [F.cross_entropy(forward(self.net, images[i : i + step], self.channels_last), labels[i : i + step],
                               reduction="none") for i in range(0, images.shape[0], step)]
        self.net.train()
        return torch.cat(out)

    def synthetic(self):
        return self.images.detach().contiguous().clone(), self.labels.clone(), None

    def state_dict(self) -> dict:
        state = {"images": self.images.detach().contiguous().cpu().clone(), "optimizer": self.optimizer.state_dict()}
        if self.net is not None:
            state["net"] = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.net = None
        if "net" in state:
            from dd_explore import models

            o = self.options
            # the architecture only; the weights come from the checkpoint
            with torch.random.fork_rng(devices=[]):
                channels, num_classes, image_size = self._arch
                net = models.create(o.model, channels=channels, num_classes=num_classes, image_size=image_size,
                                    **o.model_kwargs())
            net.load_state_dict(state["net"])
            self.net = net.to(self.images.device)
            if self.channels_last:
                self.net = self.net.to(memory_format=torch.channels_last)

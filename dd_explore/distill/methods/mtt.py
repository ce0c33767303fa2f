"""MTT: matching training trajectories (Cazenavette et al., CVPR 2022).

Before the first step, ``num_experts`` networks ("experts") are trained on the real train split for
``max_start_epoch + expert_epochs`` epochs (SGD, ``lr_teacher``), and their parameters after every epoch
are kept in memory (the expert buffer). Each step then picks an expert e and a start epoch s at random,
starts a student at the expert's parameters theta*_s, trains it ``syn_steps`` SGD steps on the synthetic
images with a learnable learning rate (unrolled, differentiable), and moves the images (and that rate)
to bring the student's end point towards the target theta*_{s+M}:

    loss = ||theta_student - theta_target||^2 / ||theta*_s - theta_target||^2

``segment`` says where the target comes from:

- ``"buffer"`` (the reference): theta*_{s+M}, M = ``expert_epochs`` epochs further along the stored
  trajectory. Real images enter only through the experts, so each step draws no real batch and the run's
  batches must be uniform.
- ``"online"``: theta*_s trained ``online_steps`` SGD steps on real batches (``batch_real`` per class)
  drawn through the run's sampler, so ``batches="importance"`` decides which real points the target
  trajectory is made of (and ``weighting="reweight"`` weights their losses by 1/(n q)). Uniform online
  segments are the matching control.

The probe (``batches="importance"``) is the engine's network briefly trained on the synthetic set.
The experts are not in the checkpoint: a resumed run trains them again, identically, unless
``expert_dir`` names a folder where buffers are kept (``mtt-experts-<key>.pt``, the key hashing the
train split, the expert options, the expert seed and the device type) and reused by any run that needs
the same experts. ``expert_seed`` fixes the experts' seed (the reference's practice: one buffer per data
set, shared by every run); by default it is drawn from the run's seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call
from tqdm.auto import tqdm

from dd_explore.distill.augment import DSA
from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import (
    DistillMethod,
    MethodContext,
    ModelOptions,
    RealBatches,
    StepOutput,
    check_positive_int,
    make_network,
    seed_from,
)

SEGMENTS = ("buffer", "online")


@dataclass(frozen=True)
class MTTOptions(ModelOptions):
    """``lr_img``/``momentum``: SGD on the images (the reference's 1000; on 8x8 digits, whose per-pixel
    gradients are larger, use about 100); ``lr_lr``: SGD on the student's learning rate (reference 1e-5);
    ``lr_teacher``: the experts' SGD rate and the student's initial rate (0.01); ``num_experts`` (5),
    ``max_start_epoch`` (10), ``expert_epochs`` M (2), ``syn_steps`` N (20), ``batch_syn``: synthetic
    images per student step (None: all); ``batch_train``: the experts' batch (256); ``segment``:
    "buffer" or "online" (see the module); ``online_steps``/``batch_real``: the online segment's SGD steps
    and real images per class per step; ``dsa``: DSA augmentation (experts, student and online segments,
    as the reference); ``expert_seed``: None (drawn from the run's seed) or a fixed int; ``expert_dir``:
    a folder to keep and reuse expert buffers in (None: memory only); ``channels_last`` is not used (the
    unrolled student runs in the default layout)."""

    lr_img: float = 1000.0
    momentum: float = 0.5
    lr_lr: float = 1e-5
    lr_teacher: float = 0.01
    num_experts: int = 5
    max_start_epoch: int = 10
    expert_epochs: int = 2
    syn_steps: int = 20
    batch_syn: int | None = None
    batch_train: int = 256
    segment: str = "buffer"
    online_steps: int = 30
    batch_real: int = 25
    dsa: bool = True
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    expert_seed: int | None = None
    expert_dir: str | None = None


# the options that decide the experts (a buffer on disk is reused only when all of them match)
EXPERT_OPTIONS = ("model", "width", "depth", "norm", "pooling", "lr_teacher", "num_experts", "max_start_epoch",
                  "expert_epochs", "batch_train", "dsa", "dsa_strategy")


@METHODS.register("mtt")
class MTT(DistillMethod):
    name = "mtt"
    Options = MTTOptions
    default_steps = 1000
    default_probe = "network"
    default_refresh = 10

    def check(self, dataset, ipc) -> None:
        super().check(dataset, ipc)
        o = self.options
        for name in ("num_experts", "max_start_epoch", "expert_epochs", "syn_steps", "online_steps"):
            check_positive_int(name, getattr(o, name))
        if o.segment not in SEGMENTS:
            raise ValueError(f"segment must be one of {list(SEGMENTS)}; got {o.segment!r}")
        if o.dsa:
            DSA(strategy=o.dsa_strategy).families()
        seed = o.expert_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"expert_seed must be None or an int >= 0; got {seed!r}")
        if o.expert_dir is not None and (not isinstance(o.expert_dir, str) or not o.expert_dir
                                         or Path(o.expert_dir).is_file()):
            raise ValueError(f"expert_dir must be None or the path of a folder; got {o.expert_dir!r}")

    def check_batches(self, batches: str) -> None:
        if batches != "uniform" and self.options.segment == "buffer":
            raise ValueError(
                f"batches={batches!r} needs segment='online' for method 'mtt': with segment='buffer' (the default) "
                "the real data enter only through the expert buffer, trained before the first step, so no step "
                "draws a real batch; segment='online' draws each target segment's real batches by importance")

    # ------------------------------------------------------------------ set up: the expert buffer
    def setup(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> None:
        o = self.options
        self.images = images.detach().clone().to(ctx.device).requires_grad_(True)
        self.labels = labels.clone().to(ctx.device)
        self.syn_lr = torch.tensor(o.lr_teacher, device=ctx.device).requires_grad_(True)
        self.optimizer = torch.optim.SGD([self.images], lr=o.lr_img, momentum=o.momentum)
        self.optimizer_lr = torch.optim.SGD([self.syn_lr], lr=o.lr_lr, momentum=0.5)
        self.dsa = DSA(strategy=o.dsa_strategy) if o.dsa else None
        self.net_options = replace(o, channels_last="off")  # the unrolled student runs in the default layout
        self.net = make_network(self.net_options, ctx.dataset, ctx.generator, ctx.device)
        self.names = [name for name, _ in self.net.named_parameters()]
        drawn = seed_from(ctx.generator)  # drawn either way, so the rest of the run does not depend on it
        self.buffer = self._experts(ctx, drawn if o.expert_seed is None else o.expert_seed)

    def _experts(self, ctx: MethodContext, seed: int) -> list[list[list[torch.Tensor]]]:
        """The expert buffer for ``seed``: from ``expert_dir`` when it holds it, else trained (and saved there)."""
        o = self.options
        if o.expert_dir is None:
            return self._train_experts(ctx, torch.Generator().manual_seed(seed))
        path = Path(o.expert_dir) / f"mtt-experts-{self.buffer_key(ctx, seed)}.pt"
        if path.exists():
            saved = torch.load(path, weights_only=True, map_location="cpu")
            return [[[p.to(ctx.device) for p in params] for params in traj] for traj in saved]
        from dd_explore.distill.rundir import write_torch

        buffer = self._train_experts(ctx, torch.Generator().manual_seed(seed))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_torch(path, [[[p.cpu() for p in params] for params in traj] for traj in buffer])  # atomic
        return buffer

    def buffer_key(self, ctx: MethodContext, seed: int) -> str:
        """Hash of what decides the experts: the train split, the expert options, ``seed``, the device type."""
        h = hashlib.sha256()
        train = ctx.dataset.train
        h.update(train.images.detach().cpu().contiguous().numpy().tobytes())
        h.update(train.labels.detach().cpu().contiguous().numpy().tobytes())
        opts = {k: getattr(self.options, k) for k in EXPERT_OPTIONS}
        h.update(json.dumps({"options": opts, "seed": int(seed), "device": ctx.device.type,
                             "shape": list(train.images.shape)}, sort_keys=True).encode())
        return h.hexdigest()[:20]

    def _train_experts(self, ctx: MethodContext, generator: torch.Generator) -> list[list[list[torch.Tensor]]]:
        """``buffer[e][t]``: expert e's parameters (detached, in ``self.names`` order) after t epochs."""
        o = self.options
        ds = ctx.dataset
        x_all, y_all = ds.train.images.to(ctx.device), ds.train.labels.to(ctx.device)
        n = x_all.shape[0]
        epochs = o.max_start_epoch + o.expert_epochs
        bar = tqdm(total=o.num_experts * epochs, desc="mtt: training experts", unit="epoch", leave=False,
                   disable=not ctx.progress)
        buffer = []
        for _ in range(o.num_experts):
            net = make_network(self.net_options, ds, generator, ctx.device)
            net.train()
            opt = torch.optim.SGD(net.parameters(), lr=o.lr_teacher)
            trajectory = [[p.detach().clone() for p in net.parameters()]]
            for _ in range(epochs):
                order = torch.randperm(n, generator=generator).to(ctx.device)
                for i in range(0, n, o.batch_train):
                    idx = order[i : i + o.batch_train]
                    x = self._augment(x_all.index_select(0, idx), generator, ds)
                    loss = F.cross_entropy(net(x), y_all.index_select(0, idx))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                trajectory.append([p.detach().clone() for p in net.parameters()])
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
            buffer.append(trajectory)
        bar.close()
        return buffer

    def _augment(self, x: torch.Tensor, generator: torch.Generator, ds) -> torch.Tensor:
        if self.dsa is None:
            return x
        return self.dsa.apply(x, self.dsa.sample(1, generator, ds.image_size))

    # ------------------------------------------------------------------ one step
    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        o = self.options
        g = ctx.generator
        e = int(torch.randint(0, o.num_experts, (1,), generator=g))
        s = int(torch.randint(0, o.max_start_epoch, (1,), generator=g))
        start = self.buffer[e][s]
        if o.segment == "buffer":
            target = self.buffer[e][s + o.expert_epochs]
        else:
            target = self._online_target(ctx, batches, start)
        params = [p.clone().requires_grad_(True) for p in start]
        n_syn = self.images.shape[0]
        bs = o.batch_syn or n_syn
        for _ in range(o.syn_steps):
            idx = torch.randperm(n_syn, generator=g)[:bs].to(self.images.device)
            x = self._augment(self.images.index_select(0, idx), g, ctx.dataset)
            out = functional_call(self.net, dict(zip(self.names, params)), (x,))
            ce = F.cross_entropy(out, self.labels.index_select(0, idx))
            grads = torch.autograd.grad(ce, params, create_graph=True)
            params = [p - self.syn_lr * gr for p, gr in zip(params, grads)]
        num = sum(((p - t) ** 2).sum() for p, t in zip(params, target))
        den = sum(((p0 - t) ** 2).sum() for p0, t in zip(start, target))
        loss = num / den.clamp_min(1e-12)
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer_lr.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.optimizer_lr.step()
        return StepOutput(float(loss.detach()), {"syn_lr": float(self.syn_lr.detach()), "expert": e, "start_epoch": s})

    def _online_target(self, ctx: MethodContext, batches: RealBatches, start: list[torch.Tensor]) -> list[torch.Tensor]:
        """theta*_s trained ``online_steps`` SGD steps on real batches drawn by the run's sampler."""
        o = self.options
        params = [p.clone() for p in start]
        for _ in range(o.online_steps):
            real = batches.draw_all(o.batch_real)
            x = self._augment(real.images, ctx.generator, ctx.dataset)
            leaf = [p.requires_grad_(True) for p in params]
            ce = F.cross_entropy(functional_call(self.net, dict(zip(self.names, leaf)), (x,)), real.labels,
                                 reduction="none")
            if real.weights is not None:
                ce = ce * real.weights
            grads = torch.autograd.grad(ce.mean(), leaf)
            params = [(p - o.lr_teacher * gr).detach() for p, gr in zip(leaf, grads)]
        return params

    # ------------------------------------------------------------------ state
    def synthetic(self):
        return self.images.detach().contiguous().clone(), self.labels.clone(), None

    def state_dict(self) -> dict:
        return {"images": self.images.detach().contiguous().cpu().clone(), "optimizer": self.optimizer.state_dict(),
                "syn_lr": self.syn_lr.detach().cpu().clone(), "optimizer_lr": self.optimizer_lr.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
            self.syn_lr.copy_(state["syn_lr"].to(self.syn_lr.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.optimizer_lr.load_state_dict(state["optimizer_lr"])

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
  drawn through the run's sampler (by default as many steps, of as many images, as the buffer's segment:
  an expert segment whose batches the sampler draws), so ``batches="importance"`` decides which real points the target
  trajectory is made of, and weights their losses by 1/(n q) (MTT's default ``weighting="reweight"``: the target
  stays an unbiased expert segment, drawn with less variance; ``weighting="none"`` trains it on the hard points).
  Uniform online segments are the matching control.

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

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from tqdm.auto import tqdm

from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import (
    ImageMethod,
    ImageOptions,
    MethodContext,
    RealBatches,
    StepOutput,
    make_network,
    seed_from,
)
from dd_explore.distributed import broadcast_object, gather_objects, merge_owned
from dd_explore.options import Choice, Int, Number, Text, default, option
from dd_explore.train import sgd_epochs

SEGMENTS = ("buffer", "online")


def _check_folder(name: str, value: str) -> None:
    if Path(value).is_file():
        raise ValueError(f"{name} must be None or the path of a folder; got {value!r}, which is a file")


@dataclass(frozen=True)
class MTTOptions(ImageOptions):
    """MTT's defaults: ``lr_img`` None, i.e. the reference's 1000 for 32x32 images scaled by the image area
    (the reference uses 1000 on CIFAR and 10,000 on 64x64 Tiny ImageNet; 1000 on 8x8 digits drove the
    pixels to +-16 and the set from 90.6 % to 62.5 % in 10 steps, 62.5 took it to 92.9 %), ``momentum`` 0.5,
    DSA on (experts, student and online segments, as the reference). ``batch_train``, ``max_start_epoch``,
    ``online_steps`` and ``batch_real`` None follow the reference's experts (:meth:`MTT.expert_batch`,
    :meth:`MTT.start_limit`, :meth:`MTT.online_segment` say how and why). ``channels_last`` is not used (the
    student runs in the default layout); ``chunk`` sets the images per student pass with
    ``meta_grad="recompute"`` (memory: one chunk's graph)."""

    lr_img: float | None = option(None, "learning rate of the synthetic images",
                                  Number(optional=True, none="1000 x H x W / 1024: the reference's 1000 at 32x32, "
                                                             "scaled by image area (62.5 on 8x8 digits)"))
    batch_real: int | None = option(None, "real images per class per step of an online segment",
                                    Int(optional=True, none="the experts' batch / classes, rounded up (2 on digits)"))
    dsa: bool = default(ImageOptions, "dsa", True)
    lr_lr: float = option(1e-5, "SGD learning rate of the student's learnable learning rate", Number())
    lr_teacher: float = option(0.01, "the experts' SGD rate and the student's initial rate", Number())
    num_experts: int = option(5, "expert trajectories trained on the real data", Int())
    max_start_epoch: int | None = option(None, "a segment starts at a random expert epoch below this",
                                         Int(optional=True, none="by IPC, the reference's CIFAR-10 values: 2 below "
                                             "IPC 10, 20 below IPC 50, else 40"))
    expert_epochs: int = option(2, "expert epochs M between a segment's start and its target", Int())
    syn_steps: int = option(20, "student SGD steps N on the synthetic set per segment", Int())
    batch_syn: int | None = option(None, "synthetic images per student step", Int(optional=True, none="all"))
    batch_train: int | None = option(None, "batch size of the experts' training",
                                     Int(optional=True, none="an expert epoch of the reference's 196 SGD steps: "
                                         "train images / 196, within [16, 256] (256 on CIFAR-10, 16 on digits)"))
    segment: str = option("buffer", "where the target comes from: the stored trajectory, or real batches drawn "
                          "by the run's sampler", Choice(SEGMENTS))
    online_steps: int | None = option(None, "SGD steps of an online target segment",
                                      Int(optional=True, none="the buffer segment's: expert_epochs x the SGD steps "
                                          "of an expert epoch (180 on digits)"))
    expert_seed: int | None = option(None, "the experts' seed", Int(0, optional=True, none="drawn from the run's seed"))
    expert_dir: str | None = option(None, "folder where expert buffers are kept and reused",
                                    Text(optional=True, none="memory only", check=_check_folder))
    meta_grad: str = option("unrolled", "matching gradient: keep the whole unrolled student graph, or recompute "
                            "one student step (one chunk of images) at a time: same gradient, bounded memory",
                            Choice(("unrolled", "recompute")))


# the reference's experts: CIFAR-10 (50,000 images) at batch 256, 196 SGD steps per epoch; a smaller split gets a
# smaller batch (not below 16) so that an epoch stays about that many steps
REFERENCE_BATCH, REFERENCE_EPOCH_STEPS, MIN_EXPERT_BATCH = 256, 196, 16

# the options that decide the experts (a buffer on disk is reused only when all of them match)
EXPERT_OPTIONS = ("model", "width", "depth", "norm", "pooling", "lr_teacher", "num_experts", "max_start_epoch",
                  "expert_epochs", "batch_train", "dsa", "dsa_strategy")


@METHODS.register("mtt")
class MTT(ImageMethod):
    Options = MTTOptions
    default_steps, default_probe, default_refresh = 1000, "network", 10
    # importance batches are reweighted by 1/(n_c q) by default: an online target segment is hundreds of SGD
    # steps, so unweighted draws bias the whole target trajectory towards the hard points (mnist5k IPC 10:
    # +0.98 points after 12 steps, -0.22 after 40; reweighted +1.32 after 40, BENCHMARKS 10.2)
    default_weighting = "reweight"

    def check_batches(self, batches: str) -> None:
        if batches != "uniform" and self.options.segment == "buffer":
            raise ValueError(
                f"batches={batches!r} needs segment='online' for method 'mtt': with segment='buffer' (the default) "
                "the real data enter only through the expert buffer, trained before the first step, so no step "
                "draws a real batch; segment='online' draws each target segment's real batches by importance")

    def start_limit(self, ipc: int) -> int:
        """Segments start below this expert epoch: ``max_start_epoch``, or by default the reference's CIFAR-10
        value for the largest of its IPCs (1, 10, 50) not above ``ipc``: 2, 20, 40. A set of one image per
        class can only follow the start of training: starts below 20 took MTT's gain at IPC 1 on mnist5k
        from 22 points to 3 (BENCHMARKS 10.2)."""
        if self.options.max_start_epoch is not None:
            return self.options.max_start_epoch
        return 2 if ipc < 10 else 20 if ipc < 50 else 40

    def expert_batch(self, ctx: MethodContext) -> int:
        """The experts' batch size: ``batch_train``, or by default ceil(n / 196) within [16, 256], so an expert
        epoch is about the reference's 196 SGD steps (CIFAR-10: 50,000 images at 256). The experts' trajectory
        has to span about as much training as the evaluation does: with 256 a digits epoch is 6 steps, and the
        segments covered the first 4 % of it (BENCHMARKS 10.3)."""
        if self.options.batch_train is not None:
            return self.options.batch_train
        n = len(ctx.dataset.train.labels)
        return min(REFERENCE_BATCH, max(MIN_EXPERT_BATCH, -(-n // REFERENCE_EPOCH_STEPS)))

    def online_segment(self, ctx: MethodContext) -> tuple[int, int]:
        """(SGD steps, real images per class per step) of an online target segment: ``online_steps`` and
        ``batch_real``, by default those of the buffer's segment (``expert_epochs`` epochs at the experts'
        batch, split over the classes). A segment much shorter than the student's ``syn_steps`` pulls the
        learned rate and the images down (with 30 steps, MTT at IPC 10 on digits lost 2 points)."""
        o = self.options
        batch = self.expert_batch(ctx)
        classes = ctx.dataset.num_classes
        per_class = o.batch_real if o.batch_real is not None else -(-batch // classes)
        if o.online_steps is not None:
            return o.online_steps, per_class
        n = len(ctx.dataset.train.labels)
        return o.expert_epochs * -(-n // batch), per_class

    def image_lr(self, ctx: MethodContext) -> float:
        if self.options.lr_img is not None:
            return self.options.lr_img
        h, w = ctx.dataset.image_size
        return 1000.0 * h * w / 1024

    # ------------------------------------------------------------------ set up: the expert buffer
    def setup_method(self, ctx: MethodContext) -> None:
        o = self.options
        self.syn_lr = torch.tensor(o.lr_teacher, device=ctx.device).requires_grad_(True)
        self.optimizer_lr = torch.optim.SGD([self.syn_lr], lr=o.lr_lr, momentum=0.5)
        self.net_options = replace(o, channels_last="off")  # the unrolled student runs in the default layout
        self.net = make_network(self.net_options, ctx.dataset, ctx.generator, ctx.device)
        self.names = [name for name, _ in self.net.named_parameters()]
        self.max_start = self.start_limit(ctx.ipc)
        drawn = seed_from(ctx.generator)  # drawn either way, so the rest of the run does not depend on it
        self.buffer = self._experts(ctx, drawn if o.expert_seed is None else o.expert_seed)

    def _experts(self, ctx: MethodContext, seed: int) -> list[list[list[torch.Tensor]]]:
        """The expert buffer for ``seed``: from ``expert_dir`` when it holds it, else trained (and saved there).
        A buffer file that cannot be read or does not hold this buffer's shape is reported (a warning naming
        it and what is wrong) and trained again, overwriting it. Across ranks, rank 0 reads the file and
        shares it, the experts are trained in parallel (expert e on rank e mod N), and rank 0 writes it."""
        from dd_explore._io import write_torch

        o = self.options
        path = None if o.expert_dir is None else Path(o.expert_dir) / f"mtt-experts-{self.buffer_key(ctx, seed)}.pt"
        saved = self._read_buffer(path) if path is not None and ctx.dist.main else None
        saved = broadcast_object(saved)
        if saved is not None:
            return [[[p.to(ctx.device) for p in params] for params in traj] for traj in saved]
        buffer = self._train_experts(ctx, seed)
        if path is not None and ctx.dist.main:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_torch(path, [[[p.cpu() for p in params] for params in traj] for traj in buffer])  # atomic
        return buffer

    def _read_buffer(self, path: Path):
        """The buffer in ``path``, or None (missing; or unreadable / of another shape: a warning says which)."""
        import logging

        from dd_explore._io import damage, where

        if not path.exists():
            return None
        o = self.options
        shapes = [tuple(p.shape) for p in self.net.parameters()]
        epochs = self.max_start + o.expert_epochs

        def fits(buf) -> bool:  # num_experts trajectories of epochs + 1 parameter sets of this network
            return isinstance(buf, list) and len(buf) == o.num_experts and all(
                isinstance(traj, list) and len(traj) == epochs + 1 and all(
                    isinstance(params, list)
                    and [tuple(p.shape) if isinstance(p, torch.Tensor) else None for p in params] == shapes
                    for params in traj)
                for traj in buf)

        try:
            saved = torch.load(path, weights_only=True, map_location="cpu")
            problem = None if fits(saved) else (f"does not hold {o.num_experts} expert trajectories of "
                                                f"{epochs + 1} parameter sets of this network")
        except Exception as exc:  # noqa: BLE001 - any failure to read the file means it is damaged
            problem = f"is truncated or corrupt (torch.load: {damage(exc)})"
        if problem is None:
            return saved
        logging.getLogger(__name__).warning("MTT expert buffer %s %s; training the experts again and "
                                            "overwriting it", where(path), problem)
        return None

    def buffer_key(self, ctx: MethodContext, seed: int) -> str:
        """Hash of what decides the experts: the train split, the expert options, ``seed``, the device type."""
        h = hashlib.sha256()
        train = ctx.dataset.train
        h.update(train.images.detach().cpu().contiguous().numpy().tobytes())
        h.update(train.labels.detach().cpu().contiguous().numpy().tobytes())
        opts = {k: getattr(self.options, k) for k in EXPERT_OPTIONS}
        opts["batch_train"] = self.expert_batch(ctx)
        opts["max_start_epoch"] = self.start_limit(ctx.ipc)
        h.update(json.dumps({"options": opts, "seed": int(seed), "device": ctx.device.type, "experts": "seeded each",
                             "shape": list(train.images.shape)}, sort_keys=True).encode())
        return h.hexdigest()[:20]

    def _train_experts(self, ctx: MethodContext, seed: int) -> list[list[list[torch.Tensor]]]:
        """``buffer[e][t]``: expert e's parameters (detached, in ``self.names`` order) after t epochs. Expert e
        draws from its own generator (child e of ``SeedSequence(seed)``), so the experts can be trained on
        different ranks (expert e on rank e mod N) and gathered, giving the buffer one process trains."""
        o = self.options
        ds = ctx.dataset
        x_all, y_all = ds.train.images.to(ctx.device), ds.train.labels.to(ctx.device)
        epochs = self.max_start + o.expert_epochs
        mine = [e for e in range(o.num_experts) if e % ctx.dist.world == ctx.dist.rank]
        bar = tqdm(total=len(mine) * epochs, desc="mtt: training experts", unit="epoch", leave=False,
                   disable=not (ctx.progress and ctx.dist.main))
        children = np.random.SeedSequence(seed).spawn(o.num_experts)
        trained = {}
        for e in mine:
            generator = torch.Generator().manual_seed(int(children[e].generate_state(1, np.uint64)[0] >> 1))
            net = make_network(self.net_options, ds, generator, ctx.device)
            trajectory = [[p.detach().clone() for p in net.parameters()]]

            def keep(epoch: int, loss: float) -> None:
                trajectory.append([p.detach().clone() for p in net.parameters()])
                bar.set_postfix(loss=f"{loss:.3f}")
                bar.update()

            sgd_epochs(net, x_all, y_all, torch.optim.SGD(net.parameters(), lr=o.lr_teacher), epochs=epochs,
                       batch_size=self.expert_batch(ctx), generator=generator,
                       augment=None if self.dsa is None else lambda x, g: self._augment(x, g, ds), on_epoch=keep)
            trained[e] = trajectory
        bar.close()
        if ctx.dist.active:
            cpu = {e: [[p.cpu() for p in params] for params in traj] for e, traj in trained.items()}
            trained = {e: [[p.to(ctx.device) for p in params] for params in traj]
                       for e, traj in merge_owned(gather_objects(cpu)).items()}
        return [trained[e] for e in range(o.num_experts)]

    def _augment(self, x: torch.Tensor, generator: torch.Generator, ds) -> torch.Tensor:
        if self.dsa is None:
            return x
        return self.dsa.apply(x, self.dsa.sample(1, generator, ds.image_size))

    # ------------------------------------------------------------------ one step
    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        o = self.options
        g = ctx.generator
        e = int(torch.randint(0, o.num_experts, (1,), generator=g))
        s = int(torch.randint(0, self.max_start, (1,), generator=g))
        start = self.buffer[e][s]
        if o.segment == "buffer":
            target = self.buffer[e][s + o.expert_epochs]
        else:
            target = self._online_target(ctx, batches, start)
        draws = self._student_draws(ctx)
        loss, grad_images, grad_lr = self.matching_gradient(start, target, draws)
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer_lr.zero_grad(set_to_none=True)
        self.images.grad, self.syn_lr.grad = grad_images, grad_lr
        self.optimizer.step()
        self.optimizer_lr.step()
        return StepOutput(float(loss), {"syn_lr": float(self.syn_lr.detach()), "expert": e, "start_epoch": s})

    def _student_draws(self, ctx: MethodContext) -> list[tuple[torch.Tensor, object]]:
        """Per student step: the synthetic images' indices and the DSA parameters (None without DSA)."""
        o, g = self.options, ctx.generator
        n_syn = self.images.shape[0]
        bs = o.batch_syn or n_syn
        draws = []
        for _ in range(o.syn_steps):
            idx = torch.randperm(n_syn, generator=g)[:bs].to(self.images.device)
            aug = None if self.dsa is None else self.dsa.sample(1, g, ctx.dataset.image_size)
            draws.append((idx, aug))
        return draws

    def _student_step(self, params: list[torch.Tensor], images: torch.Tensor, draw, lr, create_graph: bool):
        """theta - lr * grad CE(student(theta), batch): one SGD step of the student on ``draw``'s batch."""
        idx, aug = draw
        x = images.index_select(0, idx)
        if aug is not None:
            x = self.dsa.apply(x, aug)
        out = functional_call(self.net, dict(zip(self.names, params)), (x,))
        ce = F.cross_entropy(out, self.labels.index_select(0, idx))
        grads = torch.autograd.grad(ce, params, create_graph=create_graph)
        return [p - lr * gr for p, gr in zip(params, grads)]

    def matching_gradient(self, start, target, draws):
        """(loss, d loss / d images, d loss / d syn_lr) of the normalized parameter-matching loss.

        ``meta_grad="unrolled"`` keeps the whole unrolled student graph (memory grows with ``syn_steps``);
        ``"recompute"`` stores only the student's parameters after each step, then walks back one step at a
        time, rebuilding that step's graph and pulling the adjoint through it (reverse-mode by hand, as
        gradient checkpointing does), ``chunk`` images at a time: the same gradient, with the memory of one
        chunk's graph.
        """
        den = sum(((p0 - t) ** 2).sum() for p0, t in zip(start, target)).clamp_min(1e-12)
        if self.options.meta_grad == "unrolled":
            params = [p.clone().requires_grad_(True) for p in start]
            for draw in draws:
                params = self._student_step(params, self.images, draw, self.syn_lr, create_graph=True)
            loss = sum(((p - t) ** 2).sum() for p, t in zip(params, target)) / den
            grad_images, grad_lr = torch.autograd.grad(loss, [self.images, self.syn_lr])
            return loss.detach(), grad_images, grad_lr
        lr = self.syn_lr.detach()
        images = self.images.detach()
        thetas = [[p.detach() for p in start]]
        for draw in draws:  # forward: the student's parameters after each step, no graph kept
            params = [p.clone().requires_grad_(True) for p in thetas[-1]]
            grads = self._chunked_grads(params, images, draw)
            thetas.append([(p - lr * g).detach() for p, g in zip(params, grads)])
        end = [p.clone().requires_grad_(True) for p in thetas[-1]]
        loss = sum(((p - t) ** 2).sum() for p, t in zip(end, target)) / den
        adjoint = [a.detach() for a in torch.autograd.grad(loss, end)]
        grad_images = torch.zeros_like(self.images)
        grad_lr = torch.zeros_like(self.syn_lr)
        for k in range(len(draws) - 1, -1, -1):
            # backward through theta_{k+1} = theta_k - lr g_k: the adjoint becomes a - lr H_k a, plus the
            # images' and the rate's shares; g_k is a sum over chunks of images, so is each share
            params = [p.clone().requires_grad_(True) for p in thetas[k]]
            new_adjoint = list(adjoint)
            for x, y, n in self._chunks(self.images, draws[k]):
                ce = F.cross_entropy(functional_call(self.net, dict(zip(self.names, params)), (x,)), y,
                                     reduction="sum") / n
                g_chunk = torch.autograd.grad(ce, params, create_graph=True)
                pulled = -self.syn_lr * sum((g * a).sum() for g, a in zip(g_chunk, adjoint))
                *d_params, d_images, d_lr = torch.autograd.grad(pulled, params + [self.images, self.syn_lr])
                new_adjoint = [a + d for a, d in zip(new_adjoint, d_params)]
                grad_images += d_images
                grad_lr += d_lr
            adjoint = [a.detach() for a in new_adjoint]
        return loss.detach(), grad_images, grad_lr

    def _chunks(self, images: torch.Tensor, draw):
        """(x, y, n) per chunk of ``draw``'s student batch (``chunk`` images at a time; n: the batch size)."""
        idx, aug = draw
        n = idx.numel()
        step = self.chunk or n
        for i in range(0, n, step):
            part = idx[i : i + step]
            x = images.index_select(0, part)
            if aug is not None:
                x = self.dsa.apply(x, aug)
            yield x, self.labels.index_select(0, part), n

    def _chunked_grads(self, params: list[torch.Tensor], images: torch.Tensor, draw) -> list[torch.Tensor]:
        total = None
        for x, y, n in self._chunks(images, draw):
            ce = F.cross_entropy(functional_call(self.net, dict(zip(self.names, params)), (x,)), y, reduction="sum") / n
            grads = torch.autograd.grad(ce, params)
            total = list(grads) if total is None else [t + g for t, g in zip(total, grads)]
        return total

    def _online_target(self, ctx: MethodContext, batches: RealBatches, start: list[torch.Tensor]) -> list[torch.Tensor]:
        """theta*_s trained ``online_steps`` SGD steps on real batches drawn by the run's sampler."""
        o = self.options
        params = [p.clone() for p in start]
        steps, per_class = self.online_segment(ctx)
        for _ in range(steps):
            real = batches.draw_all(per_class)
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
    def extra_state(self) -> dict:
        return {"syn_lr": self.syn_lr.detach().cpu().clone(), "optimizer_lr": self.optimizer_lr.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        with torch.no_grad():
            self.syn_lr.copy_(state["syn_lr"].to(self.syn_lr.device))
        self.optimizer_lr.load_state_dict(state["optimizer_lr"])

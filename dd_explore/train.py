"""The one SGD training loop of dd_explore: evaluation networks, DC's inner loop, the importance probe and
MTT's experts all train through :func:`sgd_epochs`.

Each epoch draws a permutation from ``generator`` (on the CPU, so a run is the same on any device), walks it
in batches of ``batch_size``, optionally augments each batch with ``augment(x, generator)``, and takes one
optimizer step on the mean cross-entropy (hard class ids or soft probability targets).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F


def batch_grads(forward: Callable, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                weights: torch.Tensor | None = None, chunk: int | None = None) -> list[torch.Tensor]:
    """Gradient of the (weighted) mean cross-entropy of ``forward(x)`` against ``y`` w.r.t. ``params``,
    accumulated over chunks of ``chunk`` images (the one-pass gradient up to rounding, for networks that
    normalize per image; small chunks are ~2x faster on CPUs)."""
    return _grads_and_loss(forward, params, x, y, weights, chunk)[0]


def _grads_and_loss(forward, params, x, y, weights, chunk) -> tuple[list[torch.Tensor], torch.Tensor]:
    n = x.shape[0]
    step = chunk if chunk is not None else n
    total, loss = None, None
    for i in range(0, n, step):
        ce = F.cross_entropy(forward(x[i : i + step]), y[i : i + step], reduction="none")
        if weights is not None:
            ce = ce * weights[i : i + step]
        part = ce.sum() / n
        grads = torch.autograd.grad(part, params)
        loss = part.detach() if loss is None else loss + part.detach()
        total = list(grads) if total is None else [t + g for t, g in zip(total, grads)]
    return [g.detach() for g in total], loss


def sgd_epochs(
    net: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable | None = None,
    forward: Callable | None = None,
    chunk: int | None = None,
    lr_drop_at: int | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    momentum_reset: bool = False,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Train ``net`` for ``epochs`` epochs on (``images``, ``labels``) with ``optimizer``; returns the last
    batch's loss.

    ``labels``: (n,) class ids or (n, C) probabilities. ``forward``: logits of a batch (default ``net``);
    ``chunk``: images per forward/backward pass (gradients accumulated; None: the whole batch);
    ``lr_drop_at``: the epoch from which every group's learning rate is 0.1x its starting value;
    ``momentum_reset``: at ``lr_drop_at`` also clear the optimizer's state (momentum buffers), as the
    reference evaluation code does by building a new optimizer there;
    ``loss(logits, y, x)``: the batch loss instead of the mean cross-entropy (``x`` the batch as the network
    saw it, after ``augment``; e.g. a teacher's temperature-scaled KL); not with ``chunk``;
    ``on_epoch(epoch, loss)``: called after each epoch (e.g. to keep MTT's trajectory, or a progress bar).
    """
    if loss is not None and chunk is not None:
        raise ValueError("loss and chunk exclude each other: a custom loss trains on the whole batch; got both")
    forward = forward if forward is not None else net
    params = [p for group in optimizer.param_groups for p in group["params"]]
    start_lr = [group["lr"] for group in optimizer.param_groups]
    soft = labels.ndim == 2
    n = images.shape[0]
    last = None  # the last batch's loss (a tensor: no host sync inside the loop)
    for epoch in range(epochs):
        if lr_drop_at is not None and epoch == lr_drop_at:
            for group, lr in zip(optimizer.param_groups, start_lr):
                group["lr"] = lr * 0.1
            if momentum_reset:
                optimizer.state.clear()
        order = torch.randperm(n, generator=generator).to(images.device)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            x, y = images.index_select(0, idx), labels.index_select(0, idx)
            if soft:
                y = y.float()
            if augment is not None:
                x = augment(x, generator)
            if chunk is None:
                value = F.cross_entropy(forward(x), y) if loss is None else loss(forward(x), y, x)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                last = value.detach()
            else:
                grads, last = _grads_and_loss(forward, params, x, y, None, chunk)
                for p, g in zip(params, grads):
                    p.grad = g
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch, float("nan") if last is None else float(last))
    return float("nan") if last is None else float(last)


CPU_CHUNK = 10  # images per pass on CPUs (BENCHMARKS.md 11: fp32 alike from 10 to 25, bf16 0.92x at 10 against 25)


def per_image(net: torch.nn.Module) -> bool:
    """Whether each image's logits depend on that image only (no batch norm), so that a batch can be split
    into chunks whose gradients add up to the one-pass gradient (up to float rounding)."""
    return not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())


def fast_layout(net: torch.nn.Module, device: torch.device) -> tuple[Callable | None, int | None]:
    """``(forward, chunk)`` for :func:`sgd_epochs` that train ``net`` fast on ``device`` with the same values
    up to float rounding. On CPUs, a network that normalizes per image (:func:`per_image`) is moved to
    channels_last (in place) and each batch goes through it in chunks of :data:`CPU_CHUNK` images (small
    chunks keep the activations in cache; the ConvNet's instance norm has its own channels_last CPU path):
    about 0.6x the time of one NCHW pass (BENCHMARKS.md 11). Elsewhere (GPUs, batch norm): ``(None, None)``, one plain pass."""
    if device.type != "cpu" or not per_image(net):
        return None, None
    net.to(memory_format=torch.channels_last)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)

    return forward, CPU_CHUNK


def can_batch(nets: list[torch.nn.Module]) -> bool:
    """Whether :func:`sgd_epochs_batched` can train these networks together: same architecture, no batch
    norm (its running statistics are updated in place, which ``vmap`` does not allow)."""
    if len(nets) < 2:
        return False
    if not per_image(nets[0]):  # batch norm
        return False
    shapes = [[(k, tuple(v.shape)) for k, v in n.state_dict().items()] for n in nets]
    return all(s == shapes[0] for s in shapes[1:])


def sgd_epochs_batched(
    nets: list[torch.nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
    generators: list[torch.Generator],
    augment: Callable | None = None,
    lr_drop_at: int | None = None,
    momentum_reset: bool = False,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Train ``nets`` (same architecture) together, as :func:`sgd_epochs` trains each of them with its own
    SGD(``lr``, ``momentum``, ``weight_decay``) and ``generators[r]``: network r sees the batches (and the
    augmentations) its own generator draws, and takes its own step. The networks' parameters are stacked
    (``torch.func.stack_module_state``) and one ``vmap``-ed forward/backward serves all of them, so each
    optimizer step costs one pass over R batches instead of R passes. Equal to the one-by-one training up
    to float rounding (the stacked convolutions sum in another order). The trained parameters are written
    back into ``nets``."""
    from torch.func import functional_call, stack_module_state, vmap

    r_count = len(nets)
    for net in nets:
        net.train()
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def one(p, b, x):
        return functional_call(base, (p, b), (x,))

    forward = vmap(one)
    optimizer = torch.optim.SGD(list(params.values()), lr=lr, momentum=momentum, weight_decay=weight_decay)
    soft = labels.ndim == 2
    n = images.shape[0]
    for epoch in range(epochs):
        if lr_drop_at is not None and epoch == lr_drop_at:
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.1
            if momentum_reset:
                optimizer.state.clear()
        orders = [torch.randperm(n, generator=g).to(images.device) for g in generators]
        for i in range(0, n, batch_size):
            xs, ys = [], []
            for order, g in zip(orders, generators):
                idx = order[i : i + batch_size]
                x, y = images.index_select(0, idx), labels.index_select(0, idx)
                if augment is not None:
                    x = augment(x, g)
                xs.append(x)
                ys.append(y.float() if soft else y)
            x_all, y_all = torch.stack(xs), torch.stack(ys)
            logits = forward(params, buffers, x_all)  # (R, B, classes)
            if loss is None:
                flat_y = y_all.flatten(0, 1)
                ce = F.cross_entropy(logits.flatten(0, 1), flat_y, reduction="none").view(r_count, -1)
                total = ce.mean(1).sum()  # network r's gradient is its own mean loss's
            else:
                total = sum(loss(logits[r], y_all[r], x_all[r]) for r in range(r_count))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
    with torch.no_grad():
        for r, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][r])
            for name, b in net.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name][r])

"""The one SGD training loop of dd_explore: evaluation networks, DC's inner loop, the importance probe and
MTT's experts all train through :func:`sgd_epochs`.

Each epoch draws a permutation from ``generator`` (on the CPU, so a run is the same on any device), walks it
in batches of ``batch_size``, optionally augments each batch with ``augment(x, generator)``, and takes one
optimizer step on the mean cross-entropy (hard class ids or soft probability targets).
"""

from __future__ import annotations

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

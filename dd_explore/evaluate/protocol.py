"""The field's evaluation protocol: train fresh networks on a (synthetic or coreset) set, test on real data.

Defaults follow DC/DSA/DM/MTT: ConvNet-3 (width 128, instance norm, ReLU, avg-pool), SGD lr 0.01,
momentum 0.9, weight decay 5e-4, batch 256, 300 epochs (1000 with DSA augmentation), lr x0.1 at half,
mean +- std over >= 5 fresh networks.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from dd_explore._random import seeded
from dd_explore.data.dataset import Split
from dd_explore.device import resolve_device
from dd_explore.train import sgd_epochs


@dataclass(frozen=True)
class Protocol:
    """Everything that defines an evaluation, recorded next to every result."""

    model: str = "convnet"
    model_kwargs: dict = field(default_factory=dict)
    runs: int = 5
    epochs: int = 300
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    lr_schedule: str = "x0.1 at epoch epochs//2"
    augment: str | None = None
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EvalResult:
    """Test accuracy (in [0, 1]) of ``runs`` freshly trained networks: mean, std and each run."""

    mean: float
    std: float
    accuracies: tuple[float, ...]
    protocol: Protocol
    train_size: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "mean": self.mean,
            "std": self.std,
            "accuracies": list(self.accuracies),
            "protocol": self.protocol.to_dict(),
            "train_size": self.train_size,
            "seconds": self.seconds,
        }

    def __str__(self) -> str:
        return f"{100 * self.mean:.2f} +- {100 * self.std:.2f} % over {len(self.accuracies)} runs"


def _positive(name: str, value, kind=(int,), allow_zero: bool = False) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} {'int' if kind == (int,) else 'number'}; got {value!r}")


def _check_inputs(images, labels, test) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(np.asarray(labels))
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W); got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise ValueError("images must not be empty; got 0 images")
    if labels.shape[0] != images.shape[0] or labels.ndim not in (1, 2):
        raise ValueError(f"labels must be (n,) class ids or (n, C) soft targets with n = {images.shape[0]}; got shape {tuple(labels.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images must be finite; found NaN/inf")
    if isinstance(test, Split):
        test_x, test_y = test.images, test.labels
    else:
        try:
            test_x, test_y = test
        except (TypeError, ValueError) as exc:
            raise ValueError(f"test must be a Split or an (images, labels) pair; got {type(test).__name__}") from exc
    if tuple(test_x.shape[1:]) != tuple(images.shape[1:]):
        raise ValueError(f"test images must have the shape of images {tuple(images.shape[1:])}; got {tuple(test_x.shape[1:])}")
    return images.float(), labels, test_x.float(), test_y.long()


@torch.no_grad()
def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device, batch_size: int = 1024) -> float:
    """Fraction of ``images`` that ``net`` classifies as ``labels`` (evaluated in batches on ``device``)."""
    net.eval()
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device)
        y = labels[i : i + batch_size].to(device)
        correct += int((net(x).argmax(1) == y).sum())
    return correct / max(1, images.shape[0])


def train_network(
    net: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch_size: int,
    generator: torch.Generator,
    augment: Callable | None = None,
    device: torch.device,
) -> torch.nn.Module:
    """Train ``net`` with SGD (lr x0.1 at half) on (images, labels); hard or soft labels."""
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sgd_epochs(net, images.to(device), labels.to(device), opt, epochs=epochs, batch_size=batch_size,
               generator=generator, augment=augment, lr_drop_at=epochs // 2 if epochs > 1 else None)
    return net


def run_seed_pairs(seed: int, runs: int) -> list[tuple[int, int]]:
    """(network-init seed, data-order seed) of each of ``runs`` evaluation networks: the first two words of
    the children of ``numpy.random.SeedSequence(seed).spawn(runs)`` (see :func:`evaluate`)."""
    return [(int(a), int(b)) for a, b in (c.generate_state(2, np.uint32) for c in np.random.SeedSequence(seed).spawn(runs))]


def evaluate(
    images,
    labels,
    test,
    model: str = "convnet",
    runs: int = 5,
    epochs: int = 300,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    batch_size: int = 256,
    model_kwargs: dict | None = None,
    augment: Callable | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Train ``runs`` fresh ``model`` networks on (images, labels) with the protocol; test accuracy on ``test``.

    ``labels``: (n,) class ids or (n, C) soft targets (probabilities). ``augment(x, generator)``, if given,
    is applied to each training batch (e.g. DSA augmentation; the field then trains 1000 epochs).
    Seeds: ``seed`` (a non-negative int) is spread over the runs with ``numpy.random.SeedSequence(seed)
    .spawn(runs)``: run ``r`` takes child ``r``, whose first word seeds its network's initialization and
    second word its data order (and augmentations). The children of different seeds do not overlap (with
    ``seed + r``, seed 0's second network was seed 1's first), and run ``r``'s network does not depend on
    ``runs`` (the first networks of a 2-run and a 5-run evaluation are the same). Torch's global RNG
    state is left as it was (:func:`dd_explore._random.seeded`).
    """
    from tqdm.auto import tqdm

    from dd_explore import models

    _positive("runs", runs)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    seed = int(seed)
    _positive("epochs", epochs)
    _positive("batch_size", batch_size)
    _positive("lr", lr, (int, float))
    _positive("momentum", momentum, (int, float), allow_zero=True)
    _positive("weight_decay", weight_decay, (int, float), allow_zero=True)
    models.MODELS.get(model)  # unknown model -> ValueError listing valid names
    images, labels, test_x, test_y = _check_inputs(images, labels, test)
    num_classes = int(labels.shape[1]) if labels.ndim == 2 else int(max(int(labels.max()), int(test_y.max())) + 1)
    dev = resolve_device(device)
    kwargs = dict(model_kwargs or {})
    protocol = Protocol(
        model=model, model_kwargs=kwargs, runs=runs, epochs=epochs, lr=float(lr), momentum=float(momentum),
        weight_decay=float(weight_decay), batch_size=batch_size,
        augment=getattr(augment, "name", type(augment).__name__) if augment is not None else None, seed=seed,
    )
    start = time.perf_counter()
    accs: list[float] = []
    bar = tqdm(range(runs), desc=f"evaluate {model} x{runs}", disable=not progress, leave=False)
    run_seeds = run_seed_pairs(seed, runs)
    for r in bar:
        init_seed, order_seed = run_seeds[r]
        with seeded(init_seed):
            net = models.create(model, channels=images.shape[1], num_classes=num_classes,
                                image_size=tuple(images.shape[2:]), **kwargs).to(dev)
        gen = torch.Generator().manual_seed(order_seed)
        train_network(net, images, labels, epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      batch_size=batch_size, generator=gen, augment=augment, device=dev)
        accs.append(accuracy(net, test_x, test_y, dev))
        bar.set_postfix(acc=f"{100 * np.mean(accs):.1f}%")
    arr = np.array(accs)
    return EvalResult(float(arr.mean()), float(arr.std()), tuple(float(a) for a in accs), protocol,
                      int(images.shape[0]), time.perf_counter() - start)

"""The interface every distillation method implements, and the pieces they share.

A method owns the learnable synthetic set and its optimizer. The engine calls, in order,
``check(dataset, ipc)`` (validation, before anything is written), ``setup(ctx, images, labels)``,
then ``step(ctx, batches)`` once per step, and ``state_dict()`` / ``load_state_dict()`` for checkpoints.
Real images are drawn only through ``batches`` (a :class:`RealBatches`), so the engine can sample them
uniformly or by importance, weight them, and record which were drawn.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from dd_explore.data.dataset import Dataset


@dataclass(frozen=True)
class RealBatch:
    """Real images drawn for one step: ``images`` (n, C, H, W) and ``labels`` (n,) on the device,
    ``indices`` (n,) global train indices (CPU), ``weights`` (n,) importance weights or None (all 1),
    ``classes`` the classes in the batch (in order) and ``counts`` the number of images of each."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor | None
    classes: tuple[int, ...]
    counts: tuple[int, ...]


@dataclass
class MethodContext:
    """What a method sees: the data set (on ``device``), ``ipc``, its own random generator (CPU), and
    whether the run shows progress bars (for long set-up work such as MTT's experts)."""

    dataset: Dataset
    ipc: int
    device: torch.device
    generator: torch.Generator
    progress: bool = False


class RealBatches:
    """Draws real images per class through the run's sampler and records the drawn indices."""

    def __init__(self, train_images: torch.Tensor, sampler, generator: torch.Generator, device: torch.device):
        self._images = train_images
        self._sampler = sampler
        self._generator = generator
        self._device = device
        self.num_classes = sampler.num_classes
        self.drawn: list[list[torch.Tensor]] = [[] for _ in range(self.num_classes)]

    def draw(self, classes, n: int) -> RealBatch:
        """``n`` images of each class in ``classes`` (an int or a sequence), concatenated class by class.

        Classes with fewer than ``n`` images give all of them when sampling without replacement.
        """
        if isinstance(classes, int):
            classes = (classes,)
        idx_parts, w_parts, counts = [], [], []
        for c in classes:
            idx, w = self._sampler.draw(int(c), int(n), self._generator)
            self.drawn[int(c)].append(idx)
            idx_parts.append(idx)
            w_parts.append(w)
            counts.append(int(idx.numel()))
        indices = torch.cat(idx_parts)
        dev_idx = indices.to(self._images.device)
        weights = None if w_parts[0] is None else torch.cat(w_parts).to(self._device, torch.float32)
        labels = torch.repeat_interleave(torch.tensor(list(classes), dtype=torch.long), torch.tensor(counts))
        return RealBatch(self._images.index_select(0, dev_idx).to(self._device), labels.to(self._device),
                         indices, weights, tuple(int(c) for c in classes), tuple(counts))

    def draw_all(self, n: int) -> RealBatch:
        """``n`` images of every class (class 0 first)."""
        return self.draw(tuple(range(self.num_classes)), n)


@dataclass(frozen=True)
class StepOutput:
    """What one step returns: the scalar loss and optional extra numbers for the record."""

    loss: float
    extra: dict | None = None


@dataclass(frozen=True)
class ModelOptions:
    """The network family used inside a method (the field's ConvNet by default)."""

    model: str = "convnet"
    width: int = 128
    depth: int = 3
    norm: str = "instance"
    pooling: str = "avg"
    channels_last: str = "auto"

    def model_kwargs(self) -> dict:
        if self.model == "convnet":
            return {"width": self.width, "depth": self.depth, "norm": self.norm, "pooling": self.pooling}
        return {"width": self.width, "depth": self.depth}


class DistillMethod:
    """Base class of the distillation methods (one module each, registered in ``METHODS``).

    Subclasses set ``name``, ``Options`` (a frozen dataclass of their options with defaults),
    ``default_steps`` and ``default_probe``, and implement ``setup``, ``step`` and ``synthetic``.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = object
    default_steps: ClassVar[int] = 1000
    default_probe: ClassVar[str] = "network"
    default_refresh: ClassVar[int] = 10

    def __init__(self, **options: Any):
        self.options = self.Options(**options)

    # ---------------------------------------------------------------- options
    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls.Options))

    def options_dict(self) -> dict:
        return asdict(self.options)

    def check(self, dataset: Dataset, ipc: int) -> None:
        """Validate the options for this data set (ValueError naming option, rule and value)."""
        for f in fields(self.options):
            value = getattr(self.options, f.name)
            if f.name.startswith("lr") and value is not None:
                check_positive_number(f.name, value)
            if (f.name.startswith("batch") or f.name in ("width", "depth", "outer_loop", "inner_loop", "chunk")) and value is not None:
                check_positive_int(f.name, value)
        if hasattr(self.options, "momentum"):
            m = self.options.momentum
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1:
                raise ValueError(f"momentum must be a number in [0, 1); got {m!r}")
        if isinstance(self.options, ModelOptions):
            from dd_explore import models

            models.MODELS.get(self.options.model)
            if self.options.channels_last not in ("auto", "on", "off"):
                raise ValueError(f"channels_last must be 'auto', 'on' or 'off'; got {self.options.channels_last!r}")

    def check_batches(self, batches: str) -> None:
        """Refuse a ``batches`` mode the method cannot use with these options (ValueError); default: any."""

    # ---------------------------------------------------------------- the loop
    def setup(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError

    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        raise NotImplementedError

    def synthetic(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(images, labels, targets): the current set, detached; ``targets`` (n, C) when labels are learned."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def probe_losses(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        """Per-image losses of the method's own probe (``probe="method"``), or None when it has none yet."""
        return None


# -------------------------------------------------------------------- shared helpers
def check_positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")


def seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def make_network(options: ModelOptions, dataset: Dataset, generator: torch.Generator, device: torch.device) -> torch.nn.Module:
    """A freshly initialized network, seeded from ``generator`` (global RNG state untouched)."""
    from dd_explore import models

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_from(generator))
        net = models.create(options.model, channels=dataset.channels, num_classes=dataset.num_classes,
                            image_size=dataset.image_size, **options.model_kwargs())
    net = net.to(device)
    if use_channels_last(options, device):
        net = net.to(memory_format=torch.channels_last)
    return net


def use_channels_last(options: ModelOptions, device: torch.device) -> bool:
    """channels_last is much faster for the ConvNet on CPUs; "auto" uses it there only."""
    if options.channels_last == "auto":
        return options.model == "convnet" and device.type == "cpu"
    return options.channels_last == "on"


def to_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def embed(net: torch.nn.Module, x: torch.Tensor, channels_last: bool, chunk: int | None = None) -> torch.Tensor:
    """``net.embed(x)``, laid out for speed on CPUs (same values for per-image normalization).

    ``chunk``: images per forward pass (small chunks keep activations in cache: ~2x faster on CPUs).
    With ``channels_last``, everything runs channels_last except the first convolution when ``x`` needs
    a gradient (oneDNN's channels_last input gradient of a few-channel convolution is ~10x slower).
    """
    if chunk is not None and x.shape[0] > chunk:
        return torch.cat([embed(net, x[i : i + chunk], channels_last) for i in range(0, x.shape[0], chunk)])
    features = getattr(net, "features", None)
    if not channels_last or features is None or not isinstance(features[0], torch.nn.Conv2d):
        return net.embed(x)
    if not x.requires_grad:
        return net.embed(to_format(x, True))
    first = features[0]
    h = F.conv2d(x.contiguous(), first.weight.contiguous(), first.bias, first.stride, first.padding)
    h = to_format(h, True)
    for layer in list(features)[1:]:
        h = layer(h)
    return h.flatten(1)


def forward(net: torch.nn.Module, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Logits ``net(x)`` through :func:`embed`'s fast layout (networks with ``embed`` and ``classifier``)."""
    if hasattr(net, "classifier") and hasattr(net, "embed"):
        return net.classifier(embed(net, x, channels_last))
    return net(x)


def loss_grad(net: torch.nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
              weights: torch.Tensor | None, channels_last: bool, chunk: int | None) -> list[torch.Tensor]:
    """Gradient of the (weighted) mean cross-entropy on (x, y) w.r.t. ``params``, accumulated over chunks
    of ``chunk`` images (equal to the one-pass gradient for per-image normalization; faster on CPUs)."""
    n = x.shape[0]
    step = chunk if chunk is not None else n
    total = None
    for i in range(0, n, step):
        ce = F.cross_entropy(forward(net, x[i : i + step], channels_last), y[i : i + step], reduction="none")
        if weights is not None:
            ce = ce * weights[i : i + step]
        grads = torch.autograd.grad(ce.sum() / n, params)
        total = list(grads) if total is None else [t + g for t, g in zip(total, grads)]
    return [g.detach() for g in total]


def chunk_size(options: ModelOptions, device: torch.device, chunk: int | None) -> int | None:
    """Images per forward pass: ``chunk`` if set; else 32 on CPUs for per-image norms, else all at once."""
    if chunk is not None:
        return chunk
    if device.type == "cpu" and options.norm != "batch":
        return 32
    return None


def class_labels(num_classes: int, ipc: int) -> torch.Tensor:
    """Labels of a synthetic set grouped by class: ipc zeros, ipc ones, ..."""
    return torch.arange(num_classes).repeat_interleave(ipc)

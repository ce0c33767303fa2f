"""The interface every distillation method implements, and the pieces they share.

A method owns the learnable synthetic set and its optimizer. The engine calls, in order,
``check(dataset, ipc)`` (validation, before anything is written), ``setup(ctx, images, labels)``,
then ``step(ctx, batches)`` once per step, and ``state_dict()`` / ``load_state_dict()`` for checkpoints.
Real images are drawn only through ``batches`` (a :class:`RealBatches`), so the engine can sample them
uniformly or by importance, weight them, and record which were drawn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from dd_explore._random import seeded
from dd_explore.distributed import Context, all_reduce_sum, owned
from dd_explore.data.dataset import Dataset
from dd_explore.options import Choice, Flag, Int, Number, Text, option, validate
from dd_explore.train import batch_grads


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

    def labels_cpu(self) -> torch.Tensor:
        """The labels on the CPU, built from ``classes``/``counts`` (no copy back from the device)."""
        return torch.repeat_interleave(torch.tensor(self.classes, dtype=torch.long), torch.tensor(self.counts))


@dataclass
class MethodContext:
    """What a method sees: the data set (on ``device``), ``ipc``, its own random generator (CPU), whether
    the run shows progress bars (for long set-up work such as MTT's experts), and ``dist``: this process's
    place among several (:mod:`dd_explore.distributed`; world 1 by default)."""

    dataset: Dataset
    ipc: int
    device: torch.device
    generator: torch.Generator
    progress: bool = False
    dist: Context = Context()

    @property
    def owned_classes(self) -> list[int]:
        """The classes this process works on: all of them in one process, a block of them per rank."""
        return owned(self.dataset.num_classes, self.dist)


class RealBatches:
    """Draws real images per class through the run's sampler and records the drawn indices."""

    def __init__(self, train_images, sampler, generator: torch.Generator, device: torch.device):
        # train_images: the train Split (its batch(idx, device) normalizes compact uint8 pixels on the device)
        # or a tensor of normalized images
        self._images = train_images
        self._sampler = sampler
        self._generator = generator
        self._device = device
        self.num_classes = sampler.num_classes
        self.drawn: list[list[torch.Tensor]] = [[] for _ in range(self.num_classes)]

    def draw(self, classes, n: int, only=None) -> RealBatch:
        """``n`` images of each class in ``classes`` (an int or a sequence), concatenated class by class.

        Classes with fewer than ``n`` images give all of them when sampling without replacement. ``only``:
        the classes whose images to load (the others are drawn and recorded, so the random streams and the
        draw record stay those of a whole draw, but not loaded: a rank's share of a split step).
        """
        if isinstance(classes, int):
            classes = (classes,)
        keep = None if only is None else set(int(c) for c in only)
        idx_parts, w_parts, counts, kept = [], [], [], []
        for c in classes:
            idx, w = self._sampler.draw(int(c), int(n), self._generator)
            self.drawn[int(c)].append(idx)
            if keep is not None and int(c) not in keep:
                continue
            idx_parts.append(idx)
            w_parts.append(w)
            counts.append(int(idx.numel()))
            kept.append(int(c))
        if not idx_parts:
            shape = tuple(self._images.images.shape[1:]) if hasattr(self._images, "images") else tuple(self._images.shape[1:])
            return RealBatch(torch.zeros((0, *shape), device=self._device), torch.zeros(0, dtype=torch.long,
                             device=self._device), torch.zeros(0, dtype=torch.long), None, (), ())
        indices = torch.cat(idx_parts)
        dev_idx = indices.to(self._images.device)
        weights = None if w_parts[0] is None else torch.cat(w_parts).to(self._device, torch.float32)
        labels = torch.repeat_interleave(torch.tensor(kept, dtype=torch.long), torch.tensor(counts))
        images = (self._images.batch(dev_idx, self._device) if hasattr(self._images, "batch")
                  else self._images.index_select(0, dev_idx).to(self._device))
        return RealBatch(images, labels.to(self._device), indices, weights, tuple(kept), tuple(counts))

    def draw_all(self, n: int) -> RealBatch:
        """``n`` images of every class (class 0 first)."""
        return self.draw(tuple(range(self.num_classes)), n)


@dataclass(frozen=True)
class StepOutput:
    """What one step returns: the scalar loss and optional extra numbers for the record."""

    loss: float
    extra: dict | None = None


def _model_names() -> list[str]:
    from dd_explore import models

    return models.list_models()


def _check_dsa_strategy(name: str, value: str) -> None:
    from dd_explore.distill.augment import DSA

    DSA(strategy=value).families()


@dataclass(frozen=True)
class ModelOptions:
    """The network family used inside a method (the field's ConvNet by default)."""

    model: str = option("convnet", "network used inside the method", Choice(_model_names))
    width: int = option(128, "channels of each convolution (units of each hidden layer for the MLP)", Int())
    depth: int | None = option(None, "blocks of the network", Int(optional=True, none="by image size: 2 for 8-16 px, "
                                                                   "3 for 28-32 px, 4 for 64 px"))
    norm: str = option("instance", "ConvNet normalization", Choice(("instance", "batch", "none")))
    pooling: str = option("avg", "ConvNet pooling", Choice(("avg", "max", "none")))
    channels_last: str = option("auto", "memory layout (speed only, same values): auto = on CPUs",
                                Choice(("auto", "on", "off")))

    def model_kwargs(self) -> dict:
        kw = {"width": self.width} if self.depth is None else {"width": self.width, "depth": self.depth}
        if self.model == "convnet":
            kw.update(norm=self.norm, pooling=self.pooling)
        return kw


@dataclass(frozen=True)
class ImageOptions(ModelOptions):
    """Options of every method that learns the synthetic images by SGD through a network."""

    lr_img: float = option(1.0, "learning rate of the synthetic images", Number())
    momentum: float = option(0.5, "SGD momentum of the synthetic images", Number(0, 1, low_open=False, high_open=True))
    batch_real: int = option(64, "real images per class per draw", Int())
    dsa: bool = option(False, "differentiable siamese augmentation (same parameters for real and synthetic)", Flag())
    dsa_strategy: str = option("color_crop_cutout_flip_scale_rotate", "DSA families, '_'-joined",
                               Text(check=_check_dsa_strategy))
    chunk: int | None = option(None, "images per forward pass (gradients accumulate; same values)",
                               Int(optional=True, none="32 on CPUs for per-image norms, else all"))


class DistillMethod:
    """Base class of the distillation methods (one module each, registered in ``METHODS``).

    Subclasses set ``Options`` (a frozen dataclass whose fields are declared with
    :func:`dd_explore.options.option`), ``default_steps``, ``default_probe``, ``default_refresh`` and
    ``default_weighting`` (``name`` is set by ``METHODS.register``), and
    implement ``setup``, ``step``, ``synthetic``, ``state_dict`` and ``load_state_dict``. Methods that learn
    images through a network subclass :class:`ImageMethod`, which does all of that but ``step``.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = object
    default_steps: ClassVar[int] = 1000
    default_probe: ClassVar[str] = "network"
    default_refresh: ClassVar[int] = 10
    default_weighting: ClassVar[str] = "none"

    def __init__(self, **options: Any):
        self.options = self.Options(**options)

    # ---------------------------------------------------------------- options
    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls.Options))

    def options_dict(self) -> dict:
        return asdict(self.options)

    def check(self, dataset: Dataset, ipc: int) -> None:
        """Validate the options (ValueError naming option, rule and value); subclasses add cross-option rules."""
        validate(self.options)

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

    def synthetic_from_state(self, state: dict, num_classes: int, ipc: int):
        """(images, labels, targets) of the set held by ``state`` (a :meth:`state_dict`), without loading it."""
        return state["images"].contiguous(), class_labels(num_classes, ipc), None

    def probe_losses(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        """Per-image losses of the method's own probe (``probe="method"``), or None when it has none yet."""
        return None


class ImageMethod(DistillMethod):
    """A method that learns the synthetic images with SGD (``lr_img``, ``momentum``) through networks.

    ``setup`` puts the images and labels on the device, builds the optimizer, the DSA augmentation
    (``self.dsa``, None without ``dsa``), the layout (``self.channels_last``) and ``self.chunk``, then calls
    :meth:`setup_method`. The checkpoint holds the images, the optimizer and :meth:`extra_state`.
    """

    Options: ClassVar[type] = ImageOptions

    def setup(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> None:
        o = self.options
        self.channels_last = use_channels_last(o, ctx.device)
        self.images = images.detach().clone().to(ctx.device).requires_grad_(True)
        self.labels_cpu = labels.detach().cpu().clone()  # for CPU-side bookkeeping (DSA groups): no device sync
        self.labels = labels.clone().to(ctx.device)
        self.optimizer = torch.optim.SGD([self.images], lr=self.image_lr(ctx), momentum=o.momentum)
        from dd_explore.distill.augment import DSA

        self.dsa = DSA(strategy=o.dsa_strategy) if o.dsa else None
        self.chunk = chunk_size(o, ctx.device, o.chunk)
        self.setup_method(ctx)

    def setup_method(self, ctx: MethodContext) -> None:
        """What the method adds to the set-up (networks, buffers); default: nothing."""

    def image_lr(self, ctx: MethodContext) -> float:
        """The images' learning rate: ``lr_img`` (a method may resolve a None default from the data set)."""
        return self.options.lr_img

    def step_images(self, ctx: MethodContext, loss: torch.Tensor) -> None:
        """Backward ``loss`` into the images and take the optimizer step. Across ranks, each rank's loss
        covers its own classes (disjoint image rows), so the summed gradient is the one-process gradient,
        exactly: every rank then takes the same step."""
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
        if ctx.dist.active:
            if self.images.grad is None:
                self.images.grad = torch.zeros_like(self.images)
            all_reduce_sum(self.images.grad)
        self.optimizer.step()

    def synthetic(self):
        return self.images.detach().contiguous().clone(), self.labels.clone(), None

    def state_dict(self) -> dict:
        state = {"images": self.images.detach().contiguous().cpu().clone(), "optimizer": self.optimizer.state_dict()}
        state.update(self.extra_state())
        return state

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.load_extra_state(state)

    def extra_state(self) -> dict:
        """Method-specific checkpoint entries (tensors and plain values); default: none."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` saved."""


# -------------------------------------------------------------------- shared helpers
def seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def make_network(options: ModelOptions, dataset: Dataset, generator: torch.Generator, device: torch.device) -> torch.nn.Module:
    """A freshly initialized network, seeded from ``generator`` (global RNG state untouched)."""
    from dd_explore import models

    with seeded(seed_from(generator)):
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
    """Gradient of the (weighted) mean cross-entropy of ``net`` on (x, y) w.r.t. ``params`` in the fast layout,
    accumulated over chunks of ``chunk`` images (:func:`dd_explore.train.batch_grads`)."""
    return batch_grads(lambda v: forward(net, v, channels_last), params, x, y, weights, chunk)


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

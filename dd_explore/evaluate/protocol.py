"""The field's evaluation protocols: train fresh networks on a (synthetic or coreset) set, test on real data.

The default ``plain`` protocol: ConvNet-3 (width 128, instance norm, ReLU, avg-pool), SGD lr 0.01,
momentum 0.9, weight decay 5e-4, batch 256, 300 epochs, lr x0.1 at half, no augmentation, mean +- std over
fresh networks. The presets ``dsa``/``dm`` and ``dc`` reproduce the reference implementations' evaluation
(:mod:`dd_explore.evaluate.presets`); every result carries the resolved :class:`Protocol`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from dd_explore._random import seeded
from dd_explore.data.dataset import Dataset, Split
from dd_explore import distributed
from dd_explore.device import autocast, check_precision, resolve_device
from dd_explore.train import CPU_CHUNK, can_batch, fast_layout, sgd_epochs, sgd_epochs_batched


@dataclass(frozen=True)
class Protocol:
    """Everything that defines an evaluation, recorded next to every result: the numbers that ran.

    ``name``: the preset it came from (``plain``, ``dsa``, ``dm``, ``dc``; docs/evaluate.md); ``epochs``:
    passes over the set; ``lr_drop_epoch``: the first epoch at 0.1x ``lr`` (None: constant);
    ``momentum_reset``: the optimizer's momentum buffers cleared there (the reference builds a new
    optimizer); ``augment``/``augment_params``: the augmentation of every training batch; ``labels``:
    "hard" (class ids, cross-entropy), "soft" (probabilities, soft cross-entropy) or "teacher-kl"
    (temperature-scaled KL to ``teacher``); ``zca``: the whitening the images and the test split were
    evaluated in (None: none); ``seed``: the evaluation seed the networks are spawned from; ``precision``:
    "fp32", or "bf16" (forward passes under bfloat16 autocast, :func:`dd_explore.device.autocast`).
    """

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
    name: str = "plain"
    schedule: str = "half"
    lr_drop_epoch: int | None = 150
    momentum_reset: bool = False
    augment_params: dict | None = None
    labels: str = "hard"
    temperature: float | None = None
    teacher: dict | None = None
    zca: dict | None = None
    reference: str = ""
    precision: str = "fp32"

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

    @classmethod
    def from_dict(cls, d: dict) -> "EvalResult":
        """The inverse of :meth:`to_dict` (e.g. a result read back from a JSON file)."""
        known = {f for f in Protocol.__dataclass_fields__}
        proto = Protocol(**{k: v for k, v in d["protocol"].items() if k in known})
        return cls(float(d["mean"]), float(d["std"]), tuple(float(a) for a in d["accuracies"]), proto,
                   int(d["train_size"]), float(d["seconds"]))

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
def accuracy(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
             batch_size: int | None = None, precision: str = "fp32") -> float:
    """Fraction of ``images`` that ``net`` classifies as ``labels`` (evaluated in batches on ``device``, in
    ``precision``). ``batch_size`` None: 1024 images per pass, :data:`dd_explore.train.CPU_CHUNK` on CPUs (the
    activations of small batches stay in cache: 2.3x faster for a ConvNet-3 on 1,000 28x28 images)."""
    if batch_size is None:
        batch_size = CPU_CHUNK if torch.device(device).type == "cpu" else 1024
    net.eval()
    correct = 0
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device)
        y = labels[i : i + batch_size].to(device)
        with autocast(device, precision):
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
    lr_drop_epoch: int | None | str = "half",
    momentum_reset: bool = False,
    loss: Callable | None = None,
    layout: str = "plain",
    precision: str = "fp32",
) -> torch.nn.Module:
    """Train ``net`` with SGD on (images, labels); hard or soft labels (or ``loss(logits, y, x)``).

    ``lr_drop_epoch``: the first epoch at 0.1x ``lr`` ("half": ``epochs // 2``, the plain protocol; None:
    constant); ``momentum_reset``: clear the momentum buffers there (the reference's new optimizer);
    ``layout``: "plain" (one pass per batch) or "auto" (:func:`dd_explore.train.fast_layout`: on CPUs,
    channels_last in chunks for networks that normalize per image; same values up to float rounding);
    ``precision``: "fp32" or "bf16" (forward passes under bfloat16 autocast, the loss in fp32)."""
    if layout not in ("auto", "plain"):
        raise ValueError(f"layout must be 'auto' or 'plain'; got {layout!r}")
    check_precision(precision)
    forward, chunk = fast_layout(net, device) if layout == "auto" else (None, None)
    if precision != "fp32":
        inner = forward if forward is not None else net

        def forward(x: torch.Tensor) -> torch.Tensor:
            with autocast(device, precision):
                out = inner(x)
            return out.float()

    if loss is not None:  # a custom loss trains on the whole batch (still in the fast memory layout)
        chunk = None
    if lr_drop_epoch == "half":
        lr_drop_epoch = epochs // 2 if epochs > 1 else None
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    sgd_epochs(net, images.to(device), labels.to(device), opt, epochs=epochs, batch_size=batch_size,
               generator=generator, augment=augment, lr_drop_at=lr_drop_epoch, momentum_reset=momentum_reset,
               loss=loss, forward=forward, chunk=chunk)
    return net


def run_seed_pairs(seed: int, runs: int) -> list[tuple[int, int]]:
    """(network-init seed, data-order seed) of each of ``runs`` evaluation networks: the first two words of
    the children of ``numpy.random.SeedSequence(seed).spawn(runs)`` (see :func:`evaluate`)."""
    return [(int(a), int(b)) for a, b in (c.generate_state(2, np.uint32) for c in np.random.SeedSequence(seed).spawn(runs))]


@dataclass(frozen=True)
class CrossArchResult:
    """One :class:`EvalResult` per architecture (``rows``), paired by seed: run ``r`` of every row used
    the same ``run_seeds[r]`` (network-init word, data-order and augmentation word)."""

    rows: tuple[EvalResult, ...]
    seed: int
    run_seeds: tuple[tuple[int, int], ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(r.protocol.model for r in self.rows)

    def row(self, model: str) -> EvalResult:
        for r in self.rows:
            if r.protocol.model == model:
                return r
        raise ValueError(f"model must be one of {list(self.models)}; got {model!r}")

    def to_dict(self) -> dict:
        return {"rows": [r.to_dict() for r in self.rows], "seed": self.seed, "run_seeds": [list(p) for p in self.run_seeds],
                "paired": "run r of every architecture uses run_seeds[r]"}

    @classmethod
    def from_dict(cls, d: dict) -> "CrossArchResult":
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(EvalResult.from_dict(r) for r in d["rows"]), int(d["seed"]),
                   tuple((int(a), int(b)) for a, b in d["run_seeds"]))

    def table(self) -> str:
        """Markdown: one row per architecture, mean +- std (%) and each network."""
        lines = ["| model | accuracy % (mean ± std) | networks | epochs | augmentation |", "|---|---|---|---|---|"]
        for r in self.rows:
            p = r.protocol
            nets = ", ".join(f"{100 * a:.1f}" for a in r.accuracies)
            lines.append(f"| {p.model} | {100 * r.mean:.2f} ± {100 * r.std:.2f} | {nets} | {p.epochs} | {p.augment or 'none'} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


_FIELDS = ("runs", "epochs", "lr", "momentum", "weight_decay", "batch_size")


def make_protocol(protocol="plain", *, channels: int, model: str | None = None, model_kwargs: dict | None = None,
                  runs=None, epochs=None, lr=None, momentum=None, weight_decay=None, batch_size=None, augment=None,
                  seed: int = 0, labels: str = "hard", temperature=None, teacher=None, zca=None, precision=None):
    """(resolved :class:`Protocol`, augmentation callable or None) of a preset name or a Protocol with the
    given overrides (None: the preset's value). ``augment``: None (the preset's), "none" (no augmentation)
    or a callable ``augment(x, generator)``. Validates every field (ValueError naming it)."""
    from dd_explore import models as _models
    from dd_explore.evaluate import presets

    if isinstance(protocol, Protocol):
        base = protocol
        fields = {k: getattr(base, k) for k in _FIELDS}
        fields.update(model=model or base.model, schedule=base.schedule, momentum_reset=base.momentum_reset)
        aug_obj = _augment_from(base) if augment is None else None
        name, reference = base.name, base.reference
        kwargs = dict(base.model_kwargs) if model_kwargs is None else dict(model_kwargs)
        precision = base.precision if precision is None else precision
    elif isinstance(protocol, str):
        fields = presets.preset_fields(protocol, channels=channels, model=model)
        aug_obj = presets.build_augment(fields.pop("augment")) if augment is None else None
        name, reference = protocol, presets.REFERENCE[protocol]
        kwargs = dict(model_kwargs or {})
    else:
        raise ValueError(f"protocol must be one of {list(presets.PRESETS)} or a Protocol; got {protocol!r}")
    for k, v in (("runs", runs), ("epochs", epochs), ("lr", lr), ("momentum", momentum),
                 ("weight_decay", weight_decay), ("batch_size", batch_size)):
        if v is not None:
            fields[k] = v
    if isinstance(augment, str):
        if augment != "none":
            raise ValueError(f"augment must be None (the protocol's), 'none' or a callable augment(x, generator); got {augment!r}")
        aug_obj = None
    elif augment is not None:
        if not callable(augment):
            raise ValueError(f"augment must be None (the protocol's), 'none' or a callable augment(x, generator); got {augment!r}")
        aug_obj = augment
    precision = check_precision("fp32" if precision is None else precision)
    _positive("runs", fields["runs"])
    _positive("epochs", fields["epochs"])
    _positive("batch_size", fields["batch_size"])
    _positive("lr", fields["lr"], (int, float))
    _positive("momentum", fields["momentum"], (int, float), allow_zero=True)
    _positive("weight_decay", fields["weight_decay"], (int, float), allow_zero=True)
    _models.MODELS.get(fields["model"])  # unknown model -> ValueError listing valid names
    drop = presets.lr_drop_epoch(fields["schedule"], fields["epochs"])
    aug_name = None if aug_obj is None else getattr(aug_obj, "name", type(aug_obj).__name__)
    aug_params = aug_obj.to_dict() if aug_obj is not None and hasattr(aug_obj, "to_dict") else None
    proto = Protocol(
        model=fields["model"], model_kwargs=kwargs, runs=fields["runs"], epochs=fields["epochs"], lr=float(fields["lr"]),
        momentum=float(fields["momentum"]), weight_decay=float(fields["weight_decay"]), batch_size=fields["batch_size"],
        lr_schedule=presets.describe_schedule(fields["schedule"], fields["epochs"], drop, fields["momentum_reset"]),
        augment=aug_name, seed=int(seed), name=name, schedule=fields["schedule"], lr_drop_epoch=drop, momentum_reset=bool(fields["momentum_reset"]),
        augment_params=aug_params, labels=labels, temperature=None if temperature is None else float(temperature),
        teacher=teacher, zca=zca, reference=reference, precision=precision)
    return proto, aug_obj


def _augment_from(p: Protocol):
    """Rebuild a recorded protocol's augmentation (ours only; a custom one must be passed again)."""
    if p.augment is None:
        return None
    params = dict(p.augment_params or {})
    if p.augment.startswith("dsa-eval:"):
        from dd_explore.distill.augment import DSA
        from dd_explore.evaluate.augmentations import DSAEval

        return DSAEval(DSA(**{k: v for k, v in params.items() if k not in ("family", "parameters")}))
    if p.augment.startswith("dc:"):
        from dd_explore.evaluate.augmentations import DCAugment

        return DCAugment(**{k: v for k, v in params.items() if k != "family"})
    raise ValueError(f"protocol augmentation {p.augment!r} is not one of dd_explore's; pass augment= the callable")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    return int(seed)


def _check_models(model, models) -> list[str]:
    from dd_explore import models as _models

    if models is None:
        return [model or None]
    if model is not None:
        raise ValueError(f"pass model or models, not both; got model={model!r} and models={models!r}")
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    models = list(models)
    if not models:
        raise ValueError("models must name at least one architecture; got none")
    for m in models:
        _models.MODELS.get(m)
    dup = sorted({m for m in models if models.count(m) > 1})
    if dup:
        raise ValueError(f"models must be distinct; repeated: {dup}")
    return models


def _kwargs_for(name: str | None, model_kwargs, models_given: bool) -> dict | None:
    if model_kwargs is None or not models_given:
        return model_kwargs
    return dict(model_kwargs.get(name, {}))


def evaluate(
    images,
    labels,
    test,
    model: str | None = None,
    runs: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    batch_size: int | None = None,
    model_kwargs: dict | None = None,
    augment: Callable | str | None = None,
    device: str | torch.device = "auto",
    seed: int | None = None,
    progress: bool = True,
    *,
    protocol: str | Protocol = "plain",
    models: Sequence[str] | str | None = None,
    zca=None,
    teacher=None,
    temperature: float | None = None,
    batched: bool | str = "auto",
    layout: str = "auto",
    precision: str | None = None,
) -> "EvalResult | CrossArchResult":
    """Train ``runs`` fresh networks on (images, labels) with the protocol; test accuracy on ``test``.

    ``protocol``: a preset, "plain" (default: ConvNet, 300 epochs, lr x0.1 at half, no augmentation),
    "dsa"/"dm" (DSA on every batch, 1001 passes, the reference's schedule) or "dc" (DC's augmentation for
    single-channel sets), or a recorded :class:`Protocol`; every other argument left None takes the
    protocol's value and one given overrides it (recorded in the result's protocol). ``labels``: (n,) class
    ids or (n, C) soft targets (probabilities). ``augment``: None (the protocol's), "none", or a callable
    ``augment(x, generator)`` applied to each training batch. ``test``: a Split, an (images, labels) pair
    or a Dataset (its test split).

    ``models``: a list of architectures (or "convnet,alexnet,..."): returns a :class:`CrossArchResult` with
    one row per architecture, paired by seed; ``model_kwargs`` then maps model names to their kwargs
    (``{"convnet": {"width": 64}}``). ``zca``: a fitted :class:`~dd_explore.evaluate.zca.ZCA`: the images and
    the test split are whitened with it first (pass images in the original space). ``teacher``: a
    :class:`~dd_explore.evaluate.soft.Teacher` (or a network): the networks train on its
    temperature-scaled KL on every (augmented) batch instead of ``labels`` (``temperature``, default 4).

    Seeds: ``seed`` (a non-negative int; default 0, or a recorded Protocol's) is spread over the runs with ``numpy.random.SeedSequence(seed)
    .spawn(runs)``: run ``r`` takes child ``r``, whose first word seeds its network's initialization and
    second word its data order (and augmentations). The children of different seeds do not overlap (with
    ``seed + r``, seed 0's second network was seed 1's first), and run ``r``'s network does not depend on
    ``runs`` (the first networks of a 2-run and a 5-run evaluation are the same). Torch's global RNG
    state is left as it was (:func:`dd_explore._random.seeded`).

    ``batched``: train the runs' networks together (:func:`dd_explore.train.sgd_epochs_batched`, one
    ``vmap``-ed pass per step; the same networks, batches and augmentations as one by one, equal to float
    rounding). "auto" (default): on CUDA, where small batches leave the device idle between kernel launches;
    on CPUs the stacked (grouped) convolutions were 2x slower than one network after another (BENCHMARKS.md),
    so there they train one by one. Architectures with batch norm train one by one either way.
    ``layout``: "auto" (default) trains each network one by one in the fastest layout for the device
    (:func:`dd_explore.train.fast_layout`: on CPUs, channels_last in chunks of 10 images for networks without
    batch norm, about 0.6x the time; the same values up to float rounding); "plain": one NCHW pass per batch.
    ``precision``: None (the protocol's: "fp32", or a recorded Protocol's), "fp32" or "bf16" (every forward
    pass, training and test, under bfloat16 autocast; recorded in the protocol, since it changes the
    numbers; its speed and accuracy on this CPU are in BENCHMARKS.md).
    """
    from tqdm.auto import tqdm

    from dd_explore import models as _models
    from dd_explore.evaluate.zca import ZCA, zca_of

    if seed is None:  # a recorded Protocol replays with its seed; a preset starts from 0
        seed = protocol.seed if isinstance(protocol, Protocol) else 0
    seed = _check_seed(seed)
    names = _check_models(model, models)
    if batched not in (True, False, "auto"):
        raise ValueError(f"batched must be True, False or 'auto'; got {batched!r}")
    if layout not in ("auto", "plain"):
        raise ValueError(f"layout must be 'auto' or 'plain'; got {layout!r}")
    if models is not None and model_kwargs is not None:
        if not isinstance(model_kwargs, dict) or any(not isinstance(v, dict) for v in model_kwargs.values()):
            raise ValueError("with models=, model_kwargs must map model names to their kwargs, e.g. "
                             f"{{'convnet': {{'width': 64}}}}; got {model_kwargs!r}")
        extra = sorted(set(model_kwargs) - set(names))
        if extra:
            raise ValueError(f"model_kwargs names {extra}, which are not in models {names}")
    test_space = None
    if isinstance(test, Dataset):
        test_space = zca_of(test)
        test = test.test
    images, labels, test_x, test_y = _check_inputs(images, labels, test)
    zca_record = None
    if zca is not None:
        if not isinstance(zca, ZCA):
            raise ValueError(f"zca must be a fitted dd_explore.evaluate.zca.ZCA or None; got {type(zca).__name__}")
        if test_space is not None:
            raise ValueError("test is already ZCA-whitened (a whitened Dataset); pass zca=None and images in its space")
        images, test_x = zca.transform(images), zca.transform(test_x)
        zca_record = dict(zca.to_dict(), applied="to the images and the test split by evaluate")
    elif test_space is not None:
        zca_record = dict(test_space.to_dict(), applied="the test split was given whitened; images taken as whitened")
    num_classes = int(labels.shape[1]) if labels.ndim == 2 else int(max(int(labels.max()), int(test_y.max())) + 1)
    loss, label_mode, teacher_record = None, ("soft" if labels.ndim == 2 else "hard"), None
    if teacher is None and temperature is not None:
        raise ValueError(f"temperature applies to teacher (soft-label) evaluation; got temperature={temperature!r} without a teacher")
    dev = resolve_device(device)
    if teacher is not None:
        from dd_explore.evaluate.soft import kd_loss, teacher_info

        temperature = 4.0 if temperature is None else temperature
        loss = kd_loss(teacher, temperature)  # validates the temperature
        teacher_record = teacher_info(teacher)
        t_classes = teacher_record.get("num_classes")
        if t_classes is not None and int(t_classes) != num_classes:
            raise ValueError(f"teacher must output {num_classes} classes; it outputs {t_classes}")
        (teacher.net if hasattr(teacher, "net") else teacher).to(dev)
        label_mode = "teacher-kl"
    plans = []
    for name in names:
        proto, aug = make_protocol(protocol, channels=int(images.shape[1]), model=name,
                                   model_kwargs=_kwargs_for(name, model_kwargs, models is not None), runs=runs,
                                   epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                   batch_size=batch_size, augment=augment, seed=seed, labels=label_mode,
                                   temperature=temperature if teacher is not None else None, teacher=teacher_record,
                                   zca=zca_record, precision=precision)
        plans.append((proto, aug))
    n_runs = {p.runs for p, _ in plans}
    if len(n_runs) != 1:  # a Protocol argument with its own runs and several models: keep them paired
        raise ValueError(f"every architecture must train the same number of runs to be paired; got {sorted(n_runs)}")
    runs_ = n_runs.pop()
    run_seeds = run_seed_pairs(seed, runs_)
    results = []
    for proto, aug in plans:
        start = time.perf_counter()
        accs: list[float] = []
        # across ranks (torchrun / srun), each rank trains its block of the runs; the accuracies are gathered
        mine = distributed.owned(runs_) if distributed.context().active else range(runs_)
        mine_acc: dict[int, float] = {}
        bar = tqdm(mine, desc=f"evaluate {proto.model} x{runs_}", disable=not (progress and distributed.context().main),
                   leave=False)
        nets, gens = {}, {}
        for r in mine:
            init_seed, order_seed = run_seeds[r]
            with seeded(init_seed):
                nets[r] = _models.create(proto.model, channels=images.shape[1], num_classes=num_classes,
                                         image_size=tuple(images.shape[2:]), **proto.model_kwargs).to(dev)
            gens[r] = torch.Generator().manual_seed(order_seed)
        together = (dev.type == "cuda" if batched == "auto" else batched) and can_batch(list(nets.values()))
        together = together and proto.precision == "fp32"  # bf16 trains one by one
        if together:  # the runs' networks in one vmap-ed pass per step (equal to one by one, to float rounding)
            drop = proto.lr_drop_epoch
            drop = (proto.epochs // 2 if proto.epochs > 1 else None) if drop == "half" else drop
            sgd_epochs_batched(list(nets.values()), images.to(dev), labels.to(dev), lr=proto.lr,
                               momentum=proto.momentum, weight_decay=proto.weight_decay, epochs=proto.epochs,
                               batch_size=proto.batch_size, generators=list(gens.values()), augment=aug,
                               lr_drop_at=drop, momentum_reset=proto.momentum_reset, loss=loss)
        for r in bar:
            if not together:
                train_network(nets[r], images, labels, epochs=proto.epochs, lr=proto.lr, momentum=proto.momentum,
                              weight_decay=proto.weight_decay, batch_size=proto.batch_size, generator=gens[r],
                              augment=aug, device=dev, lr_drop_epoch=proto.lr_drop_epoch,
                              momentum_reset=proto.momentum_reset, loss=loss,
                              layout=layout, precision=proto.precision)
            mine_acc[r] = accuracy(nets[r], test_x, test_y, dev, precision=proto.precision)
            bar.set_postfix(acc=f"{100 * np.mean(list(mine_acc.values())):.1f}%")
        if distributed.context().active:
            mine_acc = distributed.merge_owned(distributed.gather_objects(mine_acc))
        accs = [mine_acc[r] for r in range(runs_)]
        arr = np.array(accs)
        results.append(EvalResult(float(arr.mean()), float(arr.std()), tuple(float(a) for a in accs), proto,
                                  int(images.shape[0]), time.perf_counter() - start))
    if models is None:
        return results[0]
    return CrossArchResult(tuple(results), seed, tuple(run_seeds))

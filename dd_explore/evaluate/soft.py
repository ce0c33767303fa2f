"""Soft-label (distillation-aware) evaluation: a teacher trained on the whole split, temperature-scaled KL.

DD-Ranking (NUS-HPC-AI-Lab/DD-Ranking, ``ddranking/metrics/soft_label.py``, ``ddranking/loss``) evaluates
soft-label methods by training the student on a teacher's outputs instead of the class ids. dd_explore's
version: :func:`train_teacher` trains one network on the whole training split (plain SGD protocol, no
augmentation, seeded); :func:`kd_loss` gives the loss the evaluation loop then minimises on every
(augmented) batch ``x``:

    T^2 * KL( softmax(teacher(x) / T) || softmax(student(x) / T) )      (mean over the batch)

so augmented images get the teacher's labels for the augmented image (DD-Ranking's per-batch mode).
The class ids of the set are not used for the loss (they still define the random subset of the same size
in the robust scores).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from dd_explore._random import seeded


@dataclass(frozen=True)
class Teacher:
    """A trained teacher network (``net``, in eval mode) and what it is (``info``: model, kwargs, epochs,
    seed, train size, test accuracy, seconds)."""

    net: torch.nn.Module = field(compare=False)
    info: dict

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x)

    def to(self, device) -> "Teacher":
        self.net.to(device)
        return self

    def save(self, path: str | Path) -> Path:
        from dd_explore._io import write_torch

        return write_torch(Path(path), {"state_dict": self.net.state_dict(), "info": self.info})

    @classmethod
    def load(cls, path: str | Path, device="cpu") -> "Teacher":
        from dd_explore import models

        d = torch.load(Path(path), map_location="cpu", weights_only=True)
        info = d["info"]
        net = models.create(info["model"], channels=info["channels"], num_classes=info["num_classes"],
                            image_size=tuple(info["image_size"]), **info["model_kwargs"])
        net.load_state_dict(d["state_dict"])
        net.eval()
        return cls(net.to(device), info)


def train_teacher(dataset, *, model: str = "convnet", model_kwargs: dict | None = None, epochs: int = 50,
                  lr: float = 0.01, batch_size: int = 256, seed: int = 0, device="auto", cache: str | Path | None = None,
                  progress: bool = False) -> Teacher:
    """Train a teacher on the whole training split of ``dataset`` (SGD lr ``lr``, momentum 0.9, weight decay
    5e-4, batch ``batch_size``, ``epochs`` epochs, lr x0.1 at half, no augmentation; network init and data
    order from ``seed``). ``cache``: a .pt file: loaded when it holds a teacher with these settings,
    written otherwise."""
    from dd_explore import models
    from dd_explore.device import resolve_device
    from dd_explore.evaluate.protocol import accuracy, run_seed_pairs, train_network

    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"teacher {name} must be a positive int; got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"teacher seed must be a non-negative int; got {seed!r}")
    models.MODELS.get(model)
    kwargs = dict(model_kwargs or {})
    dev = resolve_device(device)
    want = {"model": model, "model_kwargs": kwargs, "epochs": epochs, "lr": float(lr), "batch_size": batch_size,
            "seed": seed, "data": dataset.name, "train_size": len(dataset.train)}
    if cache is not None and Path(cache).exists():
        t = Teacher.load(cache, dev)
        if all(t.info.get(k) == v for k, v in want.items()):
            return t
    start = time.perf_counter()
    init_seed, order_seed = run_seed_pairs(seed, 1)[0]
    with seeded(init_seed):
        net = models.create(model, channels=dataset.channels, num_classes=dataset.num_classes,
                            image_size=dataset.image_size, **kwargs).to(dev)
    train_network(net, dataset.train.images, dataset.train.labels, epochs=epochs, lr=lr, momentum=0.9,
                  weight_decay=5e-4, batch_size=batch_size, generator=torch.Generator().manual_seed(order_seed),
                  device=dev)
    acc = accuracy(net, dataset.test.images, dataset.test.labels, dev)
    net.eval()
    info = dict(want, channels=dataset.channels, num_classes=dataset.num_classes, image_size=list(dataset.image_size),
                test_accuracy=acc, seconds=time.perf_counter() - start)
    teacher = Teacher(net, info)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        teacher.save(cache)
    return teacher


def kd_loss(teacher: Teacher | torch.nn.Module, temperature: float):
    """``loss(logits, y, x)`` for :func:`dd_explore.train.sgd_epochs`: temperature-scaled KL to the teacher's
    outputs on the same (augmented) batch ``x``; ``y`` is not used."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number; got {temperature!r}")
    net = teacher.net if isinstance(teacher, Teacher) else teacher
    if isinstance(net, torch.nn.Module):
        net.eval()
    t = float(temperature)

    def loss(logits: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = F.softmax(net(x) / t, dim=1)
        return F.kl_div(F.log_softmax(logits / t, dim=1), target, reduction="batchmean") * (t * t)

    return loss


def teacher_info(teacher) -> dict:
    if isinstance(teacher, Teacher):
        return dict(teacher.info)
    return {"model": type(teacher).__name__}


__all__ = ["Teacher", "kd_loss", "teacher_info", "train_teacher"]

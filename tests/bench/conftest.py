"""Fixtures of the bench tests: a fake distillation/evaluation (fast, deterministic, counted) and a tiny plan."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread is faster and immune to oversubscription on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class FakeDistill:
    images: torch.Tensor
    labels: torch.Tensor
    step_times: np.ndarray
    probe_times: np.ndarray
    losses: np.ndarray
    total_time: float
    probe_time: float
    probe_share: float
    steps_done: int
    selection: object = None

    def eval_labels(self):
        return self.labels


def _accuracy(key: str) -> float:
    """A deterministic pseudo accuracy in [0.5, 0.9] from a string."""
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
    return 0.5 + 0.4 * (h % 1000) / 1000


class Fakes:
    """Stands in for distill.run and evaluate: counts calls, can fail at the n-th distillation, and
    reports a step time of 0.1 s (0.15 s with importance batches, 0.05 s of which is the probe)."""

    def __init__(self):
        self.distill_calls = []
        self.eval_calls = 0
        self.fail_at = None

    def distill(self, dataset, cell, seed, device, *, steps, lr_img, progress):
        self.distill_calls.append((cell.key, seed, steps, lr_img, dataset.name))
        if self.fail_at is not None and len(self.distill_calls) == self.fail_at:
            raise RuntimeError("injected failure")
        per = 0.15 if cell.batches == "importance" else 0.1
        n = dataset.num_classes * cell.ipc
        tag = f"{cell.key}|{seed}|{steps}|{lr_img}|{dataset.name}"
        images = torch.full((n, *dataset.image_shape), _accuracy(tag))
        labels = torch.arange(dataset.num_classes).repeat_interleave(cell.ipc)
        st = np.full(steps, per)
        pt = np.full(steps, 0.05 if cell.batches == "importance" else 0.0)
        return FakeDistill(images, labels, st, pt, np.linspace(1, 0.5, steps), float(st.sum()), float(pt.sum()),
                           float(pt.sum() / st.sum()), steps)

    def evaluate(self, images, labels, test, *, runs, epochs, width, seed, device, progress):
        from dd_explore.evaluate import EvalResult, Protocol

        self.eval_calls += 1
        base = float(images.flatten()[0]) if images.shape[0] < 500 else 0.97
        accs = tuple(min(1.0, base + 0.01 * ((seed + r) % 3)) for r in range(runs))
        return EvalResult(float(np.mean(accs)), float(np.std(accs)), accs, Protocol(runs=runs, epochs=epochs, seed=seed),
                          int(images.shape[0]), 0.0)


@pytest.fixture
def fakes(monkeypatch):
    from dd_explore.bench import ablation

    f = Fakes()
    monkeypatch.setattr(ablation, "_distill", f.distill)
    monkeypatch.setattr(ablation, "_evaluate", f.evaluate)
    return f


@pytest.fixture
def tiny_plan():
    """DM at IPC 1 on digits: reference, s-kmeans, importance (both), s-kmeans+importance, both controls,
    two coresets and the whole split; 2 seeds; tiny budgets."""
    from dd_explore.bench import Cell, Plan, grid_cells

    cells = [Cell("coreset", "random", 1, eval_epochs=2), Cell("coreset", "herding", 1, eval_epochs=2)]
    cells += grid_cells("dm", 1, "quick", 3, {"width": 8, "depth": 2, "dsa": False}, 2,
                        inits=("random", "sensitivity-kmeans"), controls=True)
    cells.append(Cell("whole", "whole", 0, eval_epochs=1))
    return Plan(name="test", dataset="digits", seeds=(0, 1), cells=tuple(cells), lr_grid=(1.0, 3.0), eval_width=8)

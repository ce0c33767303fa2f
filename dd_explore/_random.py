"""Seeded module construction: :func:`seeded`, the one place dd_explore touches torch's global CPU RNG.

dd_explore passes explicit ``torch.Generator`` objects everywhere it can (batches, augmentations, noise,
sampling); what cannot take one is ``torch.nn`` module initialization, which draws from the process-wide
default CPU generator. :func:`seeded` wraps exactly that.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

__all__ = ["seeded"]

_LOCK = threading.RLock()  # one seeded block at a time in the process (they share the global generator)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the ``with`` block with torch's global CPU generator seeded to ``seed``, then put the generator
    back as it was (``torch.random.fork_rng(devices=[])`` + ``torch.manual_seed(seed)``).

    Used to build networks whose initial weights depend only on ``seed``::

        with seeded(1234):
            net = models.create("convnet", channels=1, num_classes=10, image_size=(8, 8))

    What it does to other threads: the global CPU generator belongs to the whole process, not to this
    thread. ``fork_rng`` saves its state on entry and restores it on exit, so while the block runs another
    thread that draws from the global generator (``torch.randn`` without a generator, a module init,
    ``torch.manual_seed``) sees it reseeded to ``seed``: it gets numbers the block expected (the block's
    network then depends on timing) and its own draws are undone on exit. Two ``seeded`` blocks never
    overlap: a process-wide lock runs them one at a time, so dd_explore's own network inits, which all go
    through here, stay reproducible when a run goes on in a background thread
    (``LiveDashboard.start_run``) while the notebook's thread evaluates or builds figures. Code outside
    dd_explore that draws from the global generator in another thread at the same time is not covered:
    give it its own ``torch.Generator``. CUDA generators are not touched (``devices=[]``): modules are
    initialized on the CPU.
    """
    with _LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield

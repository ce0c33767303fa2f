"""Turning ``random_state`` into generators (library code never touches the global seeds)."""

from __future__ import annotations

import numpy as np
import torch


def torch_generator(random_state, device: torch.device | str) -> torch.Generator:
    """``None`` -> freshly seeded, int -> seeded, ``torch.Generator`` -> used as is (must be on ``device``)."""
    device = torch.device(device)
    if isinstance(random_state, torch.Generator):
        if random_state.device.type != device.type:
            raise ValueError(
                f"random_state is a torch.Generator on {random_state.device}, but the data is on {device}; "
                "pass an int seed or a generator on the data's device"
            )
        return random_state
    gen = torch.Generator(device=device)
    if random_state is None:
        gen.manual_seed(int(np.random.SeedSequence().generate_state(1, np.uint32)[0]))
    else:
        gen.manual_seed(int(random_state))
    return gen


def spawn_seeds(random_state: int | None, count: int) -> list[int]:
    """``count`` independent 32-bit seeds derived from ``random_state`` (fresh entropy when None)."""
    children = np.random.SeedSequence(random_state).spawn(count)
    return [int(c.generate_state(1, np.uint32)[0]) for c in children]

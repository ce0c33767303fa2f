"""Evaluation networks' seeds (SeedSequence children) and the seeded() helper."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from dd_explore._random import seeded
from dd_explore.evaluate.protocol import run_seed_pairs


def test_run_seeds_are_spawned_not_consecutive():
    pairs = run_seed_pairs(0, 5)
    assert pairs == run_seed_pairs(0, 5)  # deterministic
    assert run_seed_pairs(0, 2) == pairs[:2]  # a network does not depend on how many runs follow it
    flat = [s for p in pairs + run_seed_pairs(1, 5) for s in p]
    assert len(set(flat)) == len(flat)  # seed 0's networks are not seed 1's (as seed + r made them)
    children = np.random.SeedSequence(0).spawn(5)
    assert pairs[3] == tuple(int(w) for w in children[3].generate_state(2, np.uint32))


def test_evaluate_refuses_a_negative_seed():
    from dd_explore.data.dataset import Split
    from dd_explore.evaluate import evaluate

    x, y = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        evaluate(x, y, Split(x, y), runs=1, epochs=1, seed=-1, device="cpu", progress=False)


def test_seeded_restores_the_global_generator_and_is_reproducible():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.rand(2)
    with seeded(7):
        b = torch.rand(2)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected)  # the global stream goes on as if nothing happened


def test_seeded_blocks_in_two_threads_do_not_mix():
    """Two threads building seeded networks at once each get exactly their seed's numbers (the lock)."""
    with seeded(1):
        want1 = torch.rand(2000)
    with seeded(2):
        want2 = torch.rand(2000)
    got, barrier = {}, threading.Barrier(2)

    def work(seed):
        barrier.wait()
        for _ in range(20):
            with seeded(seed):
                parts = [torch.rand(100) for _ in range(20)]
            got.setdefault(seed, []).append(torch.cat(parts))

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(g, want1) for g in got[1]) and all(torch.equal(g, want2) for g in got[2])

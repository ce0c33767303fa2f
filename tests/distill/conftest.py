"""Small per-method settings for digits (8x8): tests stay fast on two CPU cores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SMALL = {
    "dm": dict(width=16, depth=2),
    "kip": dict(),
    "dc": dict(width=16, depth=2, outer_loop=2, inner_loop=2, batch_real=32, batch_train=32, lr_img=0.03),
    "dsa": dict(width=16, depth=2, outer_loop=2, inner_loop=2, batch_real=32, batch_train=32, lr_img=0.03),
    # online segments, so every step draws real batches like the other methods (buffer mode: test_mtt.py)
    "mtt": dict(width=16, depth=2, lr_img=100.0, num_experts=2, max_start_epoch=2, expert_epochs=1, syn_steps=3,
                segment="online", online_steps=2, batch_real=8),
}


@pytest.fixture
def small():
    def options(method: str) -> dict:
        return dict(SMALL[method])

    options.methods = frozenset(SMALL)
    return options


def _load_contract():
    spec = importlib.util.spec_from_file_location("dd_explore_tests_contract", Path(__file__).with_name("contract.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTRACT = _load_contract()


@pytest.fixture
def contract():
    """The checks every method gets (contract.py)."""
    return CONTRACT


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one intra-op thread is faster, and immune to the oversubscription that makes
    two OpenMP threads crawl on a busy two-core machine (observed: 36 s vs 8 min for this folder)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

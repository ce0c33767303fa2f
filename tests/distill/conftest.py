"""Small per-method settings for digits (8x8): tests stay fast on two CPU cores."""

from __future__ import annotations

import pytest

SMALL = {
    "dm": dict(width=16, depth=2),
    "kip": dict(),
    "dc": dict(width=16, depth=2, outer_loop=2, inner_loop=2, batch_real=32, batch_train=32, lr_img=0.03),
    "dsa": dict(width=16, depth=2, outer_loop=2, inner_loop=2, batch_real=32, batch_train=32, lr_img=0.03),
}


@pytest.fixture
def small():
    def options(method: str) -> dict:
        return dict(SMALL[method])

    return options

"""Real results for the figure builders: selections on digits and one tiny distillation run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kmeans_selection(digits):
    from dd_explore import selection

    return selection.select(digits.train.images, digits.train.labels, ipc=3, method="sensitivity-kmeans", random_state=0)


@pytest.fixture(scope="session")
def krr_selection(digits):
    from dd_explore import selection

    return selection.select(digits.train.images, digits.train.labels, ipc=2, method="sensitivity-krr", random_state=0)


@pytest.fixture(scope="session")
def run_record(tiny_run_dir):
    from dd_explore import distill

    return distill.load_run(tiny_run_dir)

"""Shared fixtures: embedded data sets loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def digits():
    from dd_explore import data

    return data.load("digits")


@pytest.fixture(scope="session")
def mnist5k():
    from dd_explore import data

    return data.load("mnist5k")


@pytest.fixture(scope="session")
def tiny_run_dir(digits, tmp_path_factory):
    """One real run shared by the view and report tests: DM on digits, IPC 2, sensitivity-kmeans init,
    importance batches, 12 steps, snapshots every 4, a tiny evaluation every 6 steps."""
    from dd_explore import distill

    out = tmp_path_factory.mktemp("tiny-run")
    distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", batches="importance", steps=12, out=out, width=8,
                seed=0, refresh=4, probe_width=8, probe_epochs=1, probe_warmup_epochs=2, snapshot_every=4,
                checkpoint_every=6, overwrite=True,
                evaluate=dict(runs=2, epochs=2, every=6, every_runs=1, every_epochs=1, model_kwargs={"width": 8}))
    return out

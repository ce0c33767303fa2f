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
def run_record(digits, tmp_path_factory):
    from dd_explore import distill

    return distill.load_run(shared_run_dir(digits, tmp_path_factory))


def shared_run_dir(digits, tmp_path_factory):
    """DM on digits, IPC 2, sensitivity-kmeans init, importance batches, 12 steps, a tiny evaluation every 6
    steps. Written once per test session (tests/viz and tests/report share it through the session's base
    temp folder; both conftests define this same function)."""
    from dd_explore import distill

    out = tmp_path_factory.getbasetemp() / "dd-explore-shared-digits-run"
    done = out.with_name(out.name + ".done")
    if not done.exists():
        out.mkdir(exist_ok=True)
        distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", batches="importance", steps=12, out=out, width=8,
                    seed=0, refresh=4, probe_width=8, probe_epochs=1, probe_warmup_epochs=2, snapshot_every=4,
                    checkpoint_every=6, overwrite=True,
                    evaluate=dict(runs=2, epochs=2, every=6, every_runs=1, every_epochs=1, model_kwargs={"width": 8}))
        done.touch()
    return out

"""One tiny real run (digits, DM, sensitivity init, importance batches, evaluated) and its report (PCA embedding)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def run_dir(digits, tmp_path_factory):
    return shared_run_dir(digits, tmp_path_factory)


@pytest.fixture(scope="session")
def report_path(run_dir, tmp_path_factory):
    from dd_explore.report import write_report

    cache = tmp_path_factory.mktemp("embedding-cache")
    return write_report(run_dir, out=tmp_path_factory.mktemp("report") / "report.html", embedding="pca", cache_dir=cache)


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

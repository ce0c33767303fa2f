"""One tiny real run (digits, DM, sensitivity init, importance batches, evaluated) and its report."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def run_dir(digits, tmp_path_factory):
    from dd_explore import distill

    out = tmp_path_factory.mktemp("report-run") / "run"
    out.mkdir()
    distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", batches="importance", steps=12, out=out, width=8,
                seed=0, refresh=4, probe_width=8, probe_epochs=1, probe_warmup_epochs=2, snapshot_every=4,
                checkpoint_every=6,
                evaluate=dict(runs=2, epochs=2, every=6, every_runs=1, every_epochs=1, model_kwargs={"width": 8}))
    return out


@pytest.fixture(scope="session")
def report_path(run_dir, tmp_path_factory):
    from dd_explore.report import write_report

    cache = tmp_path_factory.mktemp("embedding-cache")
    return write_report(run_dir, out=tmp_path_factory.mktemp("report") / "report.html", embedding="pca", cache_dir=cache)

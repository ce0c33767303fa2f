"""One tiny real run (digits, DM, sensitivity init, importance batches, evaluated) and its report (PCA embedding)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def run_dir(tiny_run_dir):
    return tiny_run_dir


@pytest.fixture(scope="session")
def report_path(run_dir, tmp_path_factory):
    from dd_explore.report import write_report

    cache = tmp_path_factory.mktemp("embedding-cache")
    return write_report(run_dir, out=tmp_path_factory.mktemp("report") / "report.html", embedding="pca", cache_dir=cache)

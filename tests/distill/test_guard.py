"""The guard a user sees: a run that makes its set worse than its initialization says so, and keeps the
best evaluated set next to the last one."""

import logging

import torch

from dd_explore import distill
from dd_explore.distill import load_run

EVAL = dict(runs=2, epochs=30, every=2, every_runs=2, every_epochs=30, model_kwargs={"width": 16})


def test_guard_fires_on_a_run_made_to_degrade(digits, tmp_path, caplog):
    # DM with a huge image learning rate: the images stay finite but leave the data's range
    with caplog.at_level(logging.WARNING, logger="dd_explore.distill.callbacks"):
        res = distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", steps=4, seed=0, width=16, lr_img=3000.0,
                          out=tmp_path / "bad", evaluate=EVAL)
    assert torch.isfinite(res.images).all()
    m = res.metrics
    assert m["final"]["mean"] < m["initial"]["mean"] - max(m["initial"]["std"], m["final"]["std"])
    warnings = m["warnings"]
    assert warnings and any(w["budget"] == "final" for w in warnings) and "worse by" in warnings[-1]["message"]
    assert any("worse by" in r.getMessage() for r in caplog.records)
    # the best evaluated set is the initial one (gain 0), kept in the result and as best.pt
    assert res.best["step"] == 0 and res.best["gain"] == 0.0
    assert torch.equal(res.best["images"], res.initial_images)
    saved = torch.load(tmp_path / "bad" / "best.pt", weights_only=True)
    assert saved["step"] == 0 and torch.equal(saved["images"], res.initial_images)
    assert load_run(tmp_path / "bad").metrics["warnings"] == warnings


def test_no_warning_when_the_set_improves(digits, tmp_path):
    res = distill.run(digits, "dm", ipc=2, init="random", steps=6, seed=0, width=16, out=tmp_path / "good",
                      evaluate=dict(EVAL, every=None))
    m = res.metrics
    assert m["final"]["mean"] > m["initial"]["mean"]
    assert "warnings" not in m
    assert res.best["step"] == 6 and res.best["gain"] > 0 and torch.equal(res.best["images"], res.images)


def test_dashboard_and_report_show_the_guard(digits, tmp_path):
    from dd_explore.report import write_report
    from dd_explore.widgets import LiveDashboard

    dash = LiveDashboard(digits, update_every=0.0)
    distill.run(digits, "dm", ipc=2, init="sensitivity-kmeans", steps=2, seed=0, width=16, lr_img=3000.0,
                out=tmp_path / "bad", evaluate=dict(EVAL, every=None), callbacks=[dash])
    assert "got worse than its initialization" in dash.guard.value and "worse by" in dash.guard.value
    html = write_report(tmp_path / "bad", tmp_path / "bad" / "report.html", dataset=digits, embedding="pca").read_text()
    assert "got worse than its initialization" in html and "best.pt" in html

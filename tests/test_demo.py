"""`dd-explore demo` end to end on a tiny budget (digits), and its refusals before any work."""

from __future__ import annotations

import json

from dd_explore.cli import main


def test_demo_writes_run_summary_and_report(tmp_path):
    out = tmp_path / "demo"
    rc = main(["demo", "--dataset", "digits", "--ipc", "2", "--steps", "4", "--eval-runs", "1",
               "--eval-epochs", "3", "--embedding", "pca", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["init"] == "sensitivity-kmeans" and summary["batches"] == "importance"
    assert 0.0 <= summary["final_accuracy"]["mean"] <= 1.0
    html = (out / "report.html").read_text()
    assert html.count("js-plotly-plot") >= 0 and "plotly" in html.lower()
    assert (out / "run" / "config.json").exists() and (out / "run" / "synthetic.pt").exists()
    # a second demo into the same folder is refused without --overwrite
    assert main(["demo", "--dataset", "digits", "--out", str(out)]) == 2


def test_demo_rejects_bad_budget_before_writing(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "0", "--out", str(out)]) == 2
    assert "--steps must be a positive int; got 0" in capsys.readouterr().err
    assert not out.exists()

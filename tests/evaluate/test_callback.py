"""The Evaluation callback with a protocol preset and cross-architecture models; the report's table."""

from __future__ import annotations

import json

import pytest

from dd_explore import distill
from dd_explore.distill.callbacks import Evaluation


def test_evaluation_callback_with_a_preset_and_models(digits, tmp_path):
    out = tmp_path / "run"
    ev = Evaluation(runs=2, epochs=3, protocol="dm", models=["convnet", "mlp"], initial=False,
                    model_kwargs={"convnet": {"width": 8}, "mlp": {"width": 16}})
    res = distill.run(digits, "dm", ipc=1, steps=2, out=out, width=8, seed=0, overwrite=True, evaluate=ev)
    metrics = json.loads((out / "metrics.json").read_text())
    cross = metrics["cross_arch"]
    assert [r["protocol"]["model"] for r in cross["rows"]] == ["convnet", "mlp"] and cross["step"] == 2
    assert all(r["protocol"]["name"] == "dm" and r["protocol"]["augment"].startswith("dsa-eval") for r in cross["rows"])
    # the final evaluation is the main model's row (the same networks), not trained twice
    assert metrics["final"]["accuracies"] == cross["rows"][0]["accuracies"]
    assert res.metrics["final"]["protocol"]["model_kwargs"] == {"width": 8}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["evaluation"]["protocol"] == "dm" and cfg["evaluation"]["models"] == ["convnet", "mlp"]

    from dd_explore.report.build import cross_arch_table
    from dd_explore.report.html import Page

    page = Page(title="t")
    cross_arch_table(page, metrics)
    html = "".join(page.parts)
    assert "Cross-architecture evaluation of the final set" in html
    assert "<td>convnet</td>" in html and "<td>mlp</td>" in html and "dsa-eval" in html
    empty = Page(title="t")
    cross_arch_table(empty, {"final": metrics["final"]})
    assert empty.parts == []  # a run without the table shows nothing


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "mtt"}, "evaluation protocol must be one of"),
    ({"models": ["mlp"], "model_kwargs": {"lenet": {}}}, "evaluation model_kwargs must map some of"),
    ({"epochs": 0}, "evaluation epochs must be a positive int; got 0"),
])
def test_evaluation_callback_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Evaluation(**kwargs).check()

"""Loss, accuracy and run-vs-run comparison figures."""

from __future__ import annotations

import numpy as np
import pytest

from dd_explore.viz import comparison_figure, metrics


def test_loss_curve_is_the_run_losses(run_record):
    fig = metrics.run_loss_figure(run_record)
    np.testing.assert_array_equal(fig.data[0].x, run_record.event_steps)
    np.testing.assert_array_equal(fig.data[0].y, run_record.losses)
    smooth = metrics.loss_figure(np.arange(10), np.arange(10.0), smooth=4)
    np.testing.assert_allclose(smooth.data[1].y, np.convolve(np.arange(10.0), np.ones(4) / 4, "valid"))


def test_accuracy_over_steps_from_the_run_metrics(run_record):
    m = run_record.metrics
    fig = metrics.run_accuracy_figure(run_record)
    curve = [t for t in fig.data if t.name.startswith("during the run")][0]
    assert list(curve.x) == [h["step"] for h in m["history"]]
    np.testing.assert_allclose(curve.y, [100 * h["mean"] for h in m["history"]])
    ends = [t for t in fig.data if t.name == "initial / final"][0]
    assert list(ends.x) == [0, m["final"]["step"]]
    np.testing.assert_allclose(ends.y, [100 * m["initial"]["mean"], 100 * m["final"]["mean"]])
    np.testing.assert_allclose(ends.error_y.array, [100 * m["initial"]["std"], 100 * m["final"]["std"]])
    bars = metrics.accuracy_figure(initial=m["initial"], final=m["final"])
    np.testing.assert_allclose(bars.data[0].y, [100 * m["initial"]["mean"], 100 * m["final"]["mean"]])


def test_comparison_bars_carry_means_and_stds(digits):
    from dd_explore.evaluate import evaluate

    idx = np.concatenate([np.flatnonzero(digits.train.labels.numpy() == c)[:2] for c in range(10)])
    res = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, runs=2, epochs=2,
                   model_kwargs={"width": 8}, progress=False)
    fig = comparison_figure([("random 2/class", res), ("manual", 0.5, 0.1), {"label": "dict", "mean": 0.7, "std": 0.0}])
    bars = fig.data[0]
    assert list(bars.x) == ["random 2/class", "manual", "dict"]
    np.testing.assert_allclose(bars.y, [100 * res.mean, 50.0, 70.0])
    np.testing.assert_allclose(bars.error_y.array, [100 * res.std, 10.0, 0.0])
    dots = fig.data[1]
    np.testing.assert_allclose(dots.y, [100 * a for a in res.accuracies])
    mapped = comparison_figure({"a": res}, percent=False)
    assert mapped.data[0].y[0] == pytest.approx(res.mean)
    with pytest.raises(ValueError, match="finite std >= 0"):
        comparison_figure([("bad", 0.5, -0.1)])
    with pytest.raises(ValueError, match="at least one"):
        comparison_figure([])

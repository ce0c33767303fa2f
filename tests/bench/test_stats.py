"""Paired statistics on known inputs, and the per-cell summary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dd_explore.bench import Cell, paired_test, summarize


def test_identical_accuracies_give_zero_difference_and_p_one():
    a = [0.91, 0.92, 0.93, 0.90, 0.95]
    p = paired_test(a, list(a))
    assert p.diff == 0.0 and p.t_p == 1.0 and p.wilcoxon_p == 1.0 and p.wins == p.losses == 0 and p.n == 5


def test_clearly_shifted_accuracies_give_small_p():
    rng = np.random.default_rng(0)
    b = rng.uniform(0.85, 0.9, 8)
    a = b + 0.05 + rng.normal(0, 0.005, 8)
    p = paired_test(a, b)
    assert p.diff == pytest.approx(np.mean(a - b))
    assert p.t_p < 1e-4
    assert p.wilcoxon_p < 0.01  # exact two-sided: 2 / 2^8
    assert p.wins == 8 and p.losses == 0


def test_noise_only_is_not_significant():
    rng = np.random.default_rng(1)
    b = rng.uniform(0.85, 0.9, 6)
    a = b + np.array([0.01, -0.01, 0.005, -0.006, 0.002, -0.001])
    p = paired_test(a, b)
    assert p.t_p > 0.5 and p.wilcoxon_p > 0.5


def test_constant_shift_and_single_seed():
    p = paired_test([0.92, 0.93, 0.94], [0.90, 0.91, 0.92])
    assert p.diff == pytest.approx(0.02) and p.t_p == 0.0 and p.wilcoxon_p == pytest.approx(0.25)
    one = paired_test([0.9], [0.8])
    assert one.n == 1 and one.diff == pytest.approx(0.1) and math.isnan(one.t_p) and math.isnan(one.wilcoxon_p)


@pytest.mark.parametrize("a, b, message", [([0.9, 0.8], [0.9], "one accuracy per shared seed"),
                                           ([0.9, float("nan")], [0.9, 0.8], "finite")])
def test_bad_input(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_test(a, b)


def _row(cell, seed, accs, **kw):
    return dict({"cell": cell.key, "seed": seed, "accuracy": float(np.mean(accs)), "accuracies": accs,
                 "steps_done": cell.steps, "seconds_per_step": 0.1, "probe_share": 0.0, "distill_seconds": 1.0,
                 "eval_seconds": 2.0, "lr_img": 1.0}, **kw)


def test_summary_pairs_on_shared_seeds_only():
    ref = Cell("distill", "dm", 1, steps=5)
    imp = Cell("distill", "dm", 1, batches="importance", steps=5)
    rows = [_row(ref, 0, [0.80, 0.82]), _row(ref, 1, [0.70, 0.72]), _row(ref, 2, [0.60, 0.60]),
            _row(imp, 0, [0.85, 0.87]), _row(imp, 1, [0.74, 0.76])]
    s_ref, s_imp = summarize([ref, imp], rows)
    assert s_ref.paired is None and s_ref.runs == 6
    assert s_ref.mean == pytest.approx(np.mean([0.80, 0.82, 0.70, 0.72, 0.60, 0.60]))
    assert s_ref.std == pytest.approx(np.std([0.80, 0.82, 0.70, 0.72, 0.60, 0.60]))
    assert s_imp.reference == ref.key and s_imp.seeds == (0, 1)
    assert s_imp.paired.n == 2 and s_imp.paired.diff == pytest.approx(0.045)


def test_diverged_rows_are_counted_not_averaged():
    ref = Cell("distill", "dm", 1, steps=5)
    rows = [_row(ref, 0, [0.8]), dict(_row(ref, 1, [0.0]), accuracy="", accuracies=[])]
    (s,) = summarize([ref], rows)
    assert s.runs == 1 and s.failed == 1 and s.mean == pytest.approx(0.8)

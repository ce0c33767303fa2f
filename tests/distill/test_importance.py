import math

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from dd_explore.distill.importance import (
    HIST_EDGES,
    ImportanceOptions,
    ImportanceSampler,
    UniformSampler,
    mix,
    summarize,
)


def make_sampler(n_per_class=50, classes=2, **options):
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return ImportanceSampler(labels, classes, ImportanceOptions(**options), refresh=5), labels


def known_losses(n, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).gamma(0.5, 1.0, size=n))


def test_q_follows_the_formula_and_sums_to_one_per_class():
    s, labels = make_sampler(gamma=0.2)
    l = known_losses(100)
    s.update(0, torch.arange(100), l)
    for c in range(2):
        lc = l[labels == c].numpy()
        expected = 0.8 * lc / lc.sum() + 0.2 / 50
        np.testing.assert_allclose(s.q[labels == c].numpy(), expected, rtol=1e-12)
        assert s.q[labels == c].sum().item() == pytest.approx(1.0, abs=1e-12)
    q = s.q_full()
    assert q.dtype == np.float32 and abs(q[:50].sum() - 1) < 1e-5


def test_empirical_draw_frequencies_match_q_chi_square():
    s, labels = make_sampler(gamma=0.1)
    s.update(0, torch.arange(100), known_losses(100, seed=1))
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([s.draw(0, 1000, g)[0] for _ in range(20)])
    observed = np.bincount(idx.numpy(), minlength=50)
    assert observed.sum() == 20000 and (idx < 50).all()
    q0 = s.q[:50].numpy()
    assert chisquare(observed, q0 * 20000).pvalue > 1e-3
    # the same draws are far from uniform: the test can tell the two apart
    assert chisquare(observed, np.full(50, 400.0)).pvalue < 1e-6
    # draw counts are recorded per train point
    assert torch.equal(s.counts[:50], torch.from_numpy(observed))


def test_gamma_keeps_every_point_reachable():
    s, _ = make_sampler(gamma=0.1)
    l = torch.zeros(100)
    l[3] = 100.0  # all the probe's mass on one point
    s.update(0, torch.arange(100), l)
    assert (s.q[:50] >= 0.1 / 50 - 1e-12).all()
    idx, _ = s.draw(0, 10000, torch.Generator().manual_seed(0))
    assert np.bincount(idx.numpy(), minlength=50).min() > 0


def test_drop_top_excludes_highest_losses_and_reweighting():
    s, _ = make_sampler(gamma=0.1, drop_top=0.1, weighting="reweight")
    l = torch.arange(100, dtype=torch.float64)
    s.update(0, torch.arange(100), l)
    assert (s.q[45:50] == 0).all() and (s.q[:45] > 0).all()
    idx, w = s.draw(0, 2000, torch.Generator().manual_seed(0))
    assert idx.max() < 45
    torch.testing.assert_close(w.double(), 1.0 / (50 * s.q[idx]), rtol=1e-6, atol=0)


def test_pool_scores_part_of_large_classes_and_fills_the_rest_with_the_mean():
    s, _ = make_sampler(n_per_class=50, gamma=0.5, pool=10)
    pool = s.pool(torch.Generator().manual_seed(0))
    assert pool.numel() == 20
    s.update(0, pool, torch.ones(20))
    assert s.scored.sum() == 20
    np.testing.assert_allclose(s.q[:50].numpy(), np.full(50, 1 / 50), rtol=1e-12)  # equal losses -> uniform


def test_no_probe_yet_is_uniform_and_refresh_schedule():
    s, _ = make_sampler()
    assert s.needs_refresh(0)
    s.update(0, torch.arange(100), None)
    np.testing.assert_allclose(s.q.numpy(), np.full(100, 1 / 50))
    assert not s.needs_refresh(4) and s.needs_refresh(5)


def test_summary_of_uniform_and_peaked_q():
    idx = np.arange(100, 150)
    u = summarize(np.full(50, 1 / 50), idx, cls=2, topk=5)
    assert u.entropy == pytest.approx(math.log(50)) and u.entropy_ratio == pytest.approx(1.0)
    assert u.ess == pytest.approx(50.0) and sum(u.hist) == 50 and u.max_ratio == pytest.approx(1.0)
    assert u.hist[np.searchsorted(HIST_EDGES, 1.0, side="right") - 1] == 50
    q = mix(np.r_[np.zeros(49), 1.0], gamma=0.1)
    p = summarize(q, idx, cls=2, topk=3)
    assert p.topk_indices[0] == 149 and p.topk_probs[0] == pytest.approx(0.9 + 0.1 / 50)
    assert p.ess < 2 and p.entropy_ratio < 0.5


def test_uniform_sampler_draws_without_replacement_within_the_class():
    labels = torch.tensor([0, 1] * 20)
    s = UniformSampler(labels, 2)
    idx, w = s.draw(1, 15, torch.Generator().manual_seed(0))
    assert w is None and idx.unique().numel() == 15 and (labels[idx] == 1).all()
    idx, _ = s.draw(0, 100, torch.Generator().manual_seed(0))  # more than the class has: all of it
    assert idx.numel() == 20


@pytest.mark.parametrize("bad, match", [
    (dict(gamma=0.0), "gamma"), (dict(gamma=1.5), "gamma"), (dict(drop_top=1.0), "drop_top"),
    (dict(weighting="sqrt"), "weighting"), (dict(probe="oracle"), "probe"), (dict(refresh=0), "refresh"),
    (dict(pool=0), "pool"), (dict(probe_lr=-1.0), "probe_lr"),
])
def test_bad_options(bad, match):
    with pytest.raises(ValueError, match=match):
        ImportanceOptions(**bad).check()

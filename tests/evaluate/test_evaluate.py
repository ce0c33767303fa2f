"""Evaluation protocol: learns from real data, reproducible, seeds kept local, bad input rejected."""

from __future__ import annotations

import json

import pytest
import torch

from dd_explore.evaluate import evaluate

SMALL = dict(model_kwargs={"width": 16}, progress=False, device="cpu")


def _random_real(ds, ipc, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([ds.train.class_indices(c)[torch.randperm(len(ds.train.class_indices(c)), generator=g)[:ipc]] for c in range(10)])
    return ds.train.images[idx], ds.train.labels[idx]


def test_more_data_gives_higher_accuracy(digits):
    x1, y1 = _random_real(digits, 1)
    x20, y20 = _random_real(digits, 20)
    small = evaluate(x1, y1, digits.test, runs=2, epochs=300, **SMALL)
    large = evaluate(x20, y20, digits.test, runs=2, epochs=300, **SMALL)
    assert 0.1 < small.mean < large.mean
    assert large.mean > 0.7
    assert len(large.accuracies) == 2 and large.train_size == 200


def test_reproducible_and_global_rng_untouched(digits):
    x, y = _random_real(digits, 2)
    state = torch.get_rng_state()
    a = evaluate(x, y, digits.test, runs=2, epochs=5, seed=3, **SMALL)
    assert torch.equal(state, torch.get_rng_state())
    b = evaluate(x, y, digits.test, runs=2, epochs=5, seed=3, **SMALL)
    assert a.accuracies == b.accuracies
    record = json.loads(json.dumps(a.to_dict()))
    assert record["protocol"]["lr"] == 0.01 and record["protocol"]["momentum"] == 0.9
    assert record["protocol"]["weight_decay"] == 5e-4 and record["protocol"]["batch_size"] == 256
    with pytest.raises(Exception):
        a.protocol.runs = 3  # frozen


def test_soft_labels(digits):
    x, y = _random_real(digits, 5)
    soft = torch.nn.functional.one_hot(y, 10).float()
    r = evaluate(x, soft, digits.test, runs=1, epochs=200, **SMALL)
    assert r.mean > 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"runs": 0}, r"runs must be a positive int; got 0"),
        ({"epochs": -1}, r"epochs must be a positive int; got -1"),
        ({"lr": 0.0}, r"lr must be a positive number; got 0.0"),
        ({"model": "vgg"}, r"model must be one of"),
    ],
)
def test_bad_arguments(digits, kwargs, match):
    x, y = _random_real(digits, 1)
    with pytest.raises(ValueError, match=match):
        evaluate(x, y, digits.test, **{**SMALL, **kwargs})


def test_bad_shapes(digits):
    x, y = _random_real(digits, 1)
    with pytest.raises(ValueError, match=r"images must have shape \(n, C, H, W\)"):
        evaluate(x[:, 0], y, digits.test, **SMALL)
    with pytest.raises(ValueError, match=r"labels must be"):
        evaluate(x, y[:3], digits.test, **SMALL)
    with pytest.raises(ValueError, match=r"test images must have the shape"):
        evaluate(x, y, (torch.zeros(3, 1, 4, 4), torch.zeros(3, dtype=torch.long)), **SMALL)

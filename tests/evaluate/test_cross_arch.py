"""Cross-architecture evaluation: every architecture trains on digits and beats chance; rows are paired by seed."""

from __future__ import annotations

import pytest
import torch

from dd_explore import models
from dd_explore.evaluate import CrossArchResult, evaluate, run_seed_pairs

# small widths so the whole registry trains in seconds on 8x8 digits
WIDTHS = {"convnet": 16, "convnet-bn": 16, "convnet-nn": 16, "mlp": 32, "lenet": 6, "alexnet": 16, "alexnet-bn": 16,
          "vgg11": 4, "vgg11-bn": 4, "resnet18": 4, "resnet18-bn": 4}


def _set(ds, ipc, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([ds.train.class_indices(c)[torch.randperm(len(ds.train.class_indices(c)), generator=g)[:ipc]]
                     for c in range(10)])
    return ds.train.images[idx], ds.train.labels[idx]


def test_every_architecture_trains_on_digits_and_beats_chance(digits):
    names = models.list_models()
    assert set(WIDTHS) == set(names), "give a new architecture a small width here"
    for need in ("convnet", "convnet-bn", "convnet-nn", "mlp", "lenet", "alexnet", "vgg11", "resnet18"):
        assert need in names
    x, y = _set(digits, 10)
    r = evaluate(x, y, digits.test, models=names, model_kwargs={m: {"width": w} for m, w in WIDTHS.items()},
                 runs=1, epochs=30, batch_size=10, lr=0.05, device="cpu", progress=False)
    assert isinstance(r, CrossArchResult) and r.models == tuple(names)
    for row in r.rows:
        assert row.mean > 0.3, f"{row.protocol.model} does not learn digits: {row}"  # chance: 0.1
        assert row.protocol.model_kwargs == {"width": WIDTHS[row.protocol.model]}
    table = r.table()
    assert table.count("\n") == len(names) + 1 and "| resnet18 |" in table


def test_rows_are_paired_by_seed(digits, monkeypatch):
    """Run r of every architecture is initialized from the same seed word and draws its data order (and
    augmentations) from the same generator seed; a row equals the same model evaluated alone (its networks do
    not depend on the other architectures)."""
    from dd_explore.evaluate import protocol as proto_mod

    x, y = _set(digits, 2)
    init_seen, order_seen = [], []
    real_seeded, real_train = proto_mod.seeded, proto_mod.train_network

    def spy_seeded(s):
        init_seen.append(int(s))
        return real_seeded(s)

    def spy_train(net, *a, generator, **k):
        order_seen.append((type(net).__name__, generator.initial_seed()))
        return real_train(net, *a, generator=generator, **k)

    monkeypatch.setattr(proto_mod, "seeded", spy_seeded)
    monkeypatch.setattr(proto_mod, "train_network", spy_train)
    kw = dict(runs=3, epochs=4, batch_size=8, seed=7, device="cpu", progress=False)
    r = evaluate(x, y, digits.test, models=["mlp", "lenet"], model_kwargs={"mlp": {"width": 16}}, **kw)
    pairs = run_seed_pairs(7, 3)
    assert init_seen == [a for a, _ in pairs] * 2  # mlp's three networks, then lenet's: the same init words
    assert order_seen == [("MLP", b) for _, b in pairs] + [("LeNet", b) for _, b in pairs]
    assert r.run_seeds == tuple(pairs)
    monkeypatch.undo()
    alone = evaluate(x, y, digits.test, model="lenet", **kw)
    assert alone.accuracies == r.row("lenet").accuracies
    assert r.to_dict()["rows"][1]["protocol"]["model"] == "lenet"
    with pytest.raises(ValueError, match="model must be one of"):
        r.row("vgg11")

"""The runs' networks trained together (vmap over stacked parameters) equal the one-by-one training."""

import torch

from dd_explore import models
from dd_explore.evaluate import evaluate
from dd_explore.train import can_batch, sgd_epochs, sgd_epochs_batched


def _nets(seeds, **kw):
    out = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            out.append(models.create("convnet", channels=1, num_classes=10, image_size=(8, 8), width=16, depth=2, **kw))
    return out


def test_batched_training_equals_one_by_one(digits):
    x, y = digits.train.images[:120], digits.train.labels[:120]
    from dd_explore.distill.augment import DSA

    aug = DSA()
    one = _nets([1, 2, 3])
    for r, net in enumerate(one):
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        sgd_epochs(net, x, y, opt, epochs=4, batch_size=50, generator=torch.Generator().manual_seed(10 + r),
                   augment=aug, lr_drop_at=2, momentum_reset=True)
    together = _nets([1, 2, 3])
    assert can_batch(together)
    sgd_epochs_batched(together, x, y, lr=0.01, momentum=0.9, weight_decay=5e-4, epochs=4, batch_size=50,
                       generators=[torch.Generator().manual_seed(10 + r) for r in range(3)], augment=aug,
                       lr_drop_at=2, momentum_reset=True)
    start = _nets([1, 2, 3])
    for a, b, s in zip(one, together, start):
        for (name, pa), pb, ps in zip(a.named_parameters(), b.parameters(), s.parameters()):
            assert not torch.equal(pa, ps), name  # trained
            torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-5, msg=name)


def test_batch_norm_networks_are_not_batched():
    assert not can_batch(_nets([1, 2], norm="batch")) and not can_batch(_nets([1]))


def test_evaluate_batched_equals_sequential(digits):
    idx = torch.cat([torch.nonzero(digits.train.labels == c).flatten()[:5] for c in range(10)])
    kw = dict(runs=3, epochs=6, model_kwargs={"width": 16, "depth": 2}, device="cpu", progress=False, seed=4)
    a = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, batched=False, **kw)
    b = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, batched=True, **kw)
    # equal networks up to float rounding: the test accuracies agree to a prediction or two
    assert all(abs(p - q) <= 2 / len(digits.test) for p, q in zip(a.accuracies, b.accuracies)), (a, b)

"""The evaluation's fast CPU layout (channels_last, chunks of 10 images) trains the same networks as one NCHW
pass per batch, up to float rounding; batch-norm networks keep the plain pass."""

import pytest
import torch

from dd_explore import models
from dd_explore.distill.augment import DSA
from dd_explore.evaluate import evaluate
from dd_explore.train import CPU_CHUNK, fast_layout, per_image, sgd_epochs


def _net(seed, **kw):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return models.create("convnet", channels=1, num_classes=10, image_size=(8, 8), width=16, depth=2, **kw)


@pytest.mark.parametrize("soft", [False, True])
def test_fast_layout_training_equals_plain(digits, soft):
    x, y = digits.train.images[:120], digits.train.labels[:120]
    if soft:  # soft targets go through the chunked path too
        y = torch.nn.functional.one_hot(y, 10).float() * 0.8 + 0.02
    trained = []
    for fast in (False, True):
        net = _net(1)
        forward, chunk = fast_layout(net, torch.device("cpu")) if fast else (None, None)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        sgd_epochs(net, x, y, opt, epochs=4, batch_size=60, generator=torch.Generator().manual_seed(3),
                   augment=DSA(), lr_drop_at=2, forward=forward, chunk=chunk)
        trained.append(net)
    plain, fast = trained
    assert fast.features[0].weight.is_contiguous(memory_format=torch.channels_last)  # moved in place
    start = _net(1)
    for (name, a), b, s in zip(plain.named_parameters(), fast.parameters(), start.parameters()):
        assert not torch.equal(a, s), name  # trained
        torch.testing.assert_close(b.contiguous(), a, rtol=1e-4, atol=1e-5, msg=name)


def test_fast_layout_only_for_per_image_networks_on_cpu():
    assert per_image(_net(0)) and not per_image(_net(0, norm="batch"))
    assert fast_layout(_net(0, norm="batch"), torch.device("cpu")) == (None, None)
    assert fast_layout(_net(0), torch.device("meta")) == (None, None)
    forward, chunk = fast_layout(_net(0), torch.device("cpu"))
    assert chunk == CPU_CHUNK and forward(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_evaluate_fast_layout_equals_plain(digits):
    idx = torch.cat([torch.nonzero(digits.train.labels == c).flatten()[:5] for c in range(10)])
    kw = dict(runs=2, epochs=6, model_kwargs={"width": 16, "depth": 2}, device="cpu", progress=False, seed=4,
              batched=False)
    a = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, layout="plain", **kw)
    b = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, layout="auto", **kw)
    assert all(abs(p - q) <= 2 / len(digits.test) for p, q in zip(a.accuracies, b.accuracies)), (a, b)


def test_evaluate_rejects_a_bad_layout(digits):
    with pytest.raises(ValueError, match="layout must be 'auto' or 'plain'; got 'nhwc'"):
        evaluate(digits.train.images[:10], digits.train.labels[:10], digits.test, layout="nhwc", progress=False)

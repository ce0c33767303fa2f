import pytest
import torch

from dd_explore.distill.augment import DSA, FAMILIES, augment


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_changes_images_and_is_differentiable(family):
    g = torch.Generator().manual_seed(0)
    dsa = DSA(strategy=family, flip=1.0)
    x = torch.randn(16, 3, 8, 8, requires_grad=True)
    y = dsa.apply(x, dsa.sample(16, g, (8, 8)))
    assert y.shape == x.shape
    assert (y - x).abs().max() > 1e-3
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_siamese_same_parameters_for_real_and_synthetic_batches():
    """Images of the same group get the same transform, whatever batch they are in."""
    g = torch.Generator().manual_seed(1)
    dsa = DSA()
    params = dsa.sample(3, g, (8, 8))
    base = torch.randn(3, 1, 8, 8)
    real = torch.cat([base, torch.randn(5, 1, 8, 8)])
    real_groups = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    syn = base.flip(0)
    syn_groups = torch.tensor([2, 1, 0])
    a = dsa.apply(real, params, real_groups)[:3]
    b = dsa.apply(syn, params, syn_groups).flip(0)
    torch.testing.assert_close(a, b)


def test_single_mode_draws_one_family_per_set_and_generator_determines_everything():
    dsa = DSA()
    p1 = dsa.sample(200, torch.Generator().manual_seed(3), (8, 8))
    p2 = dsa.sample(200, torch.Generator().manual_seed(3), (8, 8))
    assert (p1.active.sum(1) == 1).all()
    assert set(p1.active.float().argmax(1).tolist()) == set(range(len(FAMILIES)))
    assert torch.equal(p1.active, p2.active) and torch.equal(p1.rotate, p2.rotate)
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(5)), augment(x, torch.Generator().manual_seed(5)))


def test_all_mode_and_bad_strategy():
    p = DSA(mode="all").sample(4, torch.Generator().manual_seed(0), (8, 8))
    assert p.active.all()
    with pytest.raises(ValueError, match="dsa strategy"):
        DSA(strategy="color_blur").sample(1, torch.Generator(), (8, 8))


def test_augment_plugs_into_evaluate(digits):
    from dd_explore.evaluate import evaluate

    idx = torch.cat([digits.train.class_indices(c)[:2] for c in range(10)])
    res = evaluate(digits.train.images[idx], digits.train.labels[idx], digits.test, runs=1, epochs=2,
                   model_kwargs={"width": 8, "depth": 2}, augment=augment, progress=False)
    assert res.protocol.augment.startswith("dsa")

"""The CPU speed paths (chunks, channels_last) compute the same values as the plain network."""

import torch

from dd_explore import models
from dd_explore.distill.methods.base import embed, loss_grad


def nets():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        plain = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=16)
    fast = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=16)
    fast.load_state_dict(plain.state_dict())
    return plain, fast.to(memory_format=torch.channels_last)


def close_in_norm(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-2) -> bool:
    """Equal up to float32 rounding, where rounding may flip a ReLU at its kink: the two layouts sum in
    different orders, and one flipped unit changes the gradient of the pixels under it (seen: ~1% of the
    input-gradient elements off by up to 10% for some inputs), so compare in norm."""
    return a.shape == b.shape and float((a - b).norm() / b.norm()) < rel


def test_embed_values_and_input_gradients_match():
    plain, fast = nets()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 28, 28, generator=g)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ea, eb = plain.embed(xa), embed(fast, xb, channels_last=True, chunk=16)
    torch.testing.assert_close(eb, ea, rtol=1e-4, atol=1e-5)
    w = torch.randn(ea.shape, generator=g)
    (ea * w).sum().backward()
    (eb * w).sum().backward()
    assert close_in_norm(xb.grad, xa.grad)
    with torch.no_grad():
        torch.testing.assert_close(embed(fast, x, True, 7), plain.embed(x), rtol=1e-4, atol=1e-5)


def test_chunked_weighted_loss_gradient_matches_one_pass():
    """Equal up to float32 rounding and ReLU-kink flips (see :func:`close_in_norm`); seeded inputs."""
    plain, fast = nets()
    g = torch.Generator().manual_seed(0)
    x, y, w = torch.randn(50, 1, 28, 28, generator=g), torch.randint(0, 10, (50,), generator=g), torch.rand(50, generator=g) * 2
    params = [p for p in plain.parameters() if p.ndim > 1]
    ce = torch.nn.functional.cross_entropy(plain(x), y, reduction="none")
    expected = torch.autograd.grad((ce * w).mean(), params)
    got = loss_grad(fast, [p for p in fast.parameters() if p.ndim > 1], x, y, w, channels_last=True, chunk=16)
    for a, e in zip(got, expected):
        assert close_in_norm(a, e)

"""CIFAR-shaped images with class structure, made on the spot (nothing downloaded), for the scale bench.

Each class has its own colours, stripe orientation and frequency, and a bright blob at its own place;
each image draws its phase, a shift of the blob, brightness, colour jitter and pixel noise, so classes are
learnable but not trivial and selection / distillation do not run on pure noise.
"""

from __future__ import annotations

import numpy as np


def class_styles(num_classes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng([seed, 7919])
    return {
        "fg": rng.uniform(40, 255, (num_classes, 3)),
        "bg": rng.uniform(0, 160, (num_classes, 3)),
        "blob": rng.uniform(0, 255, (num_classes, 3)),
        "theta": np.pi * np.arange(num_classes) / num_classes + rng.uniform(0, 0.2, num_classes),
        "freq": 1.5 + (np.arange(num_classes) % 4) * 0.9,
        "center": rng.uniform(0.25, 0.75, (num_classes, 2)),
    }


BLOCK = 2048


def make_images(n: int, num_classes: int = 10, size: int = 32, channels: int = 3,
                seed: int = 0, style_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (n, C, size, size) uint8, labels (n,) int64): balanced classes in a seeded random order
    (``seed``; the classes' looks come from ``style_seed``, so train and test sets share them),
    made :data:`BLOCK` images at a time, each block from its own seeded stream (memory: the result plus
    one float block; the first m images do not depend on n)."""
    if n < num_classes:
        raise ValueError(f"n must be at least num_classes ({num_classes}); got {n}")
    st = class_styles(num_classes, style_seed)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    out = np.empty((n, channels, size, size), dtype=np.uint8)
    yy, xx = np.meshgrid(np.linspace(0, 1, size, dtype=np.float32), np.linspace(0, 1, size, dtype=np.float32),
                         indexing="ij")
    for s in range(0, n, BLOCK):
        rng = np.random.default_rng([seed, s // BLOCK])
        lab = labels[s : s + BLOCK]
        b = lab.shape[0]
        theta = st["theta"][lab] + rng.normal(0, 0.15, b)
        freq = st["freq"][lab] * rng.uniform(0.85, 1.15, b)
        phase = rng.uniform(0, 2 * np.pi, b)
        proj = np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy
        stripes = (0.5 + 0.5 * np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None])).astype(np.float32)
        center = st["center"][lab] + rng.normal(0, 0.08, (b, 2))
        radius = rng.uniform(0.08, 0.16, b)
        d2 = (xx - center[:, 0, None, None]) ** 2 + (yy - center[:, 1, None, None]) ** 2
        blob = np.exp(-d2 / (2 * radius[:, None, None] ** 2)).astype(np.float32)
        jitter = rng.normal(0, 18, (b, 3))
        fg = (st["fg"][lab] + jitter)[:, :channels, None, None]
        bg = (st["bg"][lab] + jitter)[:, :channels, None, None]
        bc = st["blob"][lab][:, :channels, None, None]
        bright = rng.uniform(0.8, 1.2, b)[:, None, None, None]
        img = bg + (fg - bg) * stripes[:, None] * 0.8
        img = img * (1 - 0.7 * blob[:, None]) + bc * 0.7 * blob[:, None]
        img = img * bright + rng.normal(0, 12, img.shape)
        out[s : s + b] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return out, labels


def make_dataset(n: int, num_classes: int = 10, size: int = 32, seed: int = 0, test_per_class: int = 100):
    """A compact :class:`~dd_explore.data.Dataset` of ``n`` train images (+ ``test_per_class`` test
    images per class) from :func:`make_images`, named ``synthetic-cifar-<n>``."""
    from dd_explore.data import from_arrays

    X, y = make_images(n, num_classes, size, seed=seed, style_seed=seed)
    Xt, yt = make_images(num_classes * test_per_class, num_classes, size, seed=seed + 1_000_003, style_seed=seed)
    return from_arrays(X, y, Xt, yt, name=f"synthetic-cifar-{n}", classes=[f"c{c}" for c in range(num_classes)],
                       pixel_range=255.0)

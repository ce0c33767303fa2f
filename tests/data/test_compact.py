"""Compact storage: uint8 pixels normalized per batch give what the float32 path gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dd_explore import data
from dd_explore.data import dataset as dataset_module


def _pair(n=300, shape=(3, 10, 10), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    y = np.arange(n) % classes
    return data.from_arrays(X, y), data.from_arrays(X, y, storage="float32"), X


def test_uint8_path_equals_float_path():
    compact, dense, X = _pair()
    assert compact.train.storage == "uint8" and compact.train.compact and compact.train.pixels.dtype == torch.uint8
    assert dense.train.storage == "float32" and not dense.train.compact
    assert compact.mean == dense.mean and compact.std == dense.std
    assert compact.image_shape == dense.image_shape == (3, 10, 10)
    assert compact.train.shape == dense.train.images.shape and compact.train.dtype == torch.float32
    torch.testing.assert_close(compact.train.images, dense.train.images, rtol=0, atol=1e-6)
    torch.testing.assert_close(compact.test.images, dense.test.images, rtol=0, atol=1e-6)
    idx = torch.tensor([7, 0, 199, 7])
    for ix in (idx, idx.numpy(), idx.tolist(), slice(3, 40, 2), 5, compact.train.labels == 1):
        torch.testing.assert_close(compact.train.batch(ix), dense.train.batch(ix), rtol=0, atol=1e-6)
    torch.testing.assert_close(compact.train.batch(idx, "cpu"), dense.train.images[idx], rtol=0, atol=1e-6)
    got = torch.cat([b for _, b in compact.train.iter_batches(64)])
    torch.testing.assert_close(got, dense.train.images, rtol=0, atol=1e-6)
    sub = compact.train.subset(idx)
    assert sub.compact and torch.equal(sub.labels, compact.train.labels[idx])
    torch.testing.assert_close(sub.images, dense.train.images[idx], rtol=0, atol=1e-6)
    # the pixels round-trip through denormalize
    pix = np.round(compact.denormalize(compact.train.images).numpy() * 255)
    np.testing.assert_array_equal(pix, compact.train.pixels.numpy())


def test_embedded_sets_are_compact_and_unchanged(digits, mnist5k):
    for ds in (digits, mnist5k):
        assert ds.train.compact and ds.test.compact
    # the values the float path gave before compact storage (to the last bit on the CPU)
    from sklearn.datasets import load_digits

    from dd_explore.data.arrays import from_arrays, stratified_split

    bunch = load_digits()
    tr, te = stratified_split(bunch.target, 0.2, 0)
    X = bunch.images.astype(np.float32)
    old = from_arrays(X[tr], bunch.target[tr], X[te], bunch.target[te], pixel_range=16.0, storage="float32")
    assert torch.equal(digits.train.images, old.train.images) and digits.mean == old.mean


def test_large_splits_are_not_kept_as_float(monkeypatch):
    monkeypatch.setattr(dataset_module, "CACHE_BYTES", 0)
    compact, dense, X = _pair(n=600)
    u8 = compact.train.pixels.numel()
    a = compact.train.images
    b = compact.train.images
    assert a is not b and torch.equal(a, b)  # normalized at each access, not kept
    # resident: the uint8 pixels and the labels, within 1.5x the uint8 size
    assert compact.train.nbytes <= 1.5 * u8
    assert dense.train.nbytes >= 4 * u8


def test_to_device_keeps_compact_and_storage_choices():
    compact, dense, _ = _pair(n=60)
    assert compact.train.to("cpu") is compact.train
    moved = compact.to("cpu")
    assert moved.train.compact
    rng = np.random.default_rng(0)
    floats = rng.random((40, 1, 4, 4)).astype(np.float32)
    ds = data.from_arrays(floats, np.arange(40) % 2)
    assert ds.train.storage == "float32"  # not 8-bit: stays float
    with pytest.raises(ValueError, match=r"storage='uint8' needs 8-bit pixels"):
        data.from_arrays(floats, np.arange(40) % 2, storage="uint8")
    with pytest.raises(ValueError, match=r"storage must be one of \['auto', 'uint8', 'float32'\]; got 'half'"):
        data.from_arrays(floats, np.arange(40) % 2, storage="half")
    ints = (floats * 255).round()
    assert data.from_arrays(ints, np.arange(40) % 2).train.compact  # integer-valued floats in 0..255


def test_select_and_distill_on_a_compact_split_equal_the_float_path():
    from dd_explore import distill
    from dd_explore.selection import select
    from dd_explore.selection.features import extract_features, pca

    compact, dense, _ = _pair(n=240, shape=(1, 8, 8))
    for features in ("pixels", "pca:5", "convnet"):
        kw = dict(method="sensitivity-kmeans", features=features, random_state=0)
        if features == "convnet":
            kw["feature_options"] = {"width": 4, "depth": 1}
        a = select(compact.train, compact.train.labels, 3, **kw)
        b = select(dense.train.images, dense.train.labels, 3, **kw)
        np.testing.assert_array_equal(a.indices, b.indices)
    # the batched PCA (used for splits and large inputs) agrees with the in-memory one
    F = extract_features(compact.train, "pca:4")
    ref = pca(dense.train.images.reshape(len(dense.train), -1), 4)
    torch.testing.assert_close(F, ref, rtol=1e-4, atol=1e-4)
    kw = dict(ipc=2, init="sensitivity-kmeans", batches="uniform", steps=2, width=8, seed=0, device="cpu")
    ra, rb = distill.run(compact, "dm", **kw), distill.run(dense, "dm", **kw)
    torch.testing.assert_close(ra.images, rb.images, rtol=0, atol=1e-6)

"""Data layer: embedded sets, seeded splits, user arrays, torchvision folders (written by the test)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from dd_explore import data


def test_mnist5k_split_is_fixed_and_stratified(mnist5k):
    assert mnist5k.image_shape == (1, 28, 28)
    assert mnist5k.train.class_counts(10).tolist() == [400] * 10
    assert mnist5k.test.class_counts(10).tolist() == [100] * 10
    again = data.load("mnist5k")
    assert torch.equal(again.train.images, mnist5k.train.images)
    assert torch.equal(again.test.labels, mnist5k.test.labels)
    # normalized with train statistics: mean ~0, std ~1 on train
    assert abs(float(mnist5k.train.images.mean())) < 1e-3
    assert abs(float(mnist5k.train.images.std()) - 1) < 1e-2
    # pixel statistics of MNIST
    assert 0.12 < mnist5k.mean[0] < 0.14
    pix = mnist5k.denormalize(mnist5k.train.images[:50])
    assert float(pix.min()) >= 0.0 and float(pix.max()) <= 1.0 and float(pix.max()) > 0.99


def test_digits(digits):
    assert digits.image_shape == (1, 8, 8)
    assert len(digits.train) + len(digits.test) == 1797
    assert digits.classes == tuple(str(i) for i in range(10))
    counts = digits.test.class_counts(10)
    assert int(counts.min()) >= 35  # ~20% of each class
    assert digits.train.images.dtype == torch.float32 and digits.train.labels.dtype == torch.int64


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match=r"dataset must be one of .*mnist5k.*got 'mnsit'"):
        data.load("mnsit")


def test_from_arrays_string_labels_keep_mapping():
    rng = np.random.default_rng(0)
    X = rng.random((40, 6, 6)).astype(np.float32)
    y = np.array(["cat", "dog"] * 20)
    ds = data.from_arrays(X, y, test_fraction=0.25)
    assert ds.classes == ("cat", "dog")
    assert len(ds.train) == 30 and len(ds.test) == 10
    assert set(ds.train.labels.tolist()) == {0, 1}


def test_from_arrays_channels_last_and_flat():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (20, 5, 5, 3)).astype(np.uint8)
    ds = data.from_arrays(X, np.repeat([0, 1], 10))
    assert ds.image_shape == (3, 5, 5)
    flat = data.from_arrays(rng.random((20, 12)), np.repeat([0, 1], 10), image_shape=(3, 4))
    assert flat.image_shape == (1, 3, 4)


@pytest.mark.parametrize(
    "X, y, kwargs, match",
    [
        (np.full((4, 3, 3), np.nan), [0, 1, 0, 1], {}, r"X must be finite; found 36 NaN/inf"),
        (np.zeros((4, 3, 3)), [0, 1, 0], {}, r"y must have one label per image \(4\); got 3"),
        (np.zeros((0, 3, 3)), [], {}, r"X must not be empty"),
        (np.zeros((4, 3)), [0, 1, 0, 1], {}, r"X must have 3 dims .* got 2 dims"),
        (np.zeros((4, 3, 3)), [0, 2, 0, 2], {}, r"y must be integers 0..C-1 .*missing \[1\]"),
        (np.zeros((4, 3, 3)), [0, -1, 0, 1], {}, r"y must be integers 0..C-1"),
        (np.zeros((4, 3, 3)), [0.5, 1, 0, 1], {}, r"y must be integers 0..C-1 or strings"),
        (np.zeros((4, 9)), [0, 1, 0, 1], {"image_shape": (2, 2)}, r"image_shape must be"),
        (np.zeros((4, 3, 3)), [0, 1, 0, 1], {"test_fraction": 1.5}, r"test_fraction must be in \(0, 1\); got 1.5"),
    ],
)
def test_from_arrays_rejects_bad_input(X, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.from_arrays(X, np.asarray(y), **kwargs)


def _write_idx(path, array: np.ndarray) -> None:
    magic = 0x0800 | array.ndim
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for s in array.shape:
            f.write(struct.pack(">I", s))
        f.write(array.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_local_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    tr_x = rng.integers(0, 256, (30, 28, 28))
    tr_y = np.arange(30) % 10
    te_x = rng.integers(0, 256, (20, 28, 28))
    te_y = np.arange(20) % 10
    _write_idx(raw / "train-images-idx3-ubyte", tr_x)
    _write_idx(raw / "train-labels-idx1-ubyte", tr_y)
    _write_idx(raw / "t10k-images-idx3-ubyte", te_x)
    _write_idx(raw / "t10k-labels-idx1-ubyte", te_y)
    ds = data.load("mnist", root=tmp_path)
    assert ds.image_shape == (1, 28, 28) and len(ds.train) == 30 and len(ds.test) == 20
    assert ds.mean == (0.1307,)
    assert ds.train.labels.tolist() == tr_y.tolist()
    pix = ds.denormalize(ds.train.images[:1])[0, 0].numpy()
    np.testing.assert_allclose(pix, tr_x[0] / 255.0, atol=1e-5)


def test_torchvision_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist: no train files found under root=.*download=True"):
        data.load("mnist", root=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing may be written when files are missing"
    with pytest.raises(ValueError, match="root must be a folder"):
        data.load("cifar10")

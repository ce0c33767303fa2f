"""Your own images: ``data.from_folder`` / ``data.load("imagefolder")`` on folders written by the test."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dd_explore import data

H = W = 8


def _image(rng, value: int, shape=(H, W, 3)) -> np.ndarray:
    """A distinct image: a random pattern plus a per-file value in the top-left pixel."""
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    a[0, 0] = value
    return a


def write_folder(root, counts: dict, *, rng, size=(H, W), mode="RGB", fmt="png") -> dict:
    """root/<class>/<k>.<fmt>; returns {class: [array, ...]} of what was written (H, W, C)."""
    written = {}
    v = 0
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        arrs = []
        for k in range(n):
            shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
            a = _image(rng, v % 256, shape)
            v += 1
            Image.fromarray(a, mode=mode).save(root / cls / f"{k}.{fmt}")
            arrs.append(a if a.ndim == 3 else a[:, :, None])
        written[cls] = arrs
    return written


def _pixels(ds, split) -> np.ndarray:
    """uint8 (n, H, W, C) pixels of a split, back from the normalized images."""
    pix = ds.denormalize(split.images) * 255.0
    return np.round(pix.numpy()).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.fixture()
def folder(tmp_path):
    """Classes cat (6), dog (6, plus a corrupt PNG and a text file), eel (2: too small for ipc 2 after the split)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "pets"
    written = write_folder(root, {"cat": 6, "dog": 6, "eel": 2}, rng=rng)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0hidden files are ignored")
    return root, written


def test_splits_class_names_and_pixels(folder):
    root, written = folder
    with pytest.warns(UserWarning, match=r"skipped 2 files .* not readable images: dog/broken.png .*dog/notes.txt"):
        ds = data.from_folder(root)
    assert ds.classes == ("cat", "dog", "eel")
    assert ds.image_shape == (3, H, W)
    # seeded stratified 20 % split per class, at least one image on each side
    assert ds.train.class_counts(3).tolist() == [5, 5, 1]
    assert ds.test.class_counts(3).tolist() == [1, 1, 1]
    # every written image is in exactly one split, with its class, pixel for pixel
    got = {}
    for split in (ds.train, ds.test):
        for lab, pix in zip(split.labels.tolist(), _pixels(ds, split)):
            got.setdefault(ds.classes[lab], []).append(pix)
    for cls, arrs in written.items():
        assert sorted(a.tobytes() for a in arrs) == sorted(a.tobytes() for a in got[cls])
    # same seed, same split; another seed, another split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = data.load("imagefolder", root=root)
        other = data.from_folder(root, random_state=1)
    assert torch.equal(again.train.images, ds.train.images) and torch.equal(again.test.labels, ds.test.labels)
    assert not torch.equal(other.train.images, ds.train.images)
    # the data set remembers where it came from (recorded in run configs)
    src = ds.describe()["source"]
    assert src["loader"] == "imagefolder" and src["root"] == str(root.resolve()) and src["image_size"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        back = data.load_described(ds.describe())
    assert torch.equal(back.train.images, ds.train.images)


def test_bad_files_can_stop_the_load(folder):
    root, _ = folder
    with pytest.raises(ValueError, match=r"broken.png is not a readable image .*on_error='skip'"):
        data.from_folder(root, on_error="raise")
    with pytest.raises(ValueError, match=r"on_error must be one of \['skip', 'raise'\]; got 'ignore'"):
        data.from_folder(root, on_error="ignore")


def test_a_class_smaller_than_the_ipc_is_named(folder):
    from dd_explore import distill
    from dd_explore.selection import select

    root, _ = folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = data.from_folder(root)
    with pytest.raises(ValueError, match=r"ipc must be a positive int no larger than the smallest class \(1 images in class 2\); got 2"):
        select(ds.train.images, ds.train.labels, 2, method="random")
    with pytest.raises(ValueError, match=r"no larger than the smallest class \(1 images in class 2\); got 2"):
        distill.run(ds, "dm", ipc=2, steps=1, init="random", device="cpu")


def test_empty_folders_and_missing_classes(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.from_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no class subfolders: expected .*/<class name>/<image files>"):
        data.from_folder(tmp_path / "empty")
    root = tmp_path / "some"
    write_folder(root, {"a": 3}, rng=rng)
    (root / "b").mkdir()
    with pytest.raises(ValueError, match=r"class folder \['b'\] under .* holds no files"):
        data.from_folder(root)
    (root / "b" / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="skipped 1 file"), pytest.raises(ValueError, match=r"class \['b'\] has no readable images"):
        data.from_folder(root)
    with pytest.raises(ValueError, match="dataset 'imagefolder' needs root="):
        data.load("imagefolder")
    with pytest.raises(ValueError, match=r"imagefolder options must be among .*got \['size'\]"):
        data.load("imagefolder", root=root, size=8)


def test_mixed_sizes_need_image_size(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "mixed"
    write_folder(root, {"a": 3}, rng=rng, size=(8, 8))
    write_folder(root, {"b": 3}, rng=rng, size=(10, 6), fmt="jpg")
    with pytest.raises(ValueError, match=r"2 different sizes \(height x width: 8x8 \(a/0.png\), 10x6 \(b/0.jpg\)\); pass image_size"):
        data.from_folder(root)
    ds = data.from_folder(root, image_size=8)
    assert ds.image_shape == (3, 8, 8) and len(ds.train) + len(ds.test) == 6
    assert ds.describe()["source"]["image_size"] == [8, 8]
    ds = data.from_folder(root, image_size=(4, 6))
    assert ds.image_shape == (3, 4, 6)
    with pytest.raises(ValueError, match=r"image_size must be a positive int or \(height, width\)"):
        data.from_folder(root, image_size=0)


def test_train_test_layout_and_grayscale(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "given"
    tr = write_folder(root / "train", {"x": 4, "y": 3}, rng=rng, mode="L")
    te = write_folder(root / "test", {"x": 2, "y": 2}, rng=rng, mode="L")
    ds = data.from_folder(root)
    assert ds.classes == ("x", "y") and ds.image_shape == (1, H, W)
    assert ds.train.class_counts(2).tolist() == [4, 3] and ds.test.class_counts(2).tolist() == [2, 2]
    got = _pixels(ds, ds.test)
    want = [a for cls in ("x", "y") for a in te[cls]]  # files in sorted order, classes in order: no shuffling
    np.testing.assert_array_equal(got, np.stack(want))
    np.testing.assert_array_equal(_pixels(ds, ds.train), np.stack([a for c in ("x", "y") for a in tr[c]]))
    shutil.rmtree(root / "test" / "y")
    with pytest.raises(ValueError, match=r"must have the class folders of .*missing \['y'\]"):
        data.from_folder(root)


def test_cli_select_distill_and_report_find_the_folder(folder, tmp_path, capsys):
    from dd_explore import cli
    from dd_explore.distill import load_run

    root, _ = folder
    sel = tmp_path / "sel"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["select", "--dataset", "imagefolder", "--root", str(root), "--ipc", "1", "--method", "random",
                         "--out", str(sel), "--no-progress"]) == 0
        run = tmp_path / "run"
        assert cli.main(["distill", "--dataset", "imagefolder", "--root", str(root), "--method", "dm", "--ipc", "1",
                         "--steps", "2", "--init", "random", "--width", "8", "--out", str(run), "--device", "cpu",
                         "--no-progress"]) == 0
    assert load_run(run).config["run"]["dataset"]["source"]["root"] == str(root.resolve())
    from dd_explore.report import write_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(run, embedding="pca", cache_dir=tmp_path / "cache").read_text()
    assert "data set could not be loaded" not in page and "hover or click a point" in page
    moved = tmp_path / "moved"
    root.rename(moved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(run, embedding="pca", cache_dir=tmp_path / "cache").read_text()
    assert f"the run read its images from the folder {root.resolve()}; pass --root DIR" in page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = write_report(run, embedding="pca", cache_dir=tmp_path / "cache", root=moved).read_text()
    assert "data set could not be loaded" not in page

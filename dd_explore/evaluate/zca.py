"""ZCA whitening of a data set, as MTT and its followers use on CIFAR (fitted on the training split).

MTT (GeorgeCazenavette/mtt-distillation ``utils.py: get_dataset``) loads the images as ``ToTensor()``
pixels (no mean/std normalization), fits ``kornia.enhance.ZCAWhitening(eps=0.1)`` on the whole training
split and applies it to the training and the test split; the distilled images then live in that space and
are evaluated there. This module is our own implementation of the same transform (no kornia): with the
training images flattened to rows ``X`` (n x D), ``mu`` their mean and ``C = (X - mu)^T (X - mu) / (n - 1)``
(kornia's unbiased default), ``C = U diag(S) U^T``,

    whiten(x)   = (x - mu) U diag(1 / sqrt(S + eps)) U^T
    unwhiten(z) = z U diag(sqrt(S + eps)) U^T + mu

computed in float64. dd_explore's data sets are stored normalized (``(pixels - mean) / std``); pass
``pixel_mean``/``pixel_std`` (``whiten_dataset`` does) and the ZCA is fitted on the pixels, as MTT's.

A whitened data set is a :class:`ZCADataset`: the same splits whitened, ``name`` ``"<name>+zca"``, its
``describe()`` (recorded in a run's ``config.json``) carries the ZCA's description and checksum, and
``denormalize`` un-whitens first, so the views show real-looking images. Runs distilled on it are
evaluated on its (whitened) test split; :func:`for_run` finds the ZCA of a run directory (``zca.pt``,
written by the evaluation callback, or refitted from the recorded description and checked against its
checksum) so that ``dd-explore evaluate --from RUN`` evaluates the set in the space it was made in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from dd_explore.data.dataset import Dataset, Split

ZCA_FILE = "zca.pt"


@dataclass(frozen=True)
class ZCA:
    """A fitted ZCA whitening: ``mean`` (D,), ``matrix`` (D, D) and ``inverse_matrix`` (D, D), float64 on the
    CPU, for images of ``shape`` (C, H, W); ``eps``; ``pixel_mean``/``pixel_std`` when it was fitted on
    pixels of normalized images; ``fitted_on`` (what it was fitted on, e.g. "mnist5k train (4000 images)")."""

    mean: torch.Tensor
    matrix: torch.Tensor
    inverse_matrix: torch.Tensor
    eps: float
    shape: tuple[int, int, int]
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None
    fitted_on: str = ""
    checksum: str = field(default="", compare=False)

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, images: torch.Tensor, eps: float = 0.1, *, pixel_mean=None, pixel_std=None,
            fitted_on: str = "") -> "ZCA":
        """Fit on ``images`` (n, C, H, W); ``eps`` is added to the eigenvalues (MTT: 0.1)."""
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise ValueError(f"images must be a (n, C, H, W) tensor; got {getattr(images, 'shape', type(images))}")
        n = int(images.shape[0])
        if n < 2:
            raise ValueError(f"images must hold at least 2 images to fit a ZCA; got {n}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0 or not np.isfinite(eps):
            raise ValueError(f"eps must be a positive number; got {eps!r}")
        if (pixel_mean is None) != (pixel_std is None):
            raise ValueError("pixel_mean and pixel_std go together; got one of them")
        shape = tuple(int(s) for s in images.shape[1:])
        pm = tuple(float(v) for v in pixel_mean) if pixel_mean is not None else None
        ps = tuple(float(v) for v in pixel_std) if pixel_std is not None else None
        if pm is not None and (len(pm) != shape[0] or len(ps) != shape[0]):
            raise ValueError(f"pixel_mean/pixel_std must have one value per channel ({shape[0]}); got {len(pm)}, {len(ps)}")
        x = _to_pixels(images.detach().to("cpu", torch.float64), pm, ps).reshape(n, -1)
        mu = x.mean(0)
        xc = x - mu
        cov = xc.T @ xc / (n - 1)
        s, u = torch.linalg.eigh(cov)
        s = s.clamp(min=0.0)
        w = (u * (1.0 / torch.sqrt(s + eps))) @ u.T
        w_inv = (u * torch.sqrt(s + eps)) @ u.T
        z = cls(mu, w, w_inv, float(eps), shape, pm, ps, fitted_on)
        return replace(z, checksum=z._checksum())

    def _checksum(self) -> str:
        """A rounding-tolerant fingerprint: eps, the shape and a few sums of the matrices (6 significant digits)."""
        vals = [self.eps, float(self.mean.sum()), float(self.matrix.diagonal().sum()), float(self.matrix.abs().sum()),
                float(self.inverse_matrix.diagonal().sum())]
        return "zca:" + ",".join(f"{v:.6g}" for v in vals) + ":" + "x".join(str(s) for s in self.shape)

    # ------------------------------------------------------------------ apply
    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"{name} must have shape (n, {', '.join(map(str, self.shape))}) to use this ZCA; "
                             f"got {tuple(x.shape)}")

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """Whiten ``images`` (same dtype and device; float64 inside)."""
        self._check(images, "images")
        x = _to_pixels(images.detach().to("cpu", torch.float64), self.pixel_mean, self.pixel_std)
        z = (x.reshape(x.shape[0], -1) - self.mean) @ self.matrix
        return z.reshape(images.shape).to(images.device, images.dtype if images.is_floating_point() else torch.float32)

    def inverse(self, whitened: torch.Tensor) -> torch.Tensor:
        """Un-whiten: back to the images' original (normalized) space."""
        self._check(whitened, "whitened images")
        z = whitened.detach().to("cpu", torch.float64).reshape(whitened.shape[0], -1)
        x = (z @ self.inverse_matrix + self.mean).reshape(whitened.shape)
        if self.pixel_mean is not None:
            m = torch.tensor(self.pixel_mean, dtype=torch.float64).view(1, -1, 1, 1)
            s = torch.tensor(self.pixel_std, dtype=torch.float64).view(1, -1, 1, 1)
            x = (x - m) / s
        return x.to(whitened.device, whitened.dtype)

    # ------------------------------------------------------------------ record
    def to_dict(self) -> dict:
        """JSON-serializable description (recorded in protocols and run configs)."""
        return {"eps": self.eps, "shape": list(self.shape), "fitted_on": self.fitted_on,
                "pixels": self.pixel_mean is not None, "pixel_mean": list(self.pixel_mean or []),
                "pixel_std": list(self.pixel_std or []), "checksum": self.checksum,
                "covariance": "unbiased (n - 1)"}

    def save(self, path: str | Path) -> Path:
        """Write the ZCA (matrices and description) atomically to ``path`` (a .pt file)."""
        from dd_explore._io import write_torch

        return write_torch(Path(path), {"mean": self.mean, "matrix": self.matrix, "inverse_matrix": self.inverse_matrix,
                                        "info": self.to_dict()})

    @classmethod
    def load(cls, path: str | Path) -> "ZCA":
        path = Path(path)
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            info = d["info"]
            z = cls(d["mean"], d["matrix"], d["inverse_matrix"], float(info["eps"]), tuple(info["shape"]),
                    tuple(info["pixel_mean"]) if info.get("pixels") else None,
                    tuple(info["pixel_std"]) if info.get("pixels") else None, info.get("fitted_on", ""))
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - any damage -> one clear error
            raise ValueError(f"{path}: not a readable ZCA file ({type(exc).__name__}: {exc})") from exc
        z = replace(z, checksum=z._checksum())
        if info.get("checksum") and not same_checksum(info["checksum"], z.checksum):
            raise ValueError(f"{path}: the ZCA's matrices do not match its recorded checksum "
                             f"({info['checksum']} != {z.checksum}); the file is damaged")
        return z


def same_checksum(a: str, b: str, rtol: float = 1e-4) -> bool:
    """Whether two checksums describe the same ZCA up to floating-point rounding (refits on other machines)."""
    try:
        _, va, sa = a.split(":")
        _, vb, sb = b.split(":")
        xa = [float(v) for v in va.split(",")]
        xb = [float(v) for v in vb.split(",")]
    except ValueError:
        return a == b
    return sa == sb and len(xa) == len(xb) and all(abs(p - q) <= rtol * max(1.0, abs(p), abs(q)) for p, q in zip(xa, xb))


def _to_pixels(x: torch.Tensor, mean, std) -> torch.Tensor:
    if mean is None:
        return x
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return x * s + m


@dataclass(frozen=True)
class ZCADataset(Dataset):
    """A data set whose splits are ZCA-whitened (``zca``); ``base_name`` is the data set it came from."""

    zca: ZCA | None = None
    base_name: str = ""

    def describe(self) -> dict:
        d = super().describe()
        d["zca"] = dict(self.zca.to_dict(), base=self.base_name)
        return d

    def denormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Un-whiten, then the base data set's pixel mapping (so views show real-looking images)."""
        return super().denormalize(self.zca.inverse(images))

    def to(self, device) -> "ZCADataset":
        return replace(self, train=self.train.to(device), test=self.test.to(device))


def whiten_dataset(dataset: Dataset, eps: float = 0.1, zca: ZCA | None = None) -> ZCADataset:
    """``dataset`` with both splits ZCA-whitened by ``zca`` or by a ZCA fitted on its training split's pixels
    (``eps`` added to the eigenvalues; MTT's 0.1)."""
    if isinstance(dataset, ZCADataset):
        raise ValueError(f"dataset {dataset.name!r} is already ZCA-whitened; whiten the original data set once")
    if zca is None:
        zca = ZCA.fit(dataset.train.images, eps, pixel_mean=dataset.mean, pixel_std=dataset.std,
                      fitted_on=f"{dataset.name} train ({len(dataset.train)} images)")
    train = Split(zca.transform(dataset.train.images), dataset.train.labels)
    test = Split(zca.transform(dataset.test.images), dataset.test.labels)
    return ZCADataset(**{**{f: getattr(dataset, f) for f in dataset.__dataclass_fields__}, "name": f"{dataset.name}+zca",
                         "train": train, "test": test, "zca": zca, "base_name": dataset.name})


def zca_of(dataset) -> ZCA | None:
    """The ZCA of a whitened data set, None for a plain one."""
    return getattr(dataset, "zca", None) if isinstance(dataset, ZCADataset) else None


def for_run(run_dir: str | Path, dataset: Dataset | None = None, root=None) -> ZCA | None:
    """The ZCA a run was distilled with, or None when its data set was not whitened.

    Read from ``run_dir/zca.pt`` when present; otherwise refitted on ``dataset`` (the run's original,
    un-whitened data set; loaded by its recorded name when None) with the recorded ``eps`` and checked
    against the recorded checksum. Raises ValueError when they disagree (the set would be evaluated in the
    wrong space)."""
    from dd_explore._io import read_json

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        return None
    info = read_json(cfg_path).get("run", {}).get("dataset", {}).get("zca")
    if not info:
        return None
    if (run_dir / ZCA_FILE).exists():
        z = ZCA.load(run_dir / ZCA_FILE)
    else:
        if dataset is None:
            from dd_explore import data

            dataset = data.load(info["base"], root=root)
        if isinstance(dataset, ZCADataset):
            return dataset.zca if same_checksum(info["checksum"], dataset.zca.checksum) else _mismatch(run_dir, info, dataset.zca)
        z = ZCA.fit(dataset.train.images, float(info["eps"]), pixel_mean=dataset.mean if info.get("pixels") else None,
                    pixel_std=dataset.std if info.get("pixels") else None,
                    fitted_on=f"{dataset.name} train ({len(dataset.train)} images)")
    if not same_checksum(info["checksum"], z.checksum):
        _mismatch(run_dir, info, z)
    return z


def _mismatch(run_dir, info, z):
    raise ValueError(f"run {run_dir} was distilled in the ZCA space {info['checksum']} but the ZCA found here is "
                     f"{z.checksum}; refusing to evaluate its set in another space")


__all__ = ["ZCA", "ZCADataset", "ZCA_FILE", "for_run", "same_checksum", "whiten_dataset", "zca_of"]

"""Input checks shared by the selection functions: clear ValueErrors before any work is done."""

from __future__ import annotations

import numbers

import numpy as np
import torch


def as_tensor(name: str, value, device: torch.device | str | None = None) -> torch.Tensor:
    """Array/tensor/list -> tensor (no copy when possible); ``device=None`` keeps a tensor's device."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise ValueError(f"{name} must be an array or tensor; got {type(value).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers; got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if device is not None:
        t = t.to(device)
    return t


def as_float(name: str, t: torch.Tensor) -> torch.Tensor:
    """Float32/float64 tensors are kept; other dtypes become float32."""
    if t.dtype in (torch.float32, torch.float64):
        return t
    if t.dtype.is_complex:
        raise ValueError(f"{name} must be real; got dtype {t.dtype}")
    return t.to(torch.float32)


def check_finite(name: str, X: torch.Tensor, chunk_size: int = 8192) -> None:
    """Raise naming the count of NaN/inf values; checks in row chunks (no full boolean copy)."""
    if X.numel() == 0 or bool(torch.isfinite(X.sum())):
        return  # NaN/inf propagate into the sum; a non-finite sum may also be an overflow, so count exactly
    n = X.shape[0]
    flat = X.reshape(n, -1) if X.ndim > 1 else X.reshape(n, 1)
    bad = 0
    for start in range(0, n, chunk_size):
        block = flat[start : start + chunk_size]
        ok = torch.isfinite(block)
        if not bool(ok.all()):
            bad += int((~ok).sum())
    if bad:
        raise ValueError(f"{name} must be finite; found {bad} NaN/inf values")


def as_points(name: str, X, chunk_size: int = 8192) -> torch.Tensor:
    """Validate a 2-D point set (n, d): numeric, finite, at least 2 points. Returns a contiguous float tensor."""
    t = as_float(name, as_tensor(name, X))
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional (n points, d features); got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 points; got {t.shape[0]}")
    if t.shape[1] < 1:
        raise ValueError(f"{name} must have at least 1 feature; got shape {tuple(t.shape)}")
    check_finite(name, t, chunk_size)
    return t.contiguous()


def check_int(name: str, value, low: int = 1, high: int | None = None, rule: str | None = None) -> int:
    """A plain int in [low, high] (bools and floats refused)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok:
        value = int(value)
        ok = value >= low and (high is None or value <= high)
    if not ok:
        if rule is None:
            rule = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return int(value)


def check_positive_float(name: str, value, allow_zero: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(float(value))
    ok = ok and (float(value) >= 0 if allow_zero else float(value) > 0)
    if not ok:
        rule = "a finite float >= 0" if allow_zero else "a finite float > 0"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return float(value)


def check_random_state(name: str, value, allow_generator: bool = True) -> None:
    if value is None:
        return
    if allow_generator and isinstance(value, torch.Generator):
        return
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0:
        return
    kinds = "None, a non-negative int or a torch.Generator" if allow_generator else "None or a non-negative int"
    raise ValueError(f"{name} must be {kinds}; got {value!r}")

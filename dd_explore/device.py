"""Device resolution: ``"auto"`` picks CUDA when present, else MPS, else CPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/a name/a ``torch.device`` into a ``torch.device``.

    Raises ValueError naming the parameter when the device string is not understood, and when a
    CUDA device is asked for on a machine without one.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA device; use device='auto' or 'cpu'")
    return dev


PRECISIONS = ("fp32", "bf16")


def check_precision(value, name: str = "precision") -> str:
    """``value`` if it is one of :data:`PRECISIONS`, else a ValueError naming ``name``."""
    if value not in PRECISIONS:
        raise ValueError(f"{name} must be one of {list(PRECISIONS)}; got {value!r}")
    return value


def autocast(device: torch.device, precision: str):
    """The context a network's forward pass runs in: "fp32" runs as is; "bf16" is ``torch.autocast`` to
    bfloat16 on ``device`` (convolutions and matmuls in bf16, normalizations and losses in fp32; the
    parameters and the learned images stay fp32). Fast on GPUs from Ampere on and on CPUs with AVX512-BF16
    or AMX; its effect on accuracy is measured in BENCHMARKS.md."""
    check_precision(precision)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

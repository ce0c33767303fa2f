"""``--param KEY=VALUE`` parsing, shared by the subcommands that take method options (``select``, ``distill``)."""

from __future__ import annotations

import json

__all__ = ["parse_params"]


def parse_params(items: list[str]) -> dict:
    """``["k=20", "kernel=rbf"]`` -> ``{"k": 20, "kernel": "rbf"}`` (values read as JSON when they parse)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param must be KEY=VALUE; got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out

"""The bench's result files: rows kept in a CSV rewritten atomically after every finished run.

Each finished (cell, seed) adds one row; the whole file is rewritten through :mod:`dd_explore._io` (a
temporary file in the same folder, flushed to disk and renamed over the old one), so a killed bench leaves
either the old or the new file, never a torn one. ``accuracies`` are stored as a JSON list, ``options`` as a
JSON object.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from dd_explore._io import write_text

RESULT_COLUMNS = (
    "cell", "label", "kind", "method", "ipc", "init", "batches", "weighting", "control", "seed",
    "accuracy", "accuracies", "steps", "steps_done", "lr_img", "options", "eval_runs", "eval_epochs",
    "eval_width", "eval_seed", "seconds_per_step", "distill_seconds", "probe_seconds", "probe_share",
    "eval_seconds", "wall_seconds", "final_loss", "init_indices_hash", "dataset", "device", "plan",
    "fingerprint", "finished_at", "note",
)
TUNE_COLUMNS = (
    "method", "ipc", "factor", "lr_img", "steps", "val_accuracy", "val_size", "seed", "eval_epochs",
    "seconds", "fingerprint", "finished_at",
)
JSON_COLUMNS = ("accuracies", "options")
INT_COLUMNS = ("ipc", "seed", "steps", "steps_done", "eval_runs", "eval_epochs", "eval_width", "eval_seed", "val_size")


def _encode(row: Mapping, columns: Sequence[str]) -> dict:
    out = {}
    for c in columns:
        v = row.get(c, "")
        if c in JSON_COLUMNS:
            v = json.dumps(v if v != "" else ([] if c == "accuracies" else {}), sort_keys=True)
        elif isinstance(v, float):
            v = repr(v)
        elif v is None:
            v = ""
        out[c] = v
    return out


def _decode(row: Mapping) -> dict:
    out = dict(row)
    for c in JSON_COLUMNS:
        if c in out and out[c] not in ("", None):
            out[c] = json.loads(out[c])
    for c in INT_COLUMNS:
        if out.get(c, "") not in ("", None):
            out[c] = int(float(out[c]))
    return out


def write_csv(path: Path, rows: Iterable[Mapping], columns: Sequence[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(_encode(r, columns))
    write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv` (missing file -> no rows)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [_decode(r) for r in csv.DictReader(f)]


class RowStore:
    """Rows of one CSV file, each identified by ``key_fn(row)``; :meth:`add` appends and rewrites
    the file atomically."""

    def __init__(self, path: Path, columns: Sequence[str], key_fn):
        self.path = Path(path)
        self.columns = tuple(columns)
        self.key_fn = key_fn
        self.rows: list[dict] = read_csv(self.path)
        self._keys = {key_fn(r) for r in self.rows}

    def __contains__(self, key) -> bool:
        return key in self._keys

    def get(self, key) -> dict | None:
        for r in self.rows:
            if self.key_fn(r) == key:
                return r
        return None

    def add(self, row: Mapping) -> None:
        row = _decode(_encode(row, self.columns))  # what a reader will see
        key = self.key_fn(row)
        self.rows = [r for r in self.rows if self.key_fn(r) != key] + [row]
        self._keys.add(key)
        write_csv(self.path, self.rows, self.columns)

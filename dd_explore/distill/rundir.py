"""The run directory: what a distillation run writes, and :func:`load_run` to read it back.

Files (all written atomically: a temporary file, then a rename):

- ``config.json``: every parameter (``run``: the keys a resume must match; ``steps``, ``device``,
  ``record``, ``evaluation``), seed, versions (python, torch, numpy, dd_explore), the data set's
  ``describe()``, the importance histogram edges.
- ``synthetic.pt`` (a dict of tensors: ``images``, ``labels``, optional ``targets``, ``step``; load with
  ``torch.load(path, weights_only=True)``) and ``synthetic.npz`` (the same as numpy arrays).
- ``events.jsonl``: one JSON object per step: ``step`` (steps done, 1-based), ``loss``, ``step_time``,
  ``probe_time``, ``elapsed``, ``refreshed``, ``importance_step``, ``importance`` (a list of per-class
  summaries, or null for uniform batches), ``drawn`` (per class, the global train indices drawn),
  ``extra`` (method-specific numbers).
- ``snapshots.npz``: ``steps`` (S,), ``images`` (S, N, C, H, W) float32, ``labels`` (N,): the synthetic
  images at step 0, every ``snapshot_every`` steps, at the last step and where a run stopped.
- ``importance.npz``: ``refresh_steps`` (R,), ``q`` (R, n_train) float32 (each class sums to 1; R = 0 for
  uniform batches), ``draw_counts`` (n_train,) cumulative draws per train point, ``train_labels``
  (n_train,), ``hist_edges``.
- ``checkpoint.pt``: everything needed to resume exactly (images, optimizer and method state, generator
  states, sampler and probe state, history, step, config).
- ``metrics.json`` (with evaluation): ``initial`` / ``final`` (mean, std, accuracies, protocol, step) and
  ``history`` of periodic evaluations.
- ``init/``: the :class:`~dd_explore.selection.Selection` that chose the initial images (selection inits).
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dd_explore.distill.callbacks import Callback
from dd_explore.distill.importance import HIST_EDGES

FORMAT = "dd_explore.distill.run/1"
RUN_FILES = ("config.json", "synthetic.pt", "synthetic.npz", "events.jsonl", "snapshots.npz", "importance.npz",
             "checkpoint.pt", "metrics.json")
RUN_DIRS = ("init",)


# ---------------------------------------------------------------------------- atomic writes
def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_MODE = _file_mode()


def _atomic(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json(path: Path, obj: Any) -> None:
    _atomic(path, lambda fh: fh.write((json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()))


def write_torch(path: Path, obj: Any) -> None:
    def w(fh):
        buf = io.BytesIO()
        torch.save(obj, buf)
        fh.write(buf.getvalue())

    _atomic(path, w)


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    def w(fh):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        fh.write(buf.getvalue())

    _atomic(path, w)


def write_lines(path: Path, lines: list[str]) -> None:
    _atomic(path, lambda fh: fh.write("".join(line + "\n" for line in lines).encode()))


# ---------------------------------------------------------------------------- config
def versions() -> dict:
    import dd_explore

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "dd_explore": dd_explore.__version__}


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(saved: dict, new: dict) -> list[str]:
    """``key: saved -> new`` for each key of the ``run`` section that differs."""
    a, b = flatten(json.loads(json.dumps(saved.get("run", {})))), flatten(json.loads(json.dumps(new.get("run", {}))))
    return [f"{k}: {a.get(k, '<missing>')!r} -> {b.get(k, '<missing>')!r}" for k in sorted(set(a) | set(b)) if a.get(k, object()) != b.get(k, object())]


def is_run_file(name: str) -> bool:
    return name in RUN_FILES or name in RUN_DIRS or (name.startswith(".") and name.endswith(".tmp"))


def clear_run_files(out: Path) -> None:
    """Remove what a run writes (only those files; anything else in ``out`` stays)."""
    for entry in out.iterdir():
        if is_run_file(entry.name):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


# ---------------------------------------------------------------------------- recorder
class Recorder(Callback):
    """Writes the run directory: events every step, snapshots/importance/synthetic/checkpoint at each
    checkpoint (the engine adds it when ``out=`` is given)."""

    def __init__(self, out: str | Path, snapshot_every: int):
        self.out = Path(out)
        self.snapshot_every = snapshot_every

    def on_start(self, control) -> None:
        self.control = control
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        start = control.start_step
        write_json(out / "config.json", control.config)
        if control.selection is not None and start == 0:
            if (out / "init").exists():
                shutil.rmtree(out / "init")
            control.selection.save(out / "init")
        events_path = out / "events.jsonl"
        kept = [json.dumps(e, allow_nan=False) for e in read_events(events_path) if e["step"] <= start] if start else []
        write_lines(events_path, kept)
        self._events = open(events_path, "a", encoding="utf-8")
        self.snap_steps: list[int] = []
        self.snap_images: list[np.ndarray] = []
        self.refresh_steps: list[int] = []
        self.refresh_q: list[np.ndarray] = []
        if start:
            if (out / "snapshots.npz").exists():
                with np.load(out / "snapshots.npz") as z:
                    keep = z["steps"] <= start
                    self.snap_steps = [int(s) for s in z["steps"][keep]]
                    self.snap_images = list(z["images"][keep])
            if (out / "importance.npz").exists():
                with np.load(out / "importance.npz") as z:
                    keep = z["refresh_steps"] < start
                    self.refresh_steps = [int(s) for s in z["refresh_steps"][keep]]
                    self.refresh_q = list(z["q"][keep])
        if not self.snap_steps:
            self.snap_steps, self.snap_images = [0], [control.initial_images.numpy().astype(np.float32)]
        self.labels = control.initial_labels.numpy()

    def on_step(self, info) -> None:
        self._events.write(json.dumps(info.to_event(), allow_nan=False) + "\n")
        self._events.flush()
        if info.refreshed:
            self.refresh_steps.append(int(info.importance_step))
            self.refresh_q.append(self.control.importance_q())
        if info.step % self.snapshot_every == 0 or info.step == info.steps:
            self._snapshot(info.step, info.images)

    def _snapshot(self, step: int, images: torch.Tensor) -> None:
        if self.snap_steps and self.snap_steps[-1] == step:
            return
        self.snap_steps.append(int(step))
        self.snap_images.append(images.numpy().astype(np.float32))

    def on_checkpoint(self, checkpoint) -> None:
        out = self.out
        images, labels, targets = checkpoint.images, checkpoint.labels, checkpoint.targets
        if checkpoint.final:
            self._snapshot(checkpoint.step, images)
        keep = [i for i, s in enumerate(self.snap_steps) if s <= checkpoint.step]
        write_npz(out / "snapshots.npz", steps=np.array([self.snap_steps[i] for i in keep], dtype=np.int64),
                  images=np.stack([self.snap_images[i] for i in keep]), labels=self.labels)
        rk = [i for i, s in enumerate(self.refresh_steps) if s < checkpoint.step]
        q = (np.stack([self.refresh_q[i] for i in rk]) if rk
             else np.zeros((0, checkpoint.train_labels.shape[0]), dtype=np.float32))
        write_npz(out / "importance.npz", refresh_steps=np.array([self.refresh_steps[i] for i in rk], dtype=np.int64), q=q,
                  draw_counts=checkpoint.draw_counts.numpy(), train_labels=checkpoint.train_labels.numpy(),
                  hist_edges=np.array(HIST_EDGES))
        syn = {"images": images, "labels": labels, "step": torch.tensor(checkpoint.step)}
        if targets is not None:
            syn["targets"] = targets
        write_torch(out / "synthetic.pt", syn)
        write_npz(out / "synthetic.npz", **{k: v.numpy() for k, v in syn.items()})
        write_torch(out / "checkpoint.pt", checkpoint.state)

    def on_end(self, result) -> None:
        if getattr(self, "_events", None) is not None:
            self._events.close()
            self._events = None


# ---------------------------------------------------------------------------- reading
def read_events(path: Path) -> list[dict]:
    """The events of ``events.jsonl`` (a torn last line, from a crash, is skipped)."""
    path = Path(path)
    if not path.exists():
        return []
    events = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return events


@dataclass(frozen=True)
class RunRecord:
    """Everything a run directory holds, as numpy arrays (read with :func:`load_run`).

    Synthetic set: ``images`` (N, C, H, W), ``labels`` (N,), ``targets`` (N, C) or None, ``step``.
    Per step (from events): ``event_steps``, ``losses``, ``step_times``, ``probe_times`` (T,), and
    ``events`` (the raw dicts, with per-class importance summaries and drawn indices).
    Snapshots: ``snapshot_steps`` (S,), ``snapshot_images`` (S, N, C, H, W); ``initial_images`` is the
    step-0 snapshot. Importance: ``refresh_steps`` (R,), ``q`` (R, n_train), ``draw_counts`` (n_train,),
    ``train_labels`` (n_train,), ``hist_edges``. ``metrics`` (dict or None), ``config`` (dict),
    ``checkpoint_step`` (steps a resume would start from, or None), ``path``.
    """

    path: Path
    config: dict
    images: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None
    step: int
    events: tuple[dict, ...]
    event_steps: np.ndarray
    losses: np.ndarray
    step_times: np.ndarray
    probe_times: np.ndarray
    snapshot_steps: np.ndarray
    snapshot_images: np.ndarray
    refresh_steps: np.ndarray
    q: np.ndarray
    draw_counts: np.ndarray
    train_labels: np.ndarray
    hist_edges: np.ndarray
    metrics: dict | None
    checkpoint_step: int | None

    @property
    def initial_images(self) -> np.ndarray:
        return self.snapshot_images[0]

    @property
    def method(self) -> str:
        return self.config["run"]["method"]

    @property
    def probe_share(self) -> float:
        """Fraction of the step time spent in the importance probe."""
        total = float(self.step_times.sum())
        return float(self.probe_times.sum()) / total if total > 0 else 0.0

    def class_q(self, refresh: int, cls: int) -> tuple[np.ndarray, np.ndarray]:
        """(global indices, q) of class ``cls`` at refresh number ``refresh``."""
        idx = np.flatnonzero(self.train_labels == cls)
        return idx, self.q[refresh, idx]

    def importance_series(self, key: str) -> np.ndarray:
        """(T, C) per-step, per-class importance summary field (``entropy``, ``entropy_ratio``, ``ess``,
        ``max_ratio``); NaN for steps without importance (uniform batches)."""
        c = len(self.config["run"]["dataset"]["classes"])
        out = np.full((len(self.events), c), np.nan)
        for t, e in enumerate(self.events):
            if e.get("importance"):
                out[t] = [s[key] for s in e["importance"]]
        return out

    def importance_hist(self) -> np.ndarray:
        """(T, C, bins) per-step histograms of n_c q over :data:`~dd_explore.distill.importance.HIST_EDGES`
        (zeros for steps without importance)."""
        c = len(self.config["run"]["dataset"]["classes"])
        out = np.zeros((len(self.events), c, len(self.hist_edges) - 1), dtype=np.int64)
        for t, e in enumerate(self.events):
            if e.get("importance"):
                out[t] = [s["hist"] for s in e["importance"]]
        return out

    def drawn(self, step: int, cls: int) -> np.ndarray:
        """Global train indices drawn for class ``cls`` in step ``step`` (1-based)."""
        return np.asarray(self.events[int(np.searchsorted(self.event_steps, step))]["drawn"][cls], dtype=np.int64)

    def init_selection(self):
        """The :class:`~dd_explore.selection.Selection` of a selection init (``init/``), or None."""
        if not (self.path / "init").is_dir():
            return None
        from dd_explore.selection import Selection

        return Selection.load(self.path / "init")


def load_run(path: str | Path) -> RunRecord:
    """Read a run directory written by :func:`dd_explore.distill.run` (or the ``distill`` command)."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
    config = json.loads((path / "config.json").read_text())
    if not (path / "synthetic.npz").exists():
        raise FileNotFoundError(f"{path} has no synthetic.npz (the run wrote no checkpoint yet)")
    with np.load(path / "synthetic.npz") as z:
        images, labels = z["images"], z["labels"]
        targets = z["targets"] if "targets" in z.files else None
        step = int(z["step"])
    events = read_events(path / "events.jsonl")
    events = [e for e in events if e["step"] <= step]

    def col(name):
        return np.array([e.get(name, np.nan) for e in events], dtype=np.float64)

    with np.load(path / "snapshots.npz") as z:
        snap_steps, snap_images = z["steps"], z["images"]
    with np.load(path / "importance.npz") as z:
        refresh_steps, q, counts, train_labels, edges = (z["refresh_steps"], z["q"], z["draw_counts"],
                                                          z["train_labels"], z["hist_edges"])
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").exists() else None
    ckpt_step = None
    if (path / "checkpoint.pt").exists():
        ckpt_step = int(torch.load(path / "checkpoint.pt", weights_only=True, map_location="cpu")["step"])
    return RunRecord(
        path=path, config=config, images=images, labels=labels, targets=targets, step=step, events=tuple(events),
        event_steps=np.array([e["step"] for e in events], dtype=np.int64), losses=col("loss"),
        step_times=col("step_time"), probe_times=col("probe_time"), snapshot_steps=snap_steps,
        snapshot_images=snap_images, refresh_steps=refresh_steps, q=q, draw_counts=counts,
        train_labels=train_labels, hist_edges=edges, metrics=metrics, checkpoint_step=ckpt_step,
    )

"""The run directory: what a distillation run writes, and :func:`load_run` to read it back.

Files (all written atomically through :mod:`dd_explore._io`: a temporary file, fsync, then a rename):

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
  images at step 0, every ``snapshot_every`` steps, at the last step and where a run stopped; beyond
  :data:`SNAPSHOT_BYTES` only every s-th regular snapshot (s a power of two) is kept, with step 0 and the
  latest.
- ``importance.npz``: ``refresh_steps`` (R,) every refresh, ``draw_counts`` (n_train,) cumulative draws per
  train point, ``train_labels`` (n_train,), ``hist_edges``, and q_t in one of two forms (``q_format``):
  ``"dense"`` (while R x n_train x 4 bytes fit in :data:`Q_RECORD_BYTES`): ``q`` (R, n_train) float32, each
  class summing to 1 (R = 0 for uniform batches); ``"compact"`` (larger runs): ``q_steps`` (K,) the
  refreshes kept -- every s-th refresh (s a power of two, so that K <= Q_RECORD_BYTES / (2 n_train)) and
  always the last -- and ``q_rel16`` (K, n_train) float16 holding n_c q (1 = uniform; ~3 significant
  digits). :func:`load_run` gives both as ``q`` (float32, renormalized per class) with ``refresh_steps``
  the steps of its rows and ``all_refresh_steps`` every refresh.
- ``checkpoint.pt``: everything needed to resume exactly (images, optimizer and method state, generator
  states, sampler and probe state, history, step, config); read it with :func:`load_checkpoint`.
- ``checkpoint.prev.pt``: the checkpoint before it, kept by :func:`save_checkpoint` so that a resume falls
  back to it (with a warning) when ``checkpoint.pt`` is truncated or corrupt.
- ``metrics.json`` (with evaluation): ``initial`` / ``final`` (mean, std, accuracies, protocol, step) and
  ``history`` of periodic evaluations.
- ``init/``: the :class:`~dd_explore.selection.Selection` that chose the initial images (selection inits).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dd_explore._io import (
    atomic_write,
    damage,
    is_temp_name,
    read_json,
    read_npz,
    where,
    write_json,
    write_lines,
    write_npz,
    write_torch,
)
from dd_explore.distill.callbacks import Callback
from dd_explore.distill.importance import HIST_EDGES

__all__ = ["CHECKPOINT", "CHECKPOINT_KEYS", "FORMAT", "PREVIOUS_CHECKPOINT", "Q_RECORD_BYTES", "RUN_DIRS", "RUN_FILES", "Recorder", "SNAPSHOT_BYTES",
           "RunRecord", "checkpoint_problem", "clear_run_files", "config_differences", "flatten", "is_run_file", "kept_refreshes",
           "load_checkpoint", "load_run", "read_events", "save_checkpoint", "versions", "write_json", "write_lines",
           "write_npz", "write_torch"]

logger = logging.getLogger(__name__)

FORMAT = "dd_explore.distill.run/1"
CHECKPOINT = "checkpoint.pt"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pt"
RUN_FILES = ("config.json", "synthetic.pt", "synthetic.npz", "events.jsonl", "snapshots.npz", "importance.npz",
             CHECKPOINT, PREVIOUS_CHECKPOINT, "metrics.json", "best.pt", "zca.pt")
RUN_DIRS = ("init",)
#: the importance record's budget for q_t: dense float32 while it fits, else a thinned float16 record
Q_RECORD_BYTES = 8 * 2**20
#: the snapshots' budget: above it every s-th regular snapshot is kept (with step 0 and the latest)
SNAPSHOT_BYTES = 16 * 2**20
#: what the engine's checkpoint state holds (``_Engine.capture`` plus what ``_Engine.checkpoint`` adds)
CHECKPOINT_KEYS = ("step", "method", "sampler", "probe", "generators", "history", "elapsed", "config",
                   "initial_images", "initial_labels")


# ---------------------------------------------------------------------------- writes
# every file of a run directory goes through dd_explore._io (tmp file in the same folder, fsync, rename);
# the writers are re-exported here for the modules that write next to a run (callbacks, MTT's expert buffers)
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
    return name in RUN_FILES or name in RUN_DIRS or is_temp_name(name)


def clear_run_files(out: Path) -> None:
    """Remove what a run writes (only those files; anything else in ``out`` stays)."""
    for entry in out.iterdir():
        if is_run_file(entry.name):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


# ---------------------------------------------------------------------------- checkpoints
def _read_checkpoint(path: Path) -> tuple[dict | None, str | None]:
    """(state, None) for a good checkpoint file, or (None, what is wrong with it)."""
    if not path.exists():
        return None, "is missing"
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to read the file means it is damaged
        return None, f"is truncated or corrupt (torch.load: {damage(exc)})"
    if not isinstance(state, dict):
        return None, f"is not a dd_explore checkpoint (it holds a {type(state).__name__}, not a dict)"
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        return None, f"is not a complete dd_explore checkpoint (missing keys: {', '.join(missing)})"
    return state, None


def checkpoint_problem(path: str | Path) -> str | None:
    """What is wrong with the checkpoint file ``path`` ("is missing", "is truncated or corrupt (...)", ...),
    or None when it loads and holds every key of :data:`CHECKPOINT_KEYS`."""
    return _read_checkpoint(Path(path))[1]


def load_checkpoint(out_dir: str | Path) -> dict:
    """The checkpoint state of the run in ``out_dir``, for a resume.

    Reads ``checkpoint.pt``; when that file is missing, truncated, corrupt or incomplete, logs a warning
    naming it and what is wrong, and reads ``checkpoint.prev.pt`` (the checkpoint before it, which
    :func:`save_checkpoint` keeps) instead: the resume then starts from that earlier step. Raises
    :class:`FileNotFoundError` when neither file exists and :class:`ValueError` naming both files and
    what is wrong with each when neither can be used.
    """
    out_dir = Path(out_dir)
    current, previous = out_dir / CHECKPOINT, out_dir / PREVIOUS_CHECKPOINT
    if not current.exists() and not previous.exists():
        raise FileNotFoundError(f"{out_dir} has no {CHECKPOINT} (the run wrote no checkpoint yet)")
    state, problem = _read_checkpoint(current)
    if problem is None:
        return state
    state, prev_problem = _read_checkpoint(previous)
    if prev_problem is None:
        logger.warning("%s %s; resuming from %s (step %d) instead", where(current), problem, previous.name,
                       int(state["step"]))
        return state
    raise ValueError(f"cannot resume {out_dir}: {where(current)} {problem}; {previous.name}, the checkpoint "
                     f"before it, {prev_problem}. Start the run over with overwrite=True (--overwrite)")


def _keep_previous(current: Path, previous: Path) -> None:
    """Make ``previous`` a copy of ``current`` (a hard link where the file system has them), atomically;
    ``current`` stays in place all along."""
    tmp = previous.with_name(f".{previous.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        os.link(current, tmp)
        os.replace(tmp, previous)
    except OSError:  # no hard links here: copy through an atomic write
        tmp.unlink(missing_ok=True)
        with open(current, "rb") as src:
            atomic_write(previous, lambda fh: shutil.copyfileobj(src, fh))


def save_checkpoint(out_dir: str | Path, state: dict, *, keep_previous: bool = True) -> Path:
    """Write ``state`` to ``out_dir/checkpoint.pt`` atomically; the checkpoint it replaces (when
    ``keep_previous``) becomes ``checkpoint.prev.pt``, the fallback of :func:`load_checkpoint`."""
    out_dir = Path(out_dir)
    current = out_dir / CHECKPOINT
    if keep_previous and current.exists():
        _keep_previous(current, out_dir / PREVIOUS_CHECKPOINT)
    return write_torch(current, state)


# ---------------------------------------------------------------------------- reading, with clear errors
def _resume_npz(path: Path, required: tuple[str, ...], lost: str) -> dict | None:
    if not path.exists():
        return None
    try:
        return read_npz(path, required)
    except ValueError as exc:
        logger.warning("%s; %s are lost, the run goes on", exc, lost)
        return None


# ---------------------------------------------------------------------------- the q_t record
def kept_refreshes(count: int, max_rows: int) -> list[int]:
    """Ordinals (0-based) of the refreshes whose full q_t a record of ``count`` refreshes keeps: every s-th
    refresh with s the smallest power of two giving at most ``max_rows`` of them, and always the last.
    A function of ``count`` only, and a row dropped is never needed again, so memory stays bounded."""
    if count <= 0:
        return []
    stride = 1
    while -(-count // stride) > max(1, max_rows):
        stride *= 2
    rows = list(range(0, count, stride))
    if rows[-1] != count - 1:
        rows.append(count - 1)
    return rows


def _importance_rows(z: dict, renormalize: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(every refresh step, the steps of the q rows, q (K, n) float32) of an importance.npz in either form
    (a record without ``q_format`` is dense); compact rows are renormalized per class unless told not to
    (a resume re-records them: q * n_c then gives back the same float16 values)."""
    steps = np.asarray(z["refresh_steps"], dtype=np.int64)
    fmt = str(z["q_format"]) if "q_format" in z else "dense"
    if fmt == "dense":
        if "q" not in z:
            raise ValueError("importance.npz is dense but has no q")
        return steps, steps, np.asarray(z["q"], dtype=np.float32)
    if fmt != "compact" or "q_rel16" not in z or "q_steps" not in z:
        raise ValueError(f"importance.npz has an unknown q_format {fmt!r} (or misses q_steps / q_rel16)")
    rel = np.asarray(z["q_rel16"], dtype=np.float64)
    labels = np.asarray(z["train_labels"], dtype=np.int64) if "train_labels" in z else None
    if labels is None or rel.shape[0] == 0:
        return steps, np.asarray(z["q_steps"], dtype=np.int64), rel.astype(np.float32)
    if not renormalize:
        sizes = np.bincount(labels).astype(np.float64)[labels]
        return steps, np.asarray(z["q_steps"], dtype=np.int64), (rel / sizes).astype(np.float32)
    sums = np.stack([np.bincount(labels, weights=row, minlength=int(labels.max()) + 1) for row in rel])
    q = rel / np.maximum(sums[:, labels], 1e-300)  # n_c q -> q, each class summing to 1 again
    return steps, np.asarray(z["q_steps"], dtype=np.int64), q.astype(np.float32)


# ---------------------------------------------------------------------------- recorder
class Recorder(Callback):
    """Writes the run directory: events every step, snapshots/importance/synthetic/checkpoint at each
    checkpoint (the engine adds it when ``out=`` is given)."""

    def __init__(self, out: str | Path, snapshot_every: int, q_bytes: int | None = None):
        self.out = Path(out)
        self.snapshot_every = snapshot_every
        self.q_bytes = q_bytes

    def on_start(self, control) -> None:
        self.control = control
        self._checkpoint_checked = False  # whether checkpoint.pt is known good (this recorder wrote or checked it)
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
        self.refresh_steps: list[int] = []  # every refresh
        self.refresh_q: dict[int, np.ndarray] = {}  # refresh ordinal -> q (float32), the rows kept
        if start:  # the history up to the checkpoint; a damaged file loses its history, not the run
            z = _resume_npz(out / "snapshots.npz", ("steps", "images"), "the snapshots before the resume")
            if z is not None:
                keep = z["steps"] <= start
                self.snap_steps = [int(s) for s in z["steps"][keep]]
                self.snap_images = list(z["images"][keep])
            z = _resume_npz(out / "importance.npz", ("refresh_steps",), "the importance refreshes before the resume")
            if z is not None:
                try:
                    steps, q_steps, q = _importance_rows(z, renormalize=False)
                except ValueError as exc:
                    logger.warning("%s; the importance refreshes before the resume are lost, the run goes on", exc)
                else:
                    self.refresh_steps = [int(s) for s in steps[steps < start]]
                    ordinal = {int(s): i for i, s in enumerate(steps)}
                    for s_, row in zip(q_steps, q):
                        if s_ < start:
                            self.refresh_q[ordinal[int(s_)]] = row.astype(np.float32)
                    self._thin()
        if not self.snap_steps:
            self.snap_steps, self.snap_images = [0], [control.initial_images.numpy().astype(np.float32)]
        self.labels = control.initial_labels.numpy()

    def on_step(self, info) -> None:
        self._events.write(json.dumps(info.to_event(), allow_nan=False) + "\n")
        self._events.flush()
        if info.refreshed:
            self.refresh_steps.append(int(info.importance_step))
            self.refresh_q[len(self.refresh_steps) - 1] = np.asarray(self.control.importance_q(), dtype=np.float32)
            self._thin()
        if info.step % self.snapshot_every == 0 or info.step == info.steps:
            self._snapshot(info.step, info.images)

    # ------------------------------------------------------------ the q_t record
    def _budget(self) -> int:
        return int(self.q_bytes if self.q_bytes is not None else Q_RECORD_BYTES)

    def _max_rows(self) -> int:
        n = next((r.shape[0] for r in self.refresh_q.values()), 0)
        return max(2, self._budget() // max(1, 2 * n))

    def _thin(self) -> None:
        """Keep only the rows :func:`kept_refreshes` keeps for the refreshes so far (memory stays bounded)."""
        keep = set(kept_refreshes(len(self.refresh_steps), self._max_rows()))
        for r in [r for r in self.refresh_q if r not in keep]:
            del self.refresh_q[r]

    def _q_record(self, step: int, train_labels: np.ndarray) -> dict:
        """The arrays of importance.npz for the refreshes before ``step``: dense or compact (module doc)."""
        n = train_labels.shape[0]
        count = sum(1 for s in self.refresh_steps if s < step)
        steps = np.array(self.refresh_steps[:count], dtype=np.int64)
        rows = [r for r in kept_refreshes(count, self._max_rows()) if r in self.refresh_q]
        if len(rows) == count and count * n * 4 <= self._budget():
            q = np.stack([self.refresh_q[r] for r in rows]) if rows else np.zeros((0, n), dtype=np.float32)
            return {"q_format": np.array("dense"), "refresh_steps": steps, "q": q.astype(np.float32, copy=False)}
        sizes = np.bincount(train_labels).astype(np.float64)[train_labels]
        rel = np.stack([(self.refresh_q[r] * sizes).astype(np.float16) for r in rows]) if rows \
            else np.zeros((0, n), dtype=np.float16)
        return {"q_format": np.array("compact"), "refresh_steps": steps,
                "q_steps": np.array([self.refresh_steps[r] for r in rows], dtype=np.int64), "q_rel16": rel}

    def _snapshot(self, step: int, images: torch.Tensor) -> None:
        if self.snap_steps and self.snap_steps[-1] == step:
            return
        self.snap_steps.append(int(step))
        self.snap_images.append(images.numpy().astype(np.float32))
        self._thin_snapshots()

    def _thin_snapshots(self) -> None:
        """Above :data:`SNAPSHOT_BYTES` keep step 0, the latest snapshot and every s-th of the regular ones
        (s a power of two): a long run of a large synthetic set keeps a bounded, evenly spread history."""
        per = max(1, int(self.snap_images[0].nbytes))
        max_rows = max(3, int(SNAPSHOT_BYTES) // per)
        if len(self.snap_steps) <= max_rows:
            return
        every = max(1, int(self.snapshot_every))
        last = len(self.snap_steps) - 1

        def kept(stride: int) -> list[int]:
            return [i for i, st in enumerate(self.snap_steps)
                    if i in (0, last) or (st % every == 0 and (st // every) % stride == 0)]

        stride = 1
        rows = kept(stride)
        while len(rows) > max_rows and stride < 2**40:
            stride *= 2
            rows = kept(stride)
        self.snap_steps = [self.snap_steps[i] for i in rows]
        self.snap_images = [self.snap_images[i] for i in rows]

    def on_checkpoint(self, checkpoint) -> None:
        out = self.out
        images, labels, targets = checkpoint.images, checkpoint.labels, checkpoint.targets
        if checkpoint.final:
            self._snapshot(checkpoint.step, images)
        keep = [i for i, s in enumerate(self.snap_steps) if s <= checkpoint.step]
        write_npz(out / "snapshots.npz", steps=np.array([self.snap_steps[i] for i in keep], dtype=np.int64),
                  images=np.stack([self.snap_images[i] for i in keep]), labels=self.labels)
        train_labels = checkpoint.train_labels.numpy()
        write_npz(out / "importance.npz", **self._q_record(checkpoint.step, train_labels),
                  draw_counts=checkpoint.draw_counts.numpy(), train_labels=train_labels,
                  hist_edges=np.array(HIST_EDGES))
        syn = {"images": images, "labels": labels, "step": torch.tensor(checkpoint.step)}
        if targets is not None:
            syn["targets"] = targets
        write_torch(out / "synthetic.pt", syn)
        write_npz(out / "synthetic.npz", **{k: v.numpy() for k, v in syn.items()})
        keep = True
        if not self._checkpoint_checked and (out / CHECKPOINT).exists():
            problem = checkpoint_problem(out / CHECKPOINT)
            if problem is not None:  # do not let a damaged file push the good previous one out
                logger.warning("%s %s; replacing it, %s kept as it is", where(out / CHECKPOINT), problem,
                               PREVIOUS_CHECKPOINT)
                keep = False
        save_checkpoint(out, checkpoint.state, keep_previous=keep)
        self._checkpoint_checked = True

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
    with open(path, encoding="utf-8", errors="replace") as fh:
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
    step-0 snapshot. Importance: ``q`` (K, n_train) float32 (each class sums to 1) at ``refresh_steps``
    (K,) -- every refresh, or for a compact record (``q_format == "compact"``, long runs on large sets)
    every s-th one and the last -- ``all_refresh_steps`` (R,) every refresh, ``draw_counts`` (n_train,),
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
    all_refresh_steps: np.ndarray | None = None
    q_format: str = "dense"

    @property
    def q_thinned(self) -> bool:
        """True when q is kept at fewer refreshes than there were (a compact record)."""
        return self.all_refresh_steps is not None and len(self.all_refresh_steps) > len(self.refresh_steps)

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
    """Read a run directory written by :func:`dd_explore.distill.run` (or the ``distill`` command).

    Raises :class:`FileNotFoundError` when a file every run has is missing and :class:`ValueError` naming
    the file and what is wrong when one is truncated or corrupt (``events.jsonl`` is read up to its first
    unreadable line, as after a crash). A damaged ``checkpoint.pt`` only costs
    ``checkpoint_step`` (that of ``checkpoint.prev.pt``, or None), with a warning.
    """
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
    config = read_json(path / "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("run"), dict):
        raise ValueError(f"{where(path / 'config.json')} is not a run configuration (no \"run\" section)")
    if not (path / "synthetic.npz").exists():
        raise FileNotFoundError(f"{path} has no synthetic.npz (the run wrote no checkpoint yet)")
    z = read_npz(path / "synthetic.npz", ("images", "labels", "step"))
    images, labels, targets, step = z["images"], z["labels"], z.get("targets"), int(z["step"])
    events = read_events(path / "events.jsonl")
    events = [e for e in events if e["step"] <= step]

    def col(name):
        return np.array([e.get(name, np.nan) for e in events], dtype=np.float64)

    for name in ("snapshots.npz", "importance.npz"):
        if not (path / name).exists():
            raise FileNotFoundError(f"{path} has no {name} (every checkpoint writes one)")
    z = read_npz(path / "snapshots.npz", ("steps", "images"))
    snap_steps, snap_images = z["steps"], z["images"]
    z = read_npz(path / "importance.npz", ("refresh_steps", "draw_counts", "train_labels", "hist_edges"))
    try:
        all_steps, refresh_steps, q = _importance_rows(z)
    except ValueError as exc:
        raise ValueError(f"{where(path / 'importance.npz')}: {exc}") from None
    q_format = str(z["q_format"]) if "q_format" in z else "dense"
    counts, train_labels, edges = z["draw_counts"], z["train_labels"], z["hist_edges"]
    metrics = read_json(path / "metrics.json") if (path / "metrics.json").exists() else None
    ckpt_step = None
    if (path / CHECKPOINT).exists() or (path / PREVIOUS_CHECKPOINT).exists():
        try:
            ckpt_step = int(load_checkpoint(path)["step"])
        except ValueError as exc:
            logger.warning("%s", exc)
    return RunRecord(
        path=path, config=config, images=images, labels=labels, targets=targets, step=step, events=tuple(events),
        event_steps=np.array([e["step"] for e in events], dtype=np.int64), losses=col("loss"),
        step_times=col("step_time"), probe_times=col("probe_time"), snapshot_steps=snap_steps,
        snapshot_images=snap_images, refresh_steps=refresh_steps, q=q, draw_counts=counts,
        train_labels=train_labels, hist_edges=edges, metrics=metrics, checkpoint_step=ckpt_step,
        all_refresh_steps=all_steps, q_format=q_format,
    )

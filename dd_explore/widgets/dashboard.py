"""A live JupyterLab dashboard for a running distillation: a ``distill.run`` callback.

>>> from dd_explore import data, distill
>>> from dd_explore.widgets import LiveDashboard
>>> ds = data.load("digits")
>>> dash = LiveDashboard(ds)
>>> dash                                                                   # doctest: +SKIP
>>> handle = dash.start_run(method="dm", ipc=2, batches="importance", steps=200, out="runs/live")  # doctest: +SKIP
>>> result = handle.join()                                                 # doctest: +SKIP

The figures are built by :mod:`dd_explore.viz` once, when the run starts; while it runs only their data
arrays change (inside ``FigureWidget.batch_update()``), at most every ``update_every`` seconds and at
most ``max_overhead`` of the wall time, and always at the last step. The Stop button asks the run to stop
after the current step; it then writes its final checkpoint (resumable with ``resume=True``). A run in
the notebook's main thread cannot see the button until the cell ends: use :meth:`LiveDashboard.start_run`
(or :meth:`LiveDashboard.run_in_background`) so the run goes in a background thread.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore.distill import HIST_EDGES, Callback
from dd_explore.viz import (
    Embedding,
    draw_count_embedding_figure,
    draw_count_figure,
    entropy_figure,
    image_grid_figure,
    importance_histogram_figure,
    loss_figure,
)
from dd_explore.viz.images import png_data_uri, tile, to_pixels
from dd_explore.viz.scales import clipped_counts
from dd_explore.widgets._fw import figure_widget, load_figure
from dd_explore.widgets.background import BackgroundRun

logger = logging.getLogger(__name__)

PANEL = dict(width=520, height=330)


def _check_number(name: str, value, low: float, inclusive: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value < low if inclusive else value <= low):
        rule = f">= {low}" if inclusive else f"> {low}"
        raise ValueError(f"{name} must be a finite number {rule}; got {value!r}")
    return float(value)


def _check_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    return int(value)


def _placeholder(title: str, width: int = PANEL["width"], height: int = 200) -> go.FigureWidget:
    return go.FigureWidget(layout=dict(
        title=dict(text=title), width=width, height=height, template="plotly_white",
        xaxis=dict(visible=False), yaxis=dict(visible=False), margin=dict(l=10, r=10, t=50, b=10)))


def _shown_images(labels: np.ndarray, num_classes: int, max_per_class: int) -> tuple[np.ndarray, int]:
    """(indices of the synthetic images shown, columns): up to ``max_per_class`` per class, one class per
    row; with one image per class, all classes in rows of at most 10."""
    per_class = [np.flatnonzero(labels == c)[:max_per_class] for c in range(num_classes)]
    per_class = [p for p in per_class if p.size]
    shown = np.concatenate(per_class) if per_class else np.zeros(0, dtype=np.int64)
    width = max((p.size for p in per_class), default=1)
    return shown, (max(1, min(10, shown.size)) if width == 1 else width)


class LiveDashboard(Callback):
    """Live views of a distillation run in JupyterLab; pass it in ``distill.run(callbacks=[dashboard])``.

    dataset: the :class:`~dd_explore.data.Dataset` being distilled (class names; real images of the
    top-k view; train labels). update_every: seconds between two updates (at least; always at the
    last step). embedding: optional :class:`~dd_explore.viz.Embedding` or (n_train, 2) coordinates of
    the train points, to paint the draw counts on. max_per_class: synthetic images shown per class.
    topk: real points shown per class in the "favoured by q_t" grid. max_overhead: the share of the
    wall time the updates may take (the interval grows when one update costs more; default 2 %, so the
    dashboard stays within 3 % of a run, 50,000-point sets included).

    Views: a step Label, a Stop button, the synthetic images, the loss curve; with importance batches:
    q_t's entropy / ESS over refreshes, where q_t puts its mass (heatmap), the real points q_t favours
    now; always: how often each real point was drawn (histogram, and on the embedding when given).
    ``seconds_spent``: time spent in the dashboard's hooks; ``updates``: figure updates made.
    """

    def __init__(self, dataset, update_every: float = 0.5, *, embedding: Embedding | np.ndarray | None = None,
                 max_per_class: int = 10, topk: int = 5, max_overhead: float = 0.02, tile_px: int = 36,
                 class_names: Sequence[str] | None = None):
        import ipywidgets as W

        from dd_explore.data.dataset import Dataset

        if not isinstance(dataset, Dataset):
            raise ValueError(f"dataset must be a dd_explore Dataset (dd_explore.data.load(...)); got {type(dataset).__name__}")
        self.dataset = dataset
        self.update_every = _check_number("update_every", update_every, 0.0, inclusive=True)
        self.max_overhead = _check_number("max_overhead", max_overhead, 0.0)
        self.max_per_class = _check_int("max_per_class", max_per_class)
        self.topk = _check_int("topk", topk)
        self.tile_px = _check_int("tile_px", tile_px, 4)
        self.class_names = tuple(class_names) if class_names is not None else tuple(dataset.classes)
        n_train = dataset.train.labels.shape[0]
        coords = None
        if embedding is not None:
            coords = embedding.coords if isinstance(embedding, Embedding) else np.asarray(embedding)
            if coords.ndim != 2 or coords.shape != (n_train, 2):
                raise ValueError(f"embedding must hold (n_train, 2) = ({n_train}, 2) coordinates of the train points; "
                                 f"got shape {coords.shape}")
        self.embedding = embedding if isinstance(embedding, Embedding) or embedding is None else coords
        self._train_labels = dataset.train.labels.cpu().numpy()

        self.seconds_spent = 0.0
        self.updates = 0
        self.control = None
        self.result = None
        self.error: BaseException | None = None
        self._stop_wanted = False
        self._reset()

        # ---- widgets (built here, in the notebook's thread; filled by on_start)
        self.step_label = W.Label("waiting for the run to start")
        self.step_label.add_class("dd-step")
        self.status = W.Label("")
        self.status.add_class("dd-status")
        self.stop_button = W.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip="end the run cleanly after the current step (final checkpoint written)")
        self.stop_button.add_class("dd-stop")
        self.stop_button.on_click(lambda _b: self.stop())
        self.fig_images = _placeholder("Synthetic images (waiting for the run)")
        self.fig_loss = figure_widget(loss_figure([], [], title="Loss"), **PANEL)
        self.fig_entropy = figure_widget(
            entropy_figure([], np.zeros(0), np.zeros(0), title="Spread of q_t (mean over classes)"), **PANEL)
        self.fig_hist = figure_widget(importance_histogram_figure([], np.zeros((0, len(HIST_EDGES) - 1)), HIST_EDGES,
                                                                  title="Where q_t puts its mass"), **PANEL)
        self.fig_topk = _placeholder("Favoured by q_t (waiting)", width=300)
        self.fig_counts = figure_widget(draw_count_figure(np.zeros(n_train, dtype=np.int64), self._train_labels,
                                                          expected=0.0, class_names=self.class_names),
                                        **PANEL, showlegend=False)
        self.fig_embedding = _placeholder("Draw counts on the embedding (waiting)", width=720, height=300) \
            if coords is not None else None
        self.importance_note = W.HTML("")
        self.guard = W.HTML("")  # the run's guard: an evaluation worse than the initial set's
        self.guard.add_class("dd-guard")
        self.importance_box = W.HBox([self.fig_entropy, self.fig_hist])
        self._topk_box = W.Box([self.fig_topk])
        self.status.layout.margin = "0 0 0 2em"
        rows = [W.HBox([self.stop_button, self.step_label, self.status]), self.guard,
                W.HBox([self.fig_images, self.fig_loss]),
                self.importance_note, self.importance_box, W.HBox([self._topk_box, self.fig_counts])]
        if self.fig_embedding is not None:
            rows.append(self.fig_embedding)
        self.widget = W.VBox(rows)
        self.widget.add_class("dd-dashboard")

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Ask the run to stop after the current step (safe from any thread; also before it starts)."""
        self._stop_wanted = True
        if self.control is not None:
            self.control.stop()
        self.stop_button.disabled = True
        self.status.value = "stop requested: ending after the current step"

    def run_in_background(self, fn: Callable[[], Any]) -> BackgroundRun:
        """Run ``fn`` (e.g. ``lambda: distill.run(ds, ..., callbacks=[dashboard])``) in a daemon thread;
        returns a :class:`BackgroundRun` (``join()``, ``result``, ``stop()``)."""
        return BackgroundRun(fn, on_stop=self.stop, on_error=self._show_error).start()

    def start_run(self, **run_kwargs) -> BackgroundRun:
        """``distill.run(self.dataset, callbacks=[self, ...], **run_kwargs)`` in a background thread."""
        from dd_explore import distill

        if "dataset" in run_kwargs:
            raise ValueError("start_run distills the dashboard's own dataset; do not pass dataset=")
        extra = run_kwargs.pop("callbacks", ()) or ()
        extra = [extra] if callable(extra) or isinstance(extra, Callback) else list(extra)
        callbacks = [self, *extra]
        return self.run_in_background(lambda: distill.run(self.dataset, callbacks=callbacks, **run_kwargs))

    def _show_error(self, exc: BaseException) -> None:
        self.error = exc
        self.status.value = f"error: {type(exc).__name__}: {exc}"
        self.stop_button.disabled = True

    # ------------------------------------------------------------------ callback hooks
    def _reset(self) -> None:
        self.loss_steps: list[int] = []
        self.losses: list[float] = []
        self.imp_steps: list[int] = []
        self.entropy: list[float] = []
        self.ess: list[float] = []
        self.hist: list[np.ndarray] = []
        self.last_info = None
        self.rendered_step: int | None = None
        self._last_render = -math.inf
        self._interval = self.update_every
        self._topk_step: int | None = None
        self._topk_n = 0
        self._importance = False
        self._broken: str | None = None
        self._guard_shown = 0

    def on_start(self, control) -> None:
        if self.control is not None:
            raise RuntimeError("this LiveDashboard already follows a running run; create one dashboard per run "
                               "going at the same time")
        t0 = time.perf_counter()
        try:
            self._reset()
            self.guard.value = ""
            self.control = control
            self.result = None
            self.error = None
            if self._stop_wanted:
                control.stop()
            else:
                self.stop_button.disabled = False
            ds = control.dataset
            self._mean, self._std = ds.mean, ds.std
            labels = control.initial_labels.cpu().numpy()
            self._shown, self._ncols = _shown_images(labels, ds.num_classes, self.max_per_class)
            grid = image_grid_figure(control.initial_images[self._shown], mean=ds.mean, std=ds.std, ncols=self._ncols,
                                     indices=self._shown, labels=labels[self._shown], class_names=self.class_names,
                                     value_name="synthetic image", tile_px=self.tile_px,
                                     title="Synthetic images (a row per class)")
            load_figure(self.fig_images, grid)
            run_cfg = control.config.get("run", {})
            self._importance = run_cfg.get("batches") == "importance"
            if self._importance:
                self.importance_box.layout.display = None
                self._topk_box.layout.display = None
                self.importance_note.value = ""
            else:
                self.importance_box.layout.display = "none"
                self._topk_box.layout.display = "none"
                self.importance_note.value = ("<i>uniform batches: every real point of a class is drawn with the same "
                                              "probability (q_t is uniform), so only the draw counts are shown.</i>")
            if self.fig_embedding is not None:
                marked = None if control.selection is None else np.asarray(control.selection.indices)
                fig = draw_count_embedding_figure(self.embedding, np.zeros(len(self._train_labels)), self._train_labels,
                                                  marked=marked, class_names=self.class_names, width=720, height=480)
                # hover reads the live count from marker.color: each update sends one (n,) array, not (n, 3) rows
                tpl = fig.data[0].hovertemplate
                fig.data[0].hovertemplate = tpl.replace("%{customdata[2]:.4g}", "%{marker.color}")
                load_figure(self.fig_embedding, fig)
            self.step_label.value = f"step {control.start_step} / {control.steps} · {run_cfg.get('method', '')} " \
                                    f"{run_cfg.get('batches', '')} batches, starting"
            self.status.value = "running" if not self._stop_wanted else self.status.value
            self._render(None)
        except BaseException:
            self.control = None
            raise
        finally:
            self.seconds_spent += time.perf_counter() - t0

    def on_step(self, info) -> None:
        t0 = time.perf_counter()
        try:
            self.loss_steps.append(int(info.step))
            self.losses.append(float(info.loss))
            imp = info.importance
            if imp is not None and (not self.imp_steps or self.imp_steps[-1] != info.importance_step):
                self.imp_steps.append(int(info.importance_step))
                self.entropy.append(float(np.mean([c.entropy_ratio for c in imp])))
                self.ess.append(float(np.mean([c.ess / c.n for c in imp])))
                self.hist.append(np.sum([np.asarray(c.hist) for c in imp], axis=0))
            self.last_info = info
            self._show_guard()
            now = time.monotonic()
            if info.step >= info.steps or now - self._last_render >= self._interval:
                self._safe_render(info)
        finally:
            self.seconds_spent += time.perf_counter() - t0

    def on_end(self, result) -> None:
        t0 = time.perf_counter()
        try:
            self.result = result
            self._show_guard()
            info = self.last_info
            if info is not None and self.rendered_step != info.step:
                self._safe_render(info)
            if result.stop_reason == "stop":
                where = f"; checkpoint in {result.out}" if result.out is not None else ""
                self.status.value = f"stopped at step {result.steps_done} of {result.steps}{where}"
            elif result.stop_reason in ("error", "interrupt"):
                self.status.value = f"{result.stop_reason} at step {result.steps_done}; last completed step checkpointed"
            else:
                self.status.value = f"finished: {result.steps_done} steps in {result.total_time:.1f} s"
            if self._broken:
                self.status.value += f" · {self._broken}"
            self.step_label.value = self._label(info, done=True) if info is not None else \
                f"step {result.steps_done} / {result.steps}"
            self.stop_button.disabled = True
            self._stop_wanted = False
            self.control = None
        finally:
            self.seconds_spent += time.perf_counter() - t0

    # ------------------------------------------------------------------ rendering
    def _show_guard(self) -> None:
        """The run's guard warnings (``control.metrics["warnings"]``), newest last, in a red box."""
        warnings = (self.control.metrics or {}).get("warnings") if self.control is not None else None
        if not warnings or len(warnings) == self._guard_shown:
            return
        self._guard_shown = len(warnings)
        from dd_explore.report.build import guard_warnings

        self.guard.value = guard_warnings(self.control.metrics)

    def _label(self, info, done: bool = False) -> str:
        s = f"step {info.step} / {info.steps} · loss {info.loss:.4g} · {info.step_time:.3f} s/step · {info.elapsed:.1f} s"
        return s + (" · done" if done else "")

    def _pixels_uri(self, images, ncols: int) -> str:
        return png_data_uri(tile(to_pixels(images, self._mean, self._std), ncols), compress_level=1)

    def _safe_render(self, info) -> None:
        """A failing view must not end a long run: the error is logged and shown, the views stop updating."""
        if self._broken:
            return
        try:
            self._render(info)
        except Exception as exc:  # noqa: BLE001 - reported in the status label and the log
            self._broken = f"dashboard error (the run goes on): {type(exc).__name__}: {exc}"
            logger.exception("LiveDashboard: the views stopped updating")
            self.status.value = self._broken

    def _render(self, info) -> None:
        t0 = time.perf_counter()
        control = self.control
        if info is not None:
            uri = self._pixels_uri(info.images[self._shown], self._ncols)
            with self.fig_images.batch_update():
                self.fig_images.data[0].source = uri
            with self.fig_loss.batch_update():
                self.fig_loss.data[0].x = np.asarray(self.loss_steps)
                self.fig_loss.data[0].y = np.asarray(self.losses)
        if self._importance and self.imp_steps:
            st = np.asarray(self.imp_steps)
            with self.fig_entropy.batch_update():
                self.fig_entropy.data[0].x, self.fig_entropy.data[0].y = st, np.asarray(self.entropy)
                self.fig_entropy.data[1].x, self.fig_entropy.data[1].y = st, np.asarray(self.ess)
            with self.fig_hist.batch_update():
                self.fig_hist.data[0].x = st
                self.fig_hist.data[0].z = self._hist_share().T
            if info is not None and info.importance is not None and self._topk_step != info.importance_step:
                self._render_topk(info)
        if control is not None:
            counts = control.draw_counts().cpu().numpy()
            self._render_counts(counts)
        if info is not None:
            self.step_label.value = self._label(info)
            self.rendered_step = int(info.step)
        self.updates += 1
        cost = time.perf_counter() - t0
        self._last_render = time.monotonic()
        self._interval = max(self.update_every, cost / self.max_overhead)

    def _hist_share(self) -> np.ndarray:
        h = np.asarray(self.hist, dtype=np.float64)
        return h / np.maximum(h.sum(axis=1, keepdims=True), 1.0)

    def _render_topk(self, info) -> None:
        k = min(self.topk, min(len(c.topk_indices) for c in info.importance))
        idx = np.array([i for c in info.importance for i in c.topk_indices[:k]], dtype=np.int64)
        ratio = np.array([p * c.n for c in info.importance for p in c.topk_probs[:k]])
        labels = self._train_labels[idx]
        images = self.dataset.train.batch(idx, "cpu")
        if len(self.fig_topk.data) < 2 or self._topk_n != idx.size:
            fig = image_grid_figure(images, mean=self._mean, std=self._std, ncols=k, indices=idx, labels=labels,
                                    values=ratio, value_name="n_c q", class_names=self.class_names, tile_px=self.tile_px,
                                    title="Favoured by q_t")
            load_figure(self.fig_topk, fig)
            self._topk_n = idx.size
        else:
            uri = self._pixels_uri(images, k)
            cd = np.stack([idx.astype(np.float64), labels.astype(np.float64), ratio], axis=1)
            with self.fig_topk.batch_update():
                self.fig_topk.data[0].source = uri
                self.fig_topk.data[1].customdata = cd
                self.fig_topk.data[1].text = [str(self.class_names[int(c)]) for c in labels]
        self._topk_step = info.importance_step

    def _render_counts(self, counts: np.ndarray) -> None:
        shown, top, over = clipped_counts(counts)  # a few heavy points do not squeeze the rest to the left
        size = max(1, int(np.ceil((top + 1) / 60)))
        expected = float(counts.mean()) if counts.size else 0.0
        lab = self._train_labels
        with self.fig_counts.batch_update():
            for k, trace in enumerate(self.fig_counts.data):
                trace.x = shown[lab == k].astype(np.int32)
                trace.xbins = dict(start=-0.5, end=top + 0.5, size=size)
            self.fig_counts.layout.xaxis.title.text = (
                f"times drawn (the last bar also holds the {over} points drawn more than {top} times, up to "
                f"{int(counts.max())})" if over else "times drawn")
            if self.fig_counts.layout.shapes:
                self.fig_counts.layout.shapes[0].update(x0=expected, x1=expected)
            if self.fig_counts.layout.annotations:
                self.fig_counts.layout.annotations[0].x = expected
        if self.fig_embedding is not None and len(self.fig_embedding.data):
            pts = self.fig_embedding.data[0]
            with self.fig_embedding.batch_update():
                pts.marker.color = counts.astype(np.int32)

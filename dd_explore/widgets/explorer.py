"""Linked views of a selection in JupyterLab: embedding, sensitivity and the images you pick.

>>> from dd_explore import data, selection
>>> from dd_explore.widgets import SelectionExplorer
>>> ds = data.load("digits")
>>> sel = selection.select(ds.train.images, ds.train.labels, ipc=5, method="sensitivity-kmeans", random_state=0)
>>> explorer = SelectionExplorer(ds, sel, embedding="pca")
>>> explorer                                                       # doctest: +SKIP

Lasso- or box-select points on the embedding (or click one, on the embedding or on the ranked-score
curve): the image grid shows those images with their index, class and score (hover a tile), and the
text above it lists them. The grid starts with the chosen points. Hovering any point of the embedding or
the score views shows that point's image, enlarged, with its index, class and score (the preview).
"""

from __future__ import annotations

import html
import logging
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from dd_explore.viz import (
    Embedding,
    compute_embedding,
    has_scores,
    image_grid_figure,
    png_bytes,
    ranked_scores_figure,
    score_detail_figure,
    selection_embedding_figure,
    to_pixels,
)
from dd_explore.widgets._fw import figure_widget, load_figure

logger = logging.getLogger(__name__)

EMBEDDINGS = ("umap", "pca")
#: above this many points the score-detail view (a second WebGL scatter of every point) is built on request
#: (its button), so the explorer's first paint stays within a few seconds
DEFER_DETAIL_ABOVE = 20_000


def _point_index(customdata, point: int) -> int | None:
    """Global index of ``point`` in a trace whose customdata rows are (index, ...) or plain indices."""
    if customdata is None:
        return None
    row = customdata[point]
    value = row[0] if np.ndim(row) else row
    if value is None or not np.isfinite(float(value)) or float(value) < 0:
        return None
    return int(value)


class SelectionExplorer:
    """Sensitivity + embedding + image grid of a :class:`~dd_explore.selection.Selection`, linked.

    dataset: the :class:`~dd_explore.data.Dataset` whose train split was given to ``select``.
    selection: the result of ``dd_explore.selection.select`` on it. embedding: None or "umap" (UMAP of
    the train pixels, cached on disk), "pca" (fast), an :class:`~dd_explore.viz.Embedding` or (n, 2)
    coordinates. max_images: at most this many images in the grid.

    Large sets: the embedding is drawn with WebGL above a few thousand points, scores on a log or rank
    colour scale when they are skewed (the colour bar says which); images are read from the data set one
    at a time, on hover or selection (nothing ships every thumbnail). Above :data:`DEFER_DETAIL_ABOVE`
    points the score-detail view waits for its button (:meth:`show_detail`). With a cached embedding (or
    one passed in) a 50,000-point explorer is built and drawn in a few seconds.

    ``selected_indices``: global indices of the last selection (all of them), ``shown_indices``: those
    in the grid; :meth:`show` puts any indices there from code. ``hovered_index``: the point in the
    preview (None before the first hover); :meth:`preview` puts any index there from code.
    """

    def __init__(self, dataset, selection, embedding: Embedding | np.ndarray | str | None = None, *,
                 max_images: int = 64, class_names: Sequence[str] | None = None, tile_px: int = 40):
        import ipywidgets as W

        from dd_explore.data.dataset import Dataset

        if not isinstance(dataset, Dataset):
            raise ValueError(f"dataset must be a dd_explore Dataset (dd_explore.data.load(...)); got {type(dataset).__name__}")
        n = int(dataset.train.labels.shape[0])
        num_points = getattr(selection, "num_points", None)
        if num_points is None or not hasattr(selection, "indices"):
            raise ValueError(f"selection must be a dd_explore.selection.Selection; got {type(selection).__name__}")
        if num_points != n:
            raise ValueError(f"selection must be made on the train split of the dataset ({n} points); it covers {num_points}")
        if isinstance(max_images, bool) or not isinstance(max_images, (int, np.integer)) or max_images < 1:
            raise ValueError(f"max_images must be a positive int; got {max_images!r}")
        if isinstance(tile_px, bool) or not isinstance(tile_px, (int, np.integer)) or tile_px < 4:
            raise ValueError(f"tile_px must be an int >= 4; got {tile_px!r}")
        self.dataset = dataset
        self.selection = selection
        self.max_images = int(max_images)
        self.tile_px = int(tile_px)
        self.class_names = tuple(class_names) if class_names is not None else tuple(dataset.classes)
        self.labels = dataset.train.labels.cpu().numpy()
        self.scores = np.asarray(selection.scores, dtype=np.float64) if has_scores(selection) else None
        self.embedding = self._embedding(embedding, n)

        self.selected_indices = np.zeros(0, dtype=np.int64)
        self.shown_indices = np.zeros(0, dtype=np.int64)
        self._pending: dict[int, dict[int, list[int]]] = {}

        self.fig_embedding = figure_widget(selection_embedding_figure(
            selection, self.embedding, self.labels, class_names=self.class_names,
            title=f"{self.embedding.method.upper() if self.embedding.method in EMBEDDINGS else '2-D map'} "
                  "of the train points (lasso/box select or click)",
            width=560, height=500, color_scale="auto"), dragmode="lasso")
        self.fig_grid = go.FigureWidget(layout=dict(width=440, height=200, template="plotly_white"))
        self.info = W.HTML(layout=W.Layout(max_width="420px"))
        self.info.add_class("dd-selected")
        self.hovered_index: int | None = None
        self.preview_image = W.Image(format="png", layout=W.Layout(width="112px", height="112px"))
        self.preview_caption = W.HTML("<i>hover a point to see its image</i>", layout=W.Layout(max_width="300px"))
        self.preview_caption.add_class("dd-preview")
        figs = [self.fig_embedding]
        self.fig_ranked = self.fig_detail = self.detail_button = None
        bottom = []
        if self.scores is not None:
            self.fig_ranked = figure_widget(ranked_scores_figure(selection, class_names=self.class_names),
                                            width=540, height=380)
            figs.append(self.fig_ranked)
            bottom.append(self.fig_ranked)
            if n <= DEFER_DETAIL_ABOVE:
                self._add_detail(figs, bottom)
            elif score_detail_figure(selection, class_names=self.class_names) is not None:
                # a second WebGL view of every point doubles the first paint: built when asked for
                self.detail_button = W.Button(description="Show what drives the score",
                                              tooltip=f"score against distance to the center, all {n:,} points")
                self.detail_button.on_click(lambda _b: self.show_detail())
                bottom.append(self.detail_button)
        for fw in figs:
            self._link(fw)
        note = [] if self.scores is not None else [W.HTML(
            f"<i>method {html.escape(str(selection.method))} gives no scores: the sensitivity views are hidden.</i>")]
        preview = W.HBox([self.preview_image, self.preview_caption])
        self._bottom = W.HBox(bottom)
        self.widget = W.VBox([W.HBox([self.fig_embedding, W.VBox([preview, self.info, self.fig_grid])]), *note,
                              self._bottom])
        self.widget.add_class("dd-explorer")
        self._chosen = frozenset(int(i) for i in np.asarray(selection.indices).reshape(-1))
        self.show(np.asarray(selection.indices), what="chosen points")

    def _link(self, fw) -> None:
        for trace in fw.data:
            trace.on_click(self._on_points, append=True)
            trace.on_selection(self._on_points, append=True)
            trace.on_hover(self._on_hover, append=True)

    def _add_detail(self, figs: list, bottom: list) -> None:
        detail = score_detail_figure(self.selection, class_names=self.class_names)
        if detail is not None:
            self.fig_detail = figure_widget(detail, width=540, height=380)
            figs.append(self.fig_detail)
            bottom.append(self.fig_detail)

    def show_detail(self) -> None:
        """Build the "what drives the score" view (deferred above :data:`DEFER_DETAIL_ABOVE` points)."""
        if self.fig_detail is not None:
            return
        figs: list = []
        bottom = [c for c in self._bottom.children if c is not self.detail_button]
        self._add_detail(figs, bottom)
        for fw in figs:
            self._link(fw)
        self._bottom.children = tuple(bottom)

    def _embedding(self, embedding, n: int) -> Embedding:
        if embedding is None or isinstance(embedding, str):
            method = embedding or "umap"
            if method not in EMBEDDINGS:
                raise ValueError(f"embedding must be None, one of {list(EMBEDDINGS)}, an Embedding or (n, 2) coordinates; "
                                 f"got {embedding!r}")
            return compute_embedding(self.dataset.train, method, features="pixels")
        if isinstance(embedding, Embedding):
            coords = embedding.coords
        else:
            coords = np.asarray(embedding, dtype=np.float32)
            embedding = Embedding(coords=coords, method="given", requested="given", key="")
        if coords.shape != (n, 2):
            raise ValueError(f"embedding must hold (n, 2) = ({n}, 2) coordinates of the train points; got {coords.shape}")
        return embedding

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ linking
    def _on_points(self, trace, points, _state) -> None:
        """Called by plotly once per trace for every click/selection event, in trace order; the last trace
        closes the event."""
        fig = trace.figure
        pending = self._pending.setdefault(id(fig), {})
        found = [i for i in (_point_index(trace.customdata, p) for p in points.point_inds) if i is not None]
        pending[points.trace_index] = found
        if points.trace_index == len(fig.data) - 1:
            picked = list(dict.fromkeys(i for t in sorted(pending) for i in pending[t]))
            self._pending.pop(id(fig), None)
            if picked:
                self.show(np.asarray(picked, dtype=np.int64), what="selected points")
            else:
                self.info.value = "<b>no points in that selection</b>; showing the previous ones below"

    def _on_hover(self, trace, points, _state) -> None:
        found = [i for i in (_point_index(trace.customdata, p) for p in points.point_inds) if i is not None]
        if found:
            self.preview(found[0])

    def preview(self, index: int) -> None:
        """Show the image of train point ``index``, enlarged, with its index, class and score."""
        n = self.labels.shape[0]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise ValueError(f"index must be an int in 0..{n - 1}; got {index!r}")
        index = int(index)
        if index == self.hovered_index:
            return
        pix = to_pixels(self.dataset.train.batch([index], "cpu"), self.dataset.mean, self.dataset.std)[0]
        scale = max(1, 112 // max(pix.shape[:2]))
        pix = np.repeat(np.repeat(pix, scale, axis=0), scale, axis=1)  # nearest neighbour: crisp pixels
        self.preview_image.value = png_bytes(pix, compress_level=1)
        score = f", score {self.scores[index]:.4g}" if self.scores is not None else ""
        chosen = " — <b>chosen</b>" if index in self._chosen else ""
        self.preview_caption.value = (f"point {index}: class {html.escape(str(self.class_names[int(self.labels[index])]))}"
                                      f"{score}{chosen}")
        self.hovered_index = index

    def show(self, indices, what: str = "points") -> None:
        """Show the images of the given global train indices (at most ``max_images``) in the grid."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = self.labels.shape[0]
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"indices must lie in 0..{n - 1}; got min {idx.min()}, max {idx.max()}")
        self.selected_indices = idx
        shown = idx[: self.max_images]
        self.shown_indices = shown
        if shown.size == 0:
            self.info.value = f"<b>no {html.escape(what)}</b>"
            return
        values = self.scores[shown] if self.scores is not None else None
        fig = image_grid_figure(self.dataset.train.batch(shown, "cpu"), mean=self.dataset.mean, std=self.dataset.std,
                                ncols=min(8, shown.size), indices=shown, labels=self.labels[shown], values=values,
                                value_name="score", class_names=self.class_names, tile_px=self.tile_px,
                                title=f"{idx.size} {what}" + (f" (first {shown.size})" if shown.size < idx.size else ""))
        load_figure(self.fig_grid, fig)
        items = [f"{i} ({self.class_names[int(self.labels[i])]}" + (f", {self.scores[i]:.3g}" if self.scores is not None else "") + ")"
                 for i in shown[:20]]
        more = f", … {idx.size - 20} more" if idx.size > 20 else ""
        head = "index (class, score)" if self.scores is not None else "index (class)"
        self.info.value = (f"<b>{idx.size} {html.escape(what)}</b> — {head}: "
                           + html.escape(", ".join(items)) + html.escape(more))

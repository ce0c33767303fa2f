"""FigureWidget plumbing shared by the widgets: wrap a viz figure, swap a widget's content.

Widget state travels as JSON, which has no NaN: a float array with NaN in a trace (the viz builders put
NaN in ``customdata`` columns they have no value for) makes the kernel's message invalid and the front
end drops it. :func:`json_safe` turns such arrays into lists with ``None`` (JSON null) first.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

ARRAY_PROPS = ("customdata", "x", "y", "z", "text")


def _safe(value):
    arr = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is None or arr.dtype.kind != "f" or np.isfinite(arr).all():
        return value
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def json_safe(fig: go.Figure) -> go.Figure:
    """``fig`` with every non-finite number of its traces' data arrays replaced by None (in place)."""
    for trace in fig.data:
        for name in ARRAY_PROPS:
            if name in trace and trace[name] is not None:
                fixed = _safe(trace[name])
                if fixed is not trace[name]:
                    trace[name] = fixed
        marker = getattr(trace, "marker", None)
        if marker is not None and "color" in marker and marker.color is not None and not isinstance(marker.color, str):
            fixed = _safe(marker.color)
            if fixed is not marker.color:
                marker.color = fixed
    return fig


def figure_widget(fig: go.Figure, **layout) -> go.FigureWidget:
    """A FigureWidget of ``fig`` (JSON-safe), with ``layout`` overrides (e.g. width, height)."""
    fw = go.FigureWidget(json_safe(fig))
    if layout:
        fw.update_layout(**layout)
    return fw


def load_figure(fw: go.FigureWidget, fig: go.Figure) -> None:
    """Replace the traces and layout of ``fw`` by those of ``fig`` (the widget keeps its identity)."""
    json_safe(fig)
    fw.data = ()
    fw.add_traces(list(fig.data))
    fw.layout = fig.layout

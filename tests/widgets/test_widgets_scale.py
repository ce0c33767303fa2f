"""The widgets on large sets: the explorer defers its second WebGL view, reads images through the split."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from dd_explore.widgets import SelectionExplorer  # noqa: E402
from dd_explore.widgets import explorer as explorer_mod  # noqa: E402


def test_explorer_defers_the_detail_view_above_its_threshold(digits, monkeypatch):
    from dd_explore.selection import select

    sel = select(digits.train, digits.train.labels, 3, method="sensitivity-kmeans", random_state=0)
    coords = np.random.default_rng(0).normal(size=(len(digits.train), 2)).astype(np.float32)
    monkeypatch.setattr(explorer_mod, "DEFER_DETAIL_ABOVE", 100)
    ex = SelectionExplorer(digits, sel, embedding=coords)
    assert ex.fig_detail is None and ex.detail_button in ex._bottom.children
    ex.show_detail()
    assert ex.fig_detail is not None and ex.detail_button not in ex._bottom.children
    assert ex.fig_detail in ex._bottom.children and ex.fig_ranked in ex._bottom.children
    # the deferred view is linked like the others: a click on one of its points shows that point in the grid
    i = int(sel.indices[0])
    t, trace = next((k, tr) for k, tr in enumerate(ex.fig_detail.data) if i in np.asarray(tr.customdata)[:, 0].astype(int))
    p = int(np.flatnonzero(np.asarray(trace.customdata)[:, 0].astype(int) == i)[0])
    msg = {"event_type": "plotly_click", "device_state": None,
           "points": {"xs": [0.0], "ys": [0.0], "point_indexes": [p], "trace_indexes": [t]}}
    for k in range(len(ex.fig_detail.data)):  # plotly calls every trace; the last closes the event
        if k != t:
            ex.fig_detail._js2py_pointsCallback = {**msg, "points": {"xs": [], "ys": [], "point_indexes": [],
                                                                   "trace_indexes": []}}
    ex.fig_detail._js2py_pointsCallback = msg
    assert ex.shown_indices.tolist() == [i]

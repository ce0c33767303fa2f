"""The live widgets without a browser: real tiny runs on digits drive the dashboard; plotly's own
selection/click dispatch drives the explorer."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest

from dd_explore import distill, selection, viz
from dd_explore.distill import HIST_EDGES
from dd_explore.widgets import BackgroundRun, LiveDashboard, SelectionExplorer, run_in_background
from dd_explore.viz import importance_histogram_figure
from dd_explore.widgets._fw import json_safe

RUN = dict(method="dm", ipc=2, width=16, batch_real=16, seed=0)
IMP = dict(batches="importance", refresh=5, pool=32, probe_warmup_epochs=2, probe_epochs=1, probe_width=8)


def png_pixels(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    arr = np.asarray(img)
    return arr[:, :, None] if arr.ndim == 2 else arr


@pytest.fixture
def json_messages(monkeypatch):
    """Every widget message, checked to be strict JSON (no NaN/inf), as the kernel must send it."""
    import ipywidgets.widgets.widget as wmod

    bad: list[str] = []
    sent = {"n": 0}
    orig = wmod.Widget._send

    def check(self, msg, buffers=None):
        sent["n"] += 1
        try:
            json.dumps(msg, allow_nan=False, default=str)
        except ValueError:
            bad.append(type(self).__name__)
        return orig(self, msg, buffers)

    monkeypatch.setattr(wmod.Widget, "_send", check)
    return bad, sent


# ---------------------------------------------------------------------------- LiveDashboard
def test_dashboard_follows_a_run_throttled_and_ends_on_the_last_step(digits, tmp_path, json_messages):
    dash = LiveDashboard(digits, update_every=0.5)
    t0 = time.monotonic()
    res = distill.run(digits, steps=60, callbacks=[dash], out=tmp_path / "run", **RUN, **IMP)
    elapsed = time.monotonic() - t0
    assert dash.updates >= 2
    assert dash.updates <= elapsed / 0.5 + 2, (dash.updates, elapsed)
    assert 0 < dash.seconds_spent < elapsed
    # final state = the last step
    assert dash.step_label.value.startswith("step 60 / 60")
    assert dash.status.value.startswith("finished: 60 steps")
    assert dash.stop_button.disabled
    np.testing.assert_array_equal(dash.fig_loss.data[0].x, np.arange(1, 61))
    np.testing.assert_allclose(dash.fig_loss.data[0].y, res.losses)
    shown = np.arange(res.images.shape[0])  # ipc=2 <= max_per_class: all, one row per class
    expected = viz.tile(viz.to_pixels(res.images[shown], digits.mean, digits.std), 2)
    np.testing.assert_array_equal(png_pixels(dash.fig_images.data[0].source), expected)
    # importance views = what the run recorded
    rec = distill.load_run(tmp_path / "run")
    np.testing.assert_array_equal(dash.fig_entropy.data[0].x, rec.refresh_steps)
    entropy, ess = viz.entropy_ess(rec.q, rec.train_labels)
    np.testing.assert_allclose(dash.fig_entropy.data[0].y, entropy.mean(1), rtol=1e-5)
    np.testing.assert_allclose(dash.fig_entropy.data[1].y, ess.mean(1), rtol=1e-5)
    z = np.asarray(dash.fig_hist.data[0].z)
    assert z.shape == (len(HIST_EDGES) - 1, len(rec.refresh_steps))
    np.testing.assert_allclose(z.sum(0), 1.0)
    counts = np.asarray(rec.draw_counts)
    for c, trace in enumerate(dash.fig_counts.data):
        np.testing.assert_array_equal(np.sort(trace.x), np.sort(counts[rec.train_labels == c]))
    top = np.asarray(dash.fig_topk.data[1].customdata)
    assert top.shape == (digits.num_classes * dash.topk, 3)
    np.testing.assert_array_equal(digits.train.labels.numpy()[top[:, 0].astype(int)], top[:, 1])
    bad, sent = json_messages
    assert not bad, f"widget messages with NaN/inf from {bad}"


def test_dashboard_without_throttle_updates_every_step(digits):
    dash = LiveDashboard(digits, update_every=0.0, max_overhead=1e9)
    distill.run(digits, steps=7, callbacks=[dash], **RUN)
    assert dash.updates == 7 + 1  # on_start + every step
    assert dash.importance_box.layout.display == "none"  # uniform batches: no q_t views


def test_dashboard_paints_draw_counts_on_the_embedding(digits, tmp_path):
    coords = np.random.default_rng(0).normal(size=(digits.train.labels.shape[0], 2))
    dash = LiveDashboard(digits, embedding=coords)
    distill.run(digits, steps=5, callbacks=[dash], out=tmp_path / "run", init="sensitivity-kmeans", **RUN)
    rec = distill.load_run(tmp_path / "run")
    pts = dash.fig_embedding.data[0]
    np.testing.assert_array_equal(np.asarray(pts.marker.color), rec.draw_counts)
    chosen = json.loads((tmp_path / "run" / "init" / "summary.json").read_text())["indices"]
    np.testing.assert_array_equal(np.asarray(dash.fig_embedding.data[1].customdata)[:, 0], chosen)


def test_stop_button_from_another_thread_ends_the_run_cleanly(digits, tmp_path):
    dash = LiveDashboard(digits, update_every=0.2)
    out = tmp_path / "run"
    handle = dash.start_run(steps=100_000, out=out, **RUN, **IMP)
    assert isinstance(handle, BackgroundRun)
    deadline = time.monotonic() + 120
    while (dash.last_info is None or dash.last_info.step < 5) and time.monotonic() < deadline:
        assert not handle.done, handle.exception
        time.sleep(0.05)
    assert dash.last_info is not None and dash.last_info.step >= 5
    assert threading.current_thread() is threading.main_thread()
    dash.stop_button.click()  # what the UI does, from this (not the run's) thread
    result = handle.join(timeout=120)
    assert result.stopped and result.stop_reason == "stop"
    assert 5 <= result.steps_done < 100_000
    assert dash.status.value.startswith(f"stopped at step {result.steps_done} of 100000")
    assert dash.step_label.value.startswith(f"step {result.steps_done} / 100000")
    rec = distill.load_run(out)
    assert rec.checkpoint_step == result.steps_done == rec.step
    np.testing.assert_allclose(rec.images, result.images.numpy())
    # the checkpoint resumes
    more = distill.run(digits, steps=result.steps_done + 2, out=out, resume=True, **RUN, **IMP)
    assert more.steps_done == result.steps_done + 2 and not more.stopped


def test_stop_before_the_run_starts(digits):
    dash = LiveDashboard(digits)
    dash.stop()
    res = distill.run(digits, steps=50, callbacks=[dash], **RUN)
    assert res.stopped and res.steps_done == 0
    assert dash.status.value.startswith("stopped at step 0")
    assert not dash._stop_wanted  # the next run is not stopped


def test_background_run_reports_errors(digits):
    dash = LiveDashboard(digits)
    handle = dash.start_run(method="no-such-method", ipc=1, steps=3)
    with pytest.raises(ValueError, match="no-such-method"):
        handle.join(timeout=60)
    assert isinstance(handle.exception, ValueError)
    assert dash.status.value.startswith("error: ValueError")
    assert run_in_background(lambda a, b: a + b, 2, b=3).join(timeout=10) == 5


def test_a_failing_view_does_not_end_the_run(digits):
    dash = LiveDashboard(digits, update_every=0.0, max_overhead=1e9)

    def boom(counts):
        raise RuntimeError("view broke")

    class Breaker(distill.Callback):
        def on_start(self, control):  # after the dashboard's own on_start
            dash._render_counts = boom

    res = distill.run(digits, steps=6, callbacks=[dash, Breaker()], **RUN)
    assert res.steps_done == 6 and not res.stopped
    assert dash.updates == 1  # on_start only; then the views stopped
    assert "dashboard error (the run goes on): RuntimeError: view broke" in dash.status.value
    assert dash.control is None  # ready for the next run


def test_one_dashboard_follows_one_run_at_a_time(digits):
    dash = LiveDashboard(digits)

    class Second(distill.Callback):
        def on_step(self, info):
            if info.step == 1:
                distill.run(digits, steps=2, callbacks=[dash], **RUN)

    with pytest.raises(RuntimeError, match="already follows a running run"):
        distill.run(digits, steps=3, callbacks=[dash, Second()], **RUN)
    assert dash.control is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(update_every=-1), "update_every must be a finite number >= 0"),
    (dict(max_overhead=0), "max_overhead must be a finite number > 0"),
    (dict(max_per_class=0), "max_per_class must be an int >= 1"),
    (dict(embedding=np.zeros((3, 2))), r"embedding must hold \(n_train, 2\)"),
])
def test_dashboard_rejects_bad_arguments(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiveDashboard(digits, **kwargs)


# ---------------------------------------------------------------------------- SelectionExplorer
@pytest.fixture(scope="module")
def digits_selection(digits):
    return selection.select(digits.train.images, digits.train.labels, ipc=3, method="sensitivity-kmeans",
                            random_state=0)


@pytest.fixture(scope="module")
def coords(digits):
    return np.random.default_rng(1).normal(size=(digits.train.labels.shape[0], 2)).astype(np.float32)


def _event(fw, kind, points):
    """Send a plotly.js points event (as the front end does) for [(trace, point), ...]."""
    msg = {"event_type": kind,
           "points": {"xs": [0.0] * len(points), "ys": [0.0] * len(points),
                      "point_indexes": [p for _, p in points], "trace_indexes": [t for t, _ in points]}}
    msg["selector" if kind == "plotly_selected" else "device_state"] = None
    fw._js2py_pointsCallback = msg


def test_explorer_starts_with_the_chosen_points(digits, digits_selection, coords):
    ex = SelectionExplorer(digits, digits_selection, embedding=coords)
    np.testing.assert_array_equal(ex.shown_indices, digits_selection.indices)
    assert ex.fig_ranked is not None and ex.fig_detail is not None


def test_explorer_lasso_shows_exactly_the_selected_points(digits, digits_selection, coords, json_messages):
    ex = SelectionExplorer(digits, digits_selection, embedding=coords)
    fw = ex.fig_embedding
    chosen_row = 4  # the 5th chosen point, in trace 1, also present in trace 0
    chosen_idx = int(digits_selection.indices[chosen_row])
    _event(fw, "plotly_selected", [(0, 5), (0, 17), (0, 300), (1, chosen_row), (0, chosen_idx)])
    expected = [5, 17, 300, chosen_idx]
    np.testing.assert_array_equal(ex.selected_indices, expected)
    np.testing.assert_array_equal(ex.shown_indices, expected)
    grid = np.asarray(ex.fig_grid.data[1].customdata, dtype=float)
    np.testing.assert_array_equal(grid[:, 0], expected)
    np.testing.assert_array_equal(grid[:, 1], digits.train.labels.numpy()[expected])
    np.testing.assert_allclose(grid[:, 2], digits_selection.scores[expected])
    expected_pix = viz.tile(viz.to_pixels(digits.train.images[expected], digits.mean, digits.std), 4)
    np.testing.assert_array_equal(png_pixels(ex.fig_grid.data[0].source), expected_pix)
    for i in expected:
        assert f"{i} (" in ex.info.value
    # a click on the ranked-score curve shows that one point
    ranked = ex.fig_ranked
    idx_at = int(np.asarray(ranked.data[2].customdata)[10])
    _event(ranked, "plotly_click", [(2, 10)])
    np.testing.assert_array_equal(ex.shown_indices, [idx_at])
    bad, _ = json_messages
    assert not bad


def test_explorer_hover_previews_the_hovered_point(digits, digits_selection, coords, json_messages):
    ex = SelectionExplorer(digits, digits_selection, embedding=coords)
    assert ex.hovered_index is None
    _event(ex.fig_embedding, "plotly_hover", [(0, 42)])
    assert ex.hovered_index == 42
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(ex.preview_image.value)))
    pix = viz.to_pixels(digits.train.images[42], digits.mean, digits.std)[0, :, :, 0]
    scale = img.shape[0] // pix.shape[0]
    assert scale > 1 and img.shape == (pix.shape[0] * scale, pix.shape[1] * scale)
    np.testing.assert_array_equal(img[::scale, ::scale], pix)  # enlarged, not resampled
    label = digits.classes[int(digits.train.labels[42])]
    assert f"point 42: class {label}" in ex.preview_caption.value
    assert f"{digits_selection.scores[42]:.4g}" in ex.preview_caption.value
    # hovering the ranked-score curve previews that point too
    idx_at = int(np.asarray(ex.fig_ranked.data[2].customdata)[10])
    _event(ex.fig_ranked, "plotly_hover", [(2, 10)])
    assert ex.hovered_index == idx_at
    # a chosen point is marked as chosen
    chosen = int(digits_selection.indices[0])
    ex.preview(chosen)
    assert "chosen" in ex.preview_caption.value and ex.hovered_index == chosen
    with pytest.raises(ValueError, match="index must be an int"):
        ex.preview(len(digits.train.labels))
    bad, _ = json_messages
    assert not bad


def test_explorer_caps_the_grid_and_handles_empty_selections(digits, digits_selection, coords):
    ex = SelectionExplorer(digits, digits_selection, embedding=coords, max_images=10)
    _event(ex.fig_embedding, "plotly_selected", [(0, i) for i in range(25)])
    assert len(ex.selected_indices) == 25
    np.testing.assert_array_equal(ex.shown_indices, np.arange(10))
    _event(ex.fig_embedding, "plotly_selected", [])
    np.testing.assert_array_equal(ex.shown_indices, np.arange(10))
    assert "no points" in ex.info.value


def test_explorer_without_scores_hides_the_sensitivity_views(digits, coords):
    sel = selection.select(digits.train.images, digits.train.labels, ipc=2, method="random", random_state=0)
    ex = SelectionExplorer(digits, sel, embedding=coords)
    if not viz.has_scores(sel):
        assert ex.fig_ranked is None
    # no NaN reaches the widgets (JSON has none)
    for trace in ex.fig_embedding.data:
        cd = trace.customdata
        assert cd is None or all(v is None or np.isfinite(v) for row in cd for v in np.atleast_1d(row))


def test_explorer_rejects_a_selection_of_other_data(digits, coords):
    sel = selection.select(digits.test.images, digits.test.labels, ipc=2, method="random", random_state=0)
    with pytest.raises(ValueError, match="train split"):
        SelectionExplorer(digits, sel, embedding=coords)


# ---------------------------------------------------------------------------- helpers
def test_json_safe_replaces_non_finite_values():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1.0, np.nan], customdata=np.array([[1.0, np.nan], [2.0, 3.0]])))
    json_safe(fig)
    assert list(fig.data[0].y) == [1.0, None]
    assert [list(r) for r in fig.data[0].customdata] == [[1.0, None], [2.0, 3.0]]


def test_importance_histogram_figure_shares():
    hist = np.array([[0, 5, 5] + [0] * (len(HIST_EDGES) - 4), [10] + [0] * (len(HIST_EDGES) - 2)])
    fig = importance_histogram_figure([3, 8], hist, HIST_EDGES)
    z = np.asarray(fig.data[0].z)
    np.testing.assert_allclose(z[:, 0][:3], [0, 0.5, 0.5])
    np.testing.assert_allclose(z[:, 1][0], 1.0)
    np.testing.assert_array_equal(fig.data[0].x, [3, 8])

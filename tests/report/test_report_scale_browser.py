"""A report with more train points than its thumbnail budget, its embeddings drawn with WebGL: every view
renders offline in headless Chromium, chosen points show their thumbnail, others say none is kept."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUDGET = 40
# page coordinates (x, y) and global index of every point of a figure's first trace
PIXELS = """(id) => { const gd = document.getElementById(id), fl = gd._fullLayout, r = gd.getBoundingClientRect();
  const t = gd._fullData[0], out = [];
  for (let i = 0; i < t.x.length; i++) {
    out.push([r.left + fl._size.l + fl.xaxis.l2p(t.x[i]), r.top + fl._size.t + fl.yaxis.l2p(t.y[i]), t.customdata[i][0]]);
  }
  return out; }"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("DD_EXPLORE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and DD_EXPLORE_REQUIRE_BROWSER=1 (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def budget_report(run_dir, tmp_path_factory):
    from dd_explore.report import build
    from dd_explore.viz import scales

    mp = pytest.MonkeyPatch()
    mp.setattr(build, "THUMBNAIL_BUDGET", BUDGET)
    mp.setattr(scales, "WEBGL_THRESHOLD", 500)  # digits' 1,438 train points -> WebGL
    try:
        out = build.write_report(run_dir, out=tmp_path_factory.mktemp("scale-report") / "report.html", embedding="pca",
                                 cache_dir=tmp_path_factory.mktemp("cache"))
    finally:
        mp.undo()
    return out


def test_budget_report_keeps_thumbnails_of_the_chosen_points_only_up_to_the_budget(budget_report, run_dir):
    from dd_explore.distill import load_run
    from dd_explore.selection import Selection

    text = budget_report.read_text(encoding="utf-8")
    sprites = json.loads(re.search(r'<script type="application/json" id="dd-sprites">(.*?)</script>', text, re.S).group(1))
    sp = sprites["sprites"]["train"]
    n = len(load_run(run_dir).train_labels)
    assert sp["kept"] == BUDGET == len(sp["slots"]) and sp["total"] == n > BUDGET
    sel = Selection.load(run_dir / "init")
    assert {str(int(i)) for i in sel.indices} <= set(sp["slots"])
    assert f"Hover thumbnails are kept for {BUDGET} of the {n:,} train points" in text


@pytest.mark.browser
def test_budget_report_renders_every_view_offline(browser, budget_report, run_dir, tmp_path):
    from dd_explore.selection import Selection

    text = budget_report.read_text(encoding="utf-8")
    expected = text.count('class="plotly-graph-div"')
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(budget_report.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() == expected
    for fig_id in ("fig-embedding", "fig-draws-embedding"):
        assert page.evaluate(f"document.getElementById('{fig_id}')._fullData[0].type") == "scattergl"
        assert page.locator(f"#{fig_id} canvas").count() >= 1  # drawn by WebGL
        assert page.evaluate(f"document.getElementById('{fig_id}').querySelector('.no-webgl')") is None

    # a real mouse over an isolated WebGL point without a thumbnail: the panel says none is kept
    emb = page.locator("#fig-embedding")
    emb.scroll_into_view_if_needed()
    pts = np.array(page.evaluate(PIXELS, "fig-embedding"))
    slots = json.loads(page.evaluate("document.getElementById('dd-sprites').textContent"))["sprites"]["train"]["slots"]
    d = np.sqrt(((pts[:, None, :2] - pts[None, :, :2]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    isolated = np.argsort(-d.min(1))
    k = next(int(i) for i in isolated if str(int(pts[i, 2])) not in slots)
    page.mouse.move(pts[k, 0] + 25, pts[k, 1] + 25)
    page.mouse.move(pts[k, 0], pts[k, 1], steps=3)
    caption = "document.querySelector('#fig-embedding-panel .caption').textContent"
    page.wait_for_function(f"{caption}.startsWith('index {int(pts[k, 2])}: no thumbnail kept')", timeout=10_000)
    assert f"({BUDGET} of {len(pts)} points have one)" in page.evaluate(caption)
    # ... and over a chosen point (trace 1, drawn in SVG over the WebGL points) its thumbnail
    sel = Selection.load(run_dir / "init")
    marker = emb.locator(".scatterlayer .trace").nth(0).locator(".point").first
    box = marker.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2 + 30)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=3)
    page.wait_for_function(f"{caption}.startsWith('index {int(sel.indices[0])}, class ')", timeout=10_000)
    assert "url(" in page.evaluate("document.querySelector('#fig-embedding-panel .sprite').style.backgroundImage")

    page.screenshot(path=str(tmp_path / "budget-report.png"), full_page=True)
    assert not errors, errors
    remote = [u for u in requests if urlparse(u).scheme not in ("file", "data", "blob", "about")]
    assert not remote, f"the report made network requests: {remote}"
    page.close()

"""Open the HTML report from disk in headless Chromium: every view renders, the slider and hover work, and
the page makes no network request."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


@pytest.mark.browser
def test_report_renders_offline_in_chromium(browser, report_path, run_dir, tmp_path):
    text = report_path.read_text(encoding="utf-8")
    expected = text.count('class="plotly-graph-div"')
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report_path.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {expected}", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == expected
    for fig_id in ("fig-embedding", "fig-evolution"):
        assert page.locator(f"#{fig_id}.js-plotly-plot").count() == 1

    # the evolution slider exists, and moving it to the first snapshot changes the images shown
    evo = page.locator("#fig-evolution")
    assert evo.locator(".slider-container").count() == 1
    assert evo.locator(".updatemenu-button").count() == 2  # Play, Pause
    before = page.evaluate("document.querySelector('#fig-evolution image').getAttribute('href')")
    labels = evo.locator(".slider-label-group .slider-label")
    first = labels.first.text_content()
    from dd_explore.distill import load_run

    assert [labels.nth(i).text_content() for i in range(labels.count())] == [str(s) for s in load_run(run_dir).snapshot_steps]
    current = evo.locator(".slider-group > .slider-label")
    assert current.text_content() == f"step {labels.last.text_content()}"
    evo.scroll_into_view_if_needed()
    rail = evo.locator(".slider-rail-touch-rect").bounding_box()
    page.mouse.click(rail["x"] + 3, rail["y"] + rail["height"] / 2)  # the left end of the slider = first step
    page.wait_for_function(
        "(b) => document.querySelector('#fig-evolution image').getAttribute('href') !== b", arg=before, timeout=10_000)
    assert current.text_content() == f"step {first}"

    # the mouse over a chosen point of the embedding shows its index, class and image in the side panel
    from dd_explore.selection import Selection

    sel = Selection.load(run_dir / "init")
    emb = page.locator("#fig-embedding")
    emb.scroll_into_view_if_needed()
    marker = emb.locator(".scatterlayer .trace").nth(1).locator(".point").first  # trace 1 = chosen points
    box = marker.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2 + 30)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=3)
    caption = page.locator("#fig-embedding-panel .caption")
    idx = int(sel.indices[0])
    page.wait_for_function("(t) => document.querySelector('#fig-embedding-panel .caption').textContent.startsWith(t)",
                           arg=f"index {idx}, class {int(sel.labels[0])}", timeout=10_000)
    assert "score" in caption.text_content()
    assert "url(" in page.evaluate("document.querySelector('#fig-embedding-panel .sprite').style.backgroundImage")

    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert not errors, errors
    remote = [u for u in requests if urlparse(u).scheme not in ("file", "data", "blob", "about")]
    assert not remote, f"the report made network requests: {remote}"
    assert requests and urlparse(requests[0]).scheme == "file"
    page.close()

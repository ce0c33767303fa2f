"""JupyterLab in a real (headless Debian) Chromium: 03_live_distillation runs, the dashboard renders and
its step label advances while the run goes on; the Stop button ends the run; the explorer renders.

Needs /usr/bin/chromium (``apt-get install -y chromium``; .ci/run installs it). Without it the test is
skipped, unless DD_EXPLORE_REQUIRE_BROWSER=1 (then it fails). The screenshots stay in the test's
temporary folder (``dashboard.png`` while running, ``after-stop.png``, ``explorer.png``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = "03_live_distillation.ipynb"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP = re.compile(r"step (\d+) / (\d+)")


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("DD_EXPLORE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing and DD_EXPLORE_REQUIRE_BROWSER=1 (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium; DD_EXPLORE_REQUIRE_BROWSER=1 makes this fail)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


class Lab:
    """A JupyterLab server on 127.0.0.1 with a random token, serving ``root``; killed by :meth:`close`."""

    def __init__(self, root: Path, tmp: Path):
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, DD_EXPLORE_QUICK="1", DD_EXPLORE_CACHE=str(tmp / "cache"),
                   JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
                   JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        self.log = open(tmp / "jupyterlab.log", "wb")
        jupyter = Path(sys.executable).with_name("jupyter")
        cmd = [str(jupyter) if jupyter.exists() else "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={root}", "--allow-root"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if _get(f"{self.base}/api/status?token={self.token}")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"jupyter lab did not answer within {timeout} s; see {self.log.name}")

    def close(self) -> None:
        try:  # shut the kernels down through the API, then the server
            _, body = _get(f"{self.base}/api/kernels?token={self.token}")
            for k in json.loads(body):
                req = urllib.request.Request(f"{self.base}/api/kernels/{k['id']}?token={self.token}", method="DELETE")
                urllib.request.urlopen(req, timeout=10).close()
        except OSError:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def _step_label(page) -> tuple[str, int | None]:
    text = page.locator(".dd-dashboard .dd-step").first.inner_text(timeout=5_000)
    m = STEP.search(text)
    return text, int(m.group(1)) if m else None


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_live_dashboard_in_jupyterlab(tmp_path):
    _need_chromium()
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, root, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    lab = Lab(root, tmp_path)
    try:
        lab.wait_ready()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 2600})
                page.set_default_timeout(60_000)
                page.goto(f"{lab.base}/lab/tree/{NOTEBOOK}?token={lab.token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
                dialog = page.locator(".jp-Dialog .jp-mod-accept")
                if dialog.count():
                    dialog.first.click()
                # wait for the kernel, then Run All Cells through the command palette (retried: a palette
                # command given while the notebook is still settling can be lost)
                expect(page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).first).to_be_visible(timeout=90_000)
                for attempt in range(3):
                    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
                    page.keyboard.press("Escape")  # command mode, so the shortcut opens the palette
                    page.keyboard.press("Control+Shift+C")
                    page.keyboard.type("Run All Cells")
                    page.wait_for_timeout(500)
                    page.keyboard.press("Enter")
                    try:
                        page.wait_for_function(
                            "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))",
                            timeout=20_000)
                        break
                    except Exception:  # noqa: BLE001 - retried, then the next wait fails with context
                        page.keyboard.press("Escape")

                # the dashboard renders: plotly figures and the synthetic image grid (an SVG <image>)
                dash = page.locator(".dd-dashboard")
                expect(dash.locator(".js-plotly-plot").first).to_be_visible(timeout=150_000)
                grid = dash.locator(".js-plotly-plot image")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.dd-dashboard .js-plotly-plot image')]"
                    ".some(i => (i.getAttribute('href') || i.getAttribute('xlink:href') || '').startsWith('data:image/png'))",
                    timeout=150_000)
                assert grid.count() >= 1

                # the step label advances while the run goes on (read twice, seconds apart)
                deadline = time.monotonic() + 150
                first = None
                while time.monotonic() < deadline:
                    text, step = _step_label(page)
                    if step and "done" not in text:
                        first = (text, step)
                        break
                    assert "done" not in text, f"the run ended before the label could be read twice: {text!r}"
                    time.sleep(0.25)
                assert first is not None, "the step label never showed a running step"
                time.sleep(3.0)
                second = None
                while time.monotonic() < deadline:
                    text, step = _step_label(page)
                    if step is not None and step > first[1]:
                        second = (text, step)
                        break
                    time.sleep(0.5)
                assert second is not None, f"the step label did not advance past {first[0]!r}"
                dash.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / "dashboard.png"))

                # Stop ends the run cleanly; the rest of the notebook then runs (explorer included)
                stop = dash.locator("button.dd-stop").first
                if stop.is_enabled():  # (the quick run may have just finished on a fast machine)
                    stop.click()
                    expect(dash.locator(".dd-status").first).to_contain_text("stopped at step", timeout=90_000)
                explorer = page.locator(".dd-explorer")
                expect(explorer.locator(".js-plotly-plot").first).to_be_visible(timeout=120_000)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.dd-explorer .js-plotly-plot image')].length > 0",
                    timeout=60_000)
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
                assert errors.count() == 0, errors.first.inner_text()
                dash.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / "after-stop.png"))
                explorer.scroll_into_view_if_needed()
                page.screenshot(path=str(tmp_path / "explorer.png"))
                assert (tmp_path / "dashboard.png").stat().st_size > 10_000
                status = dash.locator(".dd-status").first.inner_text()
                steps_done = re.search(r"(?:stopped at step|finished:) (\d+)", status)
                assert steps_done and int(steps_done.group(1)) >= second[1], status
                assert (root / "runs" / "live" / "checkpoint.pt").exists()
            finally:
                browser.close()
    finally:
        lab.close()

"""Every tutorial notebook executes headless (quick budgets) and is committed clean.

Each notebook runs with nbclient in a temporary copy of notebooks/ (so ``runs/`` lands there), with
``DD_EXPLORE_QUICK=1`` and the ``python3`` kernel of this interpreter; any cell error fails the test.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ["01_quickstart.ipynb", "02_sensitivity_explained.ipynb", "03_live_distillation.ipynb",
            "04_compare_runs.ipynb"]
CELL_TIMEOUT = 600


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_four_tutorials_exist():
    assert [p.name for p in _notebooks()] == EXPECTED


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_committed_clean_with_kernelspec(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec python3 avoids JupyterLab's kernel dialog"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs: strip them before committing"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count: strip outputs"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("DD_EXPLORE_QUICK") == "1"' in text, "every notebook reads the quick switch"
    assert "dd_explore._" not in text and "from dd_explore._" not in text, "notebooks use the public API only"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec 'python3' that runs this interpreter, so the venv's dd_explore is the one executed."""
    from jupyter_client.kernelspec import KernelSpecManager

    root = tmp_path_factory.mktemp("kernels")
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], '
        '"display_name": "Python 3 (ipykernel)", "language": "python"}' % sys.executable.replace("\\", "\\\\"))
    ksm = KernelSpecManager(kernel_dirs=[str(root / "kernels")])
    return ksm


@pytest.mark.notebook
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, kernel_env, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from jupyter_client.manager import KernelManager

    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, work, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    monkeypatch.setenv("DD_EXPLORE_QUICK", "1")
    monkeypatch.setenv("DD_EXPLORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(work / path.name, as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=kernel_env)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    print(f"{path.name}: {seconds:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    written = [p for p in work.rglob("*") if p.is_file() and p.suffix != ".ipynb"]
    outside = [p for p in written if not p.relative_to(work).parts[0] in ("runs", ".ipynb_checkpoints")]
    assert not outside, f"notebooks must write under runs/ only; found {outside}"

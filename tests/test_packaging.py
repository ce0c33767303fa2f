"""Packaging invariants: environment.yml and pyproject.toml name the same dependencies; the CLI is wired."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    pip_lines = []
    in_pip = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip and line.strip().startswith("- "):
            pip_lines.append(line.strip()[2:])
    listed = {_name(r): r.replace(" ", "") for r in pip_lines if not r.startswith("-e")}
    assert listed == wanted, f"environment.yml pip section differs from pyproject: {set(listed.items()) ^ set(wanted.items())}"
    assert any(r.startswith("-e .") for r in pip_lines), "environment.yml must install the package itself"


def test_requires_python_and_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"]["dd-explore"] == "dd_explore.cli:entry"


def test_cli_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "dd_explore.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("demo", "select", "distill", "evaluate", "report", "bench"):
        assert cmd in out
    for cmd in ("demo", "select", "distill", "evaluate", "report", "bench"):
        sub = subprocess.run([sys.executable, "-m", "dd_explore.cli", cmd, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0, sub.stderr
        assert "usage: dd-explore " + cmd in sub.stdout


def test_no_hard_coded_cuda():
    offenders = []
    for path in (ROOT / "dd_explore").rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if "``" in line or line.lstrip().startswith("#"):
                continue  # prose in docstrings and comments may name the device
            if re.search(r"\.cuda\(\)|device\s*=\s*[\"']cuda[\"']|[\"']cuda:0[\"']", line):
                offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, offenders

"""Options declared once: the rules validate, and the CLI help and docs tables come from the declarations."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dd_explore import distill
from dd_explore.distill.command import options_markdown
from dd_explore.distill.importance import ImportanceOptions
from dd_explore.distill.methods import METHODS
from dd_explore.options import Choice, Flag, Int, Number, Text, declared, option, validate

DOCS = Path(__file__).resolve().parents[1] / "docs" / "distill.md"


@dataclasses.dataclass(frozen=True)
class Opts:
    n: int = option(1, "a count", Int())
    k: int | None = option(None, "an optional count", Int(0, optional=True, none="all"))
    lr: float = option(0.1, "a rate", Number())
    frac: float = option(0.0, "a fraction", Number(0, 1, low_open=False, high_open=True))
    kind: str = option("a", "a kind", Choice(("a", "b")))
    on: bool = option(True, "a switch", Flag())
    path: str | None = option(None, "a path", Text(optional=True))


@pytest.mark.parametrize("field,value,message", [
    ("n", 0, "n must be a positive int; got 0"),
    ("n", 1.5, "n must be a positive int; got 1.5"),
    ("n", True, "n must be a positive int; got True"),
    ("k", -1, "k must be a non-negative int or None (all); got -1"),
    ("lr", 0, "lr must be a positive number; got 0"),
    ("lr", float("nan"), "lr must be a positive number; got nan"),
    ("frac", 1.0, "frac must be a number in [0, 1); got 1.0"),
    ("kind", "c", "kind must be one of ['a', 'b']; got 'c'"),
    ("on", 1, "on must be True or False; got 1"),
    ("path", "", "path must be a non-empty string or None; got ''"),
])
def test_a_rule_names_the_option_the_rule_and_the_value(field, value, message):
    validate(Opts())  # the defaults pass
    with pytest.raises(ValueError, match=re.escape(message)):
        validate(Opts(**{field: value}))


def test_accepted_values_pass():
    validate(Opts(n=3, k=0, lr=2.5, frac=0.5, kind="b", on=False, path="x"))
    validate(Opts(k=None, lr=1))


@pytest.mark.parametrize("method", distill.list_methods())
def test_every_option_of_every_method_is_declared(method):
    cls = METHODS.get(method).Options
    names = {f.name for f in dataclasses.fields(cls)}
    assert names == {name for name, _, _ in declared(cls)}, "an option without option(...) metadata"
    for name, spec, default in declared(cls):
        assert spec.help and spec.rule.ok(default), f"{method}.{name}: default {default!r} breaks its own rule"
    assert {f.name for f in dataclasses.fields(ImportanceOptions)} == {n for n, _, _ in declared(ImportanceOptions)}


def test_run_refuses_a_bad_option_value_before_writing(digits, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape("momentum must be a number in [0, 1); got 1.0")):
        distill.run(digits, "dm", ipc=1, steps=1, momentum=1.0, out=out)
    with pytest.raises(ValueError, match=re.escape("gamma must be a number in (0, 1]; got 0")):
        distill.run(digits, "dm", ipc=1, steps=1, batches="importance", gamma=0, out=out)
    assert not out.exists()


def test_docs_tables_equal_the_declarations():
    text = DOCS.read_text()
    for name, table in options_markdown().items():
        block = re.search(rf"<!-- options:{name} -->\n(.*?)<!-- /options:{name} -->", text, re.S)
        assert block is not None, f"docs/distill.md lacks the options:{name} markers"
        assert block.group(1) == table, (f"docs/distill.md's {name} table is stale: "
                                         "python -m dd_explore.distill.command docs/distill.md")


def test_cli_help_says_what_each_option_does_and_its_defaults():
    out = subprocess.run([sys.executable, "-m", "dd_explore", "distill", "--help"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "1000", "PATH": ""}).stdout
    flat = " ".join(out.split())
    assert "(default: the method's)" not in flat
    for method in distill.list_methods():
        assert method in flat
    for name, spec, _ in declared(ImportanceOptions):
        assert f"--{name.replace('_', '-')}" in flat and spec.help in flat
    for method in distill.list_methods():
        for name, spec, _ in declared(METHODS.get(method).Options):
            assert f"--{name.replace('_', '-')}" in flat and spec.help in flat
    # per-method defaults and the accepted values
    assert "learning rate of the synthetic images (a positive number)" in flat
    assert "default dc/dsa 0.1, dm 1, kip 0.01, mtt None" in flat
    assert "--dsa, --no-dsa" in flat and "dc False, dm/dsa/mtt True" in flat


def test_cli_flags_reach_the_run(tmp_path):
    from dd_explore.cli import main
    import json

    out = tmp_path / "r"
    assert main(["distill", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--steps", "1", "--width", "8",
                 "--depth", "2", "--momentum", "0.9", "--no-dsa", "--chunk", "none", "--no-progress",
                 "--out", str(out)]) == 0
    opts = json.loads((out / "config.json").read_text())["run"]["method_options"]
    assert opts["momentum"] == 0.9 and opts["dsa"] is False and opts["chunk"] is None and opts["width"] == 8


@pytest.mark.parametrize("flag, expected", [([], "reweight"), (["--weighting", "none"], "none"),
                                            (["--weighting", "None"], "reweight"), (["--weighting", "reweight"], "reweight")])
def test_a_choice_named_none_is_that_choice_on_the_command_line(tmp_path, flag, expected):
    """``--weighting none`` asks for unweighted draws; only ``None`` (or no flag) is the method's default
    (MTT: reweight)."""
    from dd_explore.cli import main
    import json

    out = tmp_path / "r"
    assert main(["distill", "--dataset", "digits", "--method", "mtt", "--ipc", "1", "--steps", "1", "--width", "8",
                 "--depth", "2", "--num-experts", "1", "--max-start-epoch", "1", "--expert-epochs", "1",
                 "--syn-steps", "1", "--batches", "importance", "--segment", "online", "--online-steps", "2",
                 "--probe-warmup-epochs", "1", "--no-progress", "--out", str(out), *flag]) == 0
    assert json.loads((out / "config.json").read_text())["run"]["importance"]["weighting"] == expected

"""The named plans, their cells and references, and bad plans."""

from __future__ import annotations

import pytest

from dd_explore.bench import Cell, check_plan, grid_cells, make_plan, with_cells
from dd_explore.bench.plan import estimate_seconds


def test_quick_plan_cells():
    plan = make_plan("quick")
    keys = [c.key for c in plan.cells]
    assert plan.seeds == (0, 1) and len(keys) == len(set(keys))
    assert {c.method for c in plan.cells if c.kind == "distill"} == {"dm", "kip"}
    assert {c.ipc for c in plan.cells if c.kind != "whole"} == {1, 10}
    for method in ("dm", "kip"):
        for ipc in (1, 10):
            for suffix in ("random/uniform", "sensitivity-kmeans/uniform", "random/importance",
                           "sensitivity-kmeans/importance"):
                assert f"{method}/ipc{ipc}/{suffix}" in keys
        assert f"{method}/ipc1/random/importance-rw" in keys
    assert "dm/ipc1/random/uniform@equal-time" in keys and "dm/ipc1/random/uniform@lr-tuned" in keys
    assert "whole" in keys and "coreset/herding/ipc10" in keys
    # equal step budgets per method and IPC
    for method in ("dm", "kip"):
        for ipc in (1, 10):
            assert len({c.steps for c in plan.cells if c.method == method and c.ipc == ipc}) == 1
    assert estimate_seconds(plan, threads=1) < 8 * 60  # with the speed section: within 10 minutes


def test_standard_and_complete_plans():
    std = make_plan("standard")
    assert std.seeds == (0, 1, 2, 3, 4) and {c.ipc for c in std.cells} == {0, 1, 10, 50}
    keys = {c.key for c in std.cells}
    assert "kip/ipc10/sensitivity-krr/importance" in keys and "dc/ipc1/sensitivity-kmeans/importance" in keys
    assert "dm/ipc10/sensitivity-kmeans-stratified/uniform" in keys
    assert 60 * 60 < estimate_seconds(std, threads=2) < estimate_seconds(std) < 160 * 60
    assert "dm/ipc1/sensitivity-kmeans-stratified/uniform" not in keys  # the same distribution as s-kmeans at k = 1
    full = make_plan("complete")
    fk = {c.key for c in full.cells}
    for init in ("random", "sensitivity-kmeans", "sensitivity-kmeans-stratified", "sensitivity-krr"):
        for variant in ("uniform", "importance", "importance-rw"):
            assert f"kip/ipc50/{init}/{variant}" in fk
    assert all(c.eval_epochs == 300 for c in full.cells if c.kind != "whole")
    mtt = [c for c in full.cells if c.method == "mtt"]
    assert {c.ipc for c in mtt} == {1, 10, 50} and all(c.options_dict() == {"segment": "online"} for c in mtt)


def test_references_and_labels():
    cells = grid_cells("dm", 10, "core", 7, {}, 5)
    assert cells[0].is_reference and cells[0].reference_key is None
    assert all(c.reference_key == "dm/ipc10/random/uniform" for c in cells[1:])
    assert cells[-2].control == "equal-time" and cells[-1].control == "lr-tuned"
    assert Cell("coreset", "herding", 10).reference_key == "coreset/random/ipc10"
    assert "reweighted" in Cell("distill", "dm", 1, batches="importance", weighting="reweight").label


def test_narrowing_and_overrides():
    plan = make_plan("standard", methods=["kip"], ipcs=[1], seeds=[3, 4], steps=7, eval_epochs=9, width=16)
    assert plan.seeds == (3, 4) and plan.eval_width == 16
    assert {c.method for c in plan.cells if c.kind == "distill"} == {"kip"}
    assert all(c.steps == 7 for c in plan.cells if c.kind == "distill")
    assert all(c.eval_epochs == 9 for c in plan.cells)
    assert any("overridden" in n for n in plan.notes)


@pytest.mark.parametrize("kwargs, message", [
    (dict(methods=["foo"]), "unknown distillation method"),
    (dict(methods=["dsa"]), "not in the 'quick' plan"),
    (dict(ipcs=[50]), "ipc \\[50\\] not in the 'quick' plan"),
    (dict(seeds=[1, 1]), "distinct"),
    (dict(seeds=[-1]), "non-negative"),
    (dict(steps=0), "steps must be a positive int"),
])
def test_make_plan_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_plan("quick", **kwargs)


def test_unknown_plan():
    with pytest.raises(ValueError, match="plan must be one of"):
        make_plan("huge")


def test_check_plan_rejects_bad_cells(digits, tiny_plan):
    check_plan(tiny_plan, digits)
    bad = [
        (Cell("distill", "nope", 1, steps=2), "method must be one of"),
        (Cell("distill", "dm", 1, init="nope", steps=2), "init must be one of"),
        (Cell("distill", "dm", 500, steps=2), "smallest class"),
        (Cell("coreset", "nope", 1), "coreset method must be one of"),
        (Cell("distill", "dm", 1, weighting="reweight", steps=2), "importance batches only"),
    ]
    for cell, message in bad:
        with pytest.raises(ValueError, match=message):
            check_plan(with_cells(tiny_plan, [cell]), digits)
    control = Cell("distill", "dm", 1, control="equal-time", steps=3)
    with pytest.raises(ValueError, match="needs cell"):
        check_plan(with_cells(tiny_plan, [control]), digits)

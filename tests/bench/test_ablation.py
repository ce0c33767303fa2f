"""The ablation runner with a fake distillation/evaluation: rows, controls, resume, the out-folder policy."""

from __future__ import annotations

import csv
import json

import pytest

from dd_explore.bench import make_plan, run_ablation, validation_split
from dd_explore.bench.store import RESULT_COLUMNS, read_csv


def _table(rows, drop=("wall_seconds", "finished_at")):
    return sorted(tuple((k, json.dumps(v, sort_keys=True)) for k, v in r.items() if k not in drop) for r in rows)


def test_rows_columns_and_controls(tmp_path, digits, tiny_plan, fakes):
    res = run_ablation(tiny_plan, tmp_path / "b", dataset=digits, device="cpu", progress=False)
    rows = read_csv(tmp_path / "b" / "results.csv")
    assert len(rows) == len(tiny_plan.cells) * 2 and res.computed == len(rows) and res.skipped == 0
    with open(tmp_path / "b" / "results.csv") as f:
        assert tuple(next(csv.reader(f))) == RESULT_COLUMNS
    by = {(r["cell"], r["seed"]): r for r in rows}
    for seed in (0, 1):
        # equal wall time: the importance run took 3 steps x 0.15 s (probe included); uniform steps cost 0.1 s,
        # so 4 whole uniform steps fit
        eq = by[("dm/ipc1/random/uniform@equal-time", seed)]
        assert eq["steps_done"] == 4 and "equal wall time" in eq["note"]
        assert by[("dm/ipc1/random/uniform", seed)]["steps_done"] == 3
        # the same evaluation networks for every cell of a seed
        assert len({r["eval_seed"] for (c, s), r in by.items() if s == seed}) == 1
    # lr tuning: one run per grid factor, on the train/validation split, never on the real test split
    tuning = read_csv(tmp_path / "b" / "tuning.csv")
    assert sorted(float(t["factor"]) for t in tuning) == [1.0, 3.0]
    tune_calls = [c for c in fakes.distill_calls if c[4] == "digits-trainval"]
    assert len(tune_calls) == 2 and {c[3] for c in tune_calls} == {1.0, 3.0}
    best = max(tuning, key=lambda t: (float(t["val_accuracy"]), -abs(float(t["factor"]) - 1)))
    lr_rows = [by[("dm/ipc1/random/uniform@lr-tuned", s)] for s in (0, 1)]
    assert all(float(r["lr_img"]) == pytest.approx(float(best["lr_img"])) for r in lr_rows)
    summary = {s.key: s for s in res.summaries}
    assert summary["dm/ipc1/random/uniform"].paired is None
    assert summary["dm/ipc1/random/importance"].paired.n == 2
    assert summary["coreset/herding/ipc1"].reference == "coreset/random/ipc1"
    for name in ("table.md", "summary.csv", "comparison.html", "bench.json"):
        assert (tmp_path / "b" / name).stat().st_size > 0


def test_validation_split_is_stratified_and_disjoint(digits):
    val = validation_split(digits, 0.2, 0)
    n_val = val.test.labels.bincount()
    assert len(val.train) + len(val.test) == len(digits.train)
    assert n_val.min() >= 0.15 * digits.train.labels.bincount().min()
    assert val.test.images.shape[1:] == digits.train.images.shape[1:]


def test_resume_after_a_failure_skips_finished_runs(tmp_path, digits, tiny_plan, fakes):
    full = tmp_path / "full"
    run_ablation(tiny_plan, full, dataset=digits, device="cpu", progress=False)
    reference_rows = read_csv(full / "results.csv")
    total_distills = len(fakes.distill_calls)

    fakes.distill_calls.clear()
    fakes.fail_at = 4  # the 4th distillation of the run raises
    out = tmp_path / "killed"
    with pytest.raises(RuntimeError, match="injected failure"):
        run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False)
    done = read_csv(out / "results.csv")
    assert 0 < len(done) < len(reference_rows)
    finished = {(r["cell"], r["seed"]) for r in done}

    with pytest.raises(FileExistsError, match="--resume"):
        run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False)
    fakes.distill_calls.clear()
    fakes.fail_at = None
    res = run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False, resume=True)
    assert res.skipped == len(done)
    recomputed = {(k, s) for k, s, _, _, name in fakes.distill_calls if name == "digits"}  # not the lr tuning
    assert not recomputed & finished
    assert len(fakes.distill_calls) == total_distills - 3  # three finished before the failure
    assert _table(read_csv(out / "results.csv")) == _table(reference_rows)
    assert (out / "summary.csv").read_text() == (full / "summary.csv").read_text()

    # delete two rows: exactly those are computed again
    rows = read_csv(out / "results.csv")
    from dd_explore.bench.store import write_csv

    dropped = [r for r in rows if r["kind"] == "distill"][:2]
    write_csv(out / "results.csv", [r for r in rows if r not in dropped], RESULT_COLUMNS)
    fakes.distill_calls.clear()
    res = run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False, resume=True)
    assert res.computed == 2
    assert sorted((k, s) for k, s, *_ in fakes.distill_calls) == sorted((r["cell"], r["seed"]) for r in dropped)
    assert not (out / ".results.csv.tmp").exists() and not list(out.glob(".*.tmp*"))
    assert _table(read_csv(out / "results.csv")) == _table(reference_rows)
    assert (out / "table.md").read_text().count("| dm |") == (full / "table.md").read_text().count("| dm |")


def test_out_folder_policy(tmp_path, digits, tiny_plan, fakes):
    out = tmp_path / "b"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False)
    with pytest.raises(ValueError, match="holds no bench"):
        run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False, resume=True)
    with pytest.raises(ValueError, match="exclude each other"):
        run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False, resume=True, overwrite=True)
    other = tmp_path / "c"
    run_ablation(tiny_plan, other, dataset=digits, device="cpu", progress=False)
    plan2 = make_plan("quick", dataset="digits", methods=["kip"], ipcs=[1], seeds=[0], steps=2, eval_epochs=1, width=8)
    with pytest.raises(ValueError, match="cannot resume"):
        run_ablation(plan2, other, dataset=digits, device="cpu", progress=False, resume=True)
    n = len(fakes.distill_calls)
    run_ablation(tiny_plan, other, dataset=digits, device="cpu", progress=False, overwrite=True)
    assert len(fakes.distill_calls) == 2 * n  # overwrite starts over


def test_more_seeds_on_resume_adds_only_the_new_seed(tmp_path, digits, tiny_plan, fakes):
    from dataclasses import replace

    out = tmp_path / "b"
    run_ablation(tiny_plan, out, dataset=digits, device="cpu", progress=False)
    fakes.distill_calls.clear()
    res = run_ablation(replace(tiny_plan, seeds=(0, 1, 2)), out, dataset=digits, device="cpu", progress=False,
                       resume=True)
    assert res.computed == len(tiny_plan.cells) and {s for _, s, *_ in fakes.distill_calls} == {2}

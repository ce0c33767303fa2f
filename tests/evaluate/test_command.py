"""``dd-explore evaluate``: --protocol, --models (one row per architecture), --scores; bad flags refused first."""

from __future__ import annotations

import argparse
import json

import pytest

from dd_explore.evaluate import command


def _run(argv):
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return command.run(p.parse_args(argv))


BASE = ["--dataset", "digits", "--device", "cpu", "--runs", "2", "--epochs", "6", "--batch-size", "16", "--width", "16"]


def test_models_and_scores(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert _run(BASE + ["--ipc", "3", "--protocol", "dm", "--models", "mlp,lenet", "--scores", "--real-epochs", "1",
                        "--random-seed", "9", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| mlp |" in text and "| lenet |" in text and text.count("robust scores,") == 2
    rec = json.loads(out.read_text())
    assert [r["protocol"]["model"] for r in rec["rows"]] == ["mlp", "lenet"]
    assert all(r["protocol"]["name"] == "dm" and r["protocol"]["epochs"] == 6 for r in rec["rows"])
    assert rec["run_seeds"] and len(rec["robust_scores"]) == 2
    s = rec["robust_scores"][0]
    assert {"lrs", "ars", "hlr", "ior", "aug_diff", "naug_diff", "terms", "per_run"} <= set(s)
    assert s["terms"]["real_hard"]["protocol"]["epochs"] == 1
    # the hard-label evaluation of the table is reused as Acc(syn, hard)
    assert s["terms"]["syn_hard"]["accuracies"] == rec["rows"][0]["accuracies"]


def test_single_model_zca_and_teacher(tmp_path, capsys):
    out = tmp_path / "z.json"
    assert _run(BASE + ["--ipc", "2", "--model", "mlp", "--zca", "--teacher-epochs", "2", "--teacher-model", "mlp",
                        "--temperature", "3", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["protocol"]["zca"]["eps"] == 0.1 and rec["protocol"]["labels"] == "teacher-kl"
    assert rec["protocol"]["temperature"] == 3.0 and "teacher mlp" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--ipc", "1", "--model", "mlp", "--models", "mlp,lenet"], "pass --model or --models, not both"),
    (["--whole", "--scores"], "--scores compares a set with the whole split"),
    (["--ipc", "1", "--temperature", "2"], "--temperature applies to soft-label evaluation"),
    (["--ipc", "1", "--scores", "--no-augment"], "drop --no-augment"),
    (["--ipc", "1", "--models", "mlp,vgg"], r"model must be one of \["),
    (["--ipc", "1", "--w", "2"], r"--w must be in \[0, 1\]; got 2"),
    (["--ipc", "0"], "--ipc must be a positive int; got 0"),
])
def test_bad_flags(argv, match):
    with pytest.raises(ValueError, match=match):
        _run(["--dataset", "digits", "--device", "cpu"] + argv)


def test_eval_cache_reads_back_the_same_evaluation(tmp_path, capsys):
    cache = tmp_path / "cache"
    for models in (["--model", "mlp"], ["--models", "mlp,lenet"]):
        argv = BASE + ["--ipc", "2", *models, "--eval-cache", str(cache)]
        assert _run(argv + ["--out", str(tmp_path / "a.json")]) == 0
        first = json.loads((tmp_path / "a.json").read_text())
        assert "cached" not in first
        assert _run(argv + ["--out", str(tmp_path / "b.json")]) == 0
        again = json.loads((tmp_path / "b.json").read_text())
        assert again.pop("cached") is True and again == first  # the same record, read back
        assert "(read from the evaluation cache)" in capsys.readouterr().out
    assert len(list(cache.glob("*.json"))) == 2
    # another budget is another evaluation: trained and filed
    assert _run(BASE[:-6] + ["--runs", "2", "--epochs", "7", "--batch-size", "16", "--width", "16", "--ipc", "2",
                             "--model", "mlp", "--eval-cache", str(cache), "--out", str(tmp_path / "c.json")]) == 0
    assert "cached" not in json.loads((tmp_path / "c.json").read_text())
    assert len(list(cache.glob("*.json"))) == 3


def test_an_eval_cache_that_is_a_file_is_refused_first(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ValueError, match=r"eval cache .*file must be a folder; it is a file"):
        _run(["--dataset", "nope", "--ipc", "1", "--eval-cache", str(a_file)])  # before the data set is looked up

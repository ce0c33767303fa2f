"""The evaluation cache: a run whose set was evaluated before (same set, settings, device type, threads and
code) reads the result back instead of training, and gets what training would give; anything that decides
the result changes the key; a broken cache file is named."""

from __future__ import annotations

import json

import pytest
import torch

from dd_explore import distill
from dd_explore.distill.callbacks import Evaluation
from dd_explore.evaluate.cache import EvalCache, eval_key


def _counting(monkeypatch):
    import dd_explore.evaluate as ev

    calls = []
    real = ev.evaluate

    def evaluate(images, *args, **kwargs):
        calls.append(images.shape)
        return real(images, *args, **kwargs)

    monkeypatch.setattr(ev, "evaluate", evaluate)
    return calls


def _run(digits, out, cache, epochs=3, steps=2):
    ev = Evaluation(runs=2, epochs=epochs, model_kwargs={"width": 8}, cache=cache)
    return distill.run(digits, "dm", ipc=1, steps=steps, out=out, width=8, seed=0, overwrite=True, evaluate=ev)


def test_runs_sharing_an_initial_set_evaluate_it_once(digits, tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    cache = tmp_path / "cache"
    first = _run(digits, tmp_path / "a", cache)
    assert len(calls) == 2 and len(list(cache.glob("*.json"))) == 2  # initial and final, both filed
    # another run from the same initial set (more steps): the initial evaluation is read back, not trained
    second = _run(digits, tmp_path / "b", cache, steps=3)
    assert len(calls) == 3
    ini_a, ini_b = first.metrics["initial"], second.metrics["initial"]
    assert ini_b["cached"] is True and "cached" not in ini_a
    assert ini_b["accuracies"] == ini_a["accuracies"] and ini_b["protocol"] == ini_a["protocol"]
    saved = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert saved["initial"]["accuracies"] == ini_a["accuracies"] and saved["initial"]["cached"] is True
    # what the cache returned is what training gives: the same run without a cache
    fresh = _run(digits, tmp_path / "c", None)
    assert fresh.metrics["initial"]["accuracies"] == ini_a["accuracies"]
    # other settings miss: both evaluations trained again
    before = len(calls)
    _run(digits, tmp_path / "d", cache, epochs=4)
    assert len(calls) == before + 2


def test_the_key_follows_what_decides_the_result(digits):
    x = digits.train.images[:10].clone()
    y = digits.train.labels[:10].clone()
    settings = {"runs": 2, "epochs": 3, "model": "convnet", "seed": 0}
    key, inputs = eval_key(x, y, digits, settings, "cpu")
    assert eval_key(x.clone(), y.clone(), digits, dict(settings), torch.device("cpu"))[0] == key
    x2 = x.clone()
    x2[3, 0, 2, 2] += 1e-3
    y2 = y.clone()
    y2[0] = (y2[0] + 1) % 10
    before = torch.get_num_threads()
    torch.set_num_threads(1 if before != 1 else 2)
    try:
        threads = eval_key(x, y, digits, settings, "cpu")[0]
    finally:
        torch.set_num_threads(before)
    others = {eval_key(x2, y, digits, settings, "cpu")[0], eval_key(x, y2, digits, settings, "cpu")[0],
              eval_key(x, y, digits, dict(settings, seed=1), "cpu")[0], eval_key(x, y, digits, settings, "meta")[0],
              threads, eval_key(x, torch.nn.functional.one_hot(y, 10).float(), digits, settings, "cpu")[0]}
    assert key not in others and len(others) == 6
    assert inputs["settings"] == settings and inputs["test"] == digits.test.digest() and len(inputs["code"]) == 64


def test_a_broken_cache_file_is_named(digits, tmp_path):
    cache = EvalCache(tmp_path / "c")
    assert cache.get("abc") is None
    cache.put("abc", {"settings": {}}, {"mean": 0.5, "std": 0.0})
    assert cache.get("abc") == {"mean": 0.5, "std": 0.0}
    cache.path("abc").write_text("{not json")
    with pytest.raises(ValueError, match=r"eval cache file .*abc\.json is not readable JSON"):
        cache.get("abc")
    cache.path("abc").write_text(json.dumps({"key": "other", "result": {"mean": 0.5}}))
    with pytest.raises(ValueError, match=r"abc\.json does not hold the evaluation of key abc"):
        cache.get("abc")
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ValueError, match=r"eval cache .*file must be a folder; it is a file"):
        Evaluation(cache=a_file).check()
    with pytest.raises(ValueError, match="evaluation cache must be a folder path; got 3"):
        Evaluation(cache=3).check()

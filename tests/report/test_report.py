"""The offline HTML report: every view present, self-contained, validated before anything is written."""

from __future__ import annotations

import json
import re

import plotly
import pytest

from dd_explore.report import write_report

SECTIONS = ("sensitivity", "embedding", "evolution", "importance", "metrics")


def test_report_holds_every_view_and_is_self_contained(report_path, run_dir):
    text = report_path.read_text(encoding="utf-8")
    for anchor in SECTIONS:
        assert f'<h2 id="{anchor}">' in text
    assert text.count('class="plotly-graph-div"') == 13  # 4 sensitivity, 1 embedding, 2 evolution, 4 importance, 2 metrics
    assert text.count("How to read:") == len(SECTIONS)
    # plotly.js inlined exactly once, nothing fetched from anywhere
    version = plotly.offline.get_plotlyjs_version()
    assert text.count(f"plotly.js v{version}") == 1
    assert text.count(plotly.offline.get_plotlyjs()[:2000]) == 1
    assert not re.search(r"<script[^>]*\ssrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*\shref\s*=\s*[\"']?https?:", text, re.I)
    assert not re.search(r"<(img|iframe|source|video|audio)[^>]*\ssrc\s*=\s*[\"']?https?:", text, re.I)
    assert not re.search(r"url\(\s*[\"']?https?:", text, re.I)
    # the evolution view animates: one frame per snapshot of the run, a slider and Play
    from dd_explore.distill import load_run

    run = load_run(run_dir)
    m = re.search(r"Plotly\.addFrames\(\s*['\"]fig-evolution['\"],\s*", text)
    assert m is not None
    frames, _ = json.JSONDecoder().raw_decode(text, m.end())
    assert [f["name"] for f in frames] == [str(s) for s in run.snapshot_steps]
    assert all(len(f["data"]) == len(set(run.labels.tolist())) for f in frames)
    assert f"{run.metrics['final']['mean'] * 100:.2f}" in text  # the header shows the final accuracy


def test_report_validates_before_writing(tmp_path, run_dir):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="no such directory"):
        write_report(missing)
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        write_report(empty)
    assert list(empty.iterdir()) == []
    with pytest.raises(ValueError, match="embedding must be one of umap, pca; got 'tsne'"):
        write_report(run_dir, out=tmp_path / "r.html", embedding="tsne")
    with pytest.raises(ValueError, match="out must be a file path"):
        write_report(run_dir, out=tmp_path)
    assert not (tmp_path / "r.html").exists() and not (run_dir / "report.html").exists()


def test_report_refuses_a_dataset_of_another_split(run_dir, tmp_path, digits):
    from dd_explore import data

    other = data.from_arrays(digits.train.images[:500], digits.train.labels[:500], digits.test.images, digits.test.labels)
    with pytest.raises(ValueError, match="dataset must be the run's data set: the run has 1438 train points"):
        write_report(run_dir, out=tmp_path / "r.html", dataset=other, embedding="pca")
    assert not (tmp_path / "r.html").exists()


def test_command_line(run_dir, tmp_path, capsys):
    import argparse

    from dd_explore.report import command

    parser = argparse.ArgumentParser(prog="dd-explore report")
    command.add_arguments(parser)
    out = tmp_path / "sub" / "cli.html"
    args = parser.parse_args([str(run_dir), "--out", str(out), "--embedding", "pca", "--cache-dir", str(tmp_path / "c")])
    assert command.run(args) == 0
    assert out.is_file() and "report written to" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no such directory"):
        command.run(parser.parse_args([str(tmp_path / "missing")]))
    with pytest.raises(SystemExit):
        parser.parse_args([str(run_dir), "--embedding", "tsne"])


def test_large_training_sets_embed_a_subset_with_every_chosen_point(run_dir, tmp_path, monkeypatch):
    from dd_explore.report import build
    from dd_explore.selection import Selection

    monkeypatch.setattr(build, "MAX_EMBEDDED_POINTS", 300)
    path = write_report(run_dir, out=tmp_path / "r.html", embedding="pca", cache_dir=tmp_path / "c")
    text = path.read_text(encoding="utf-8")
    assert "a random 300 of them are shown" in text
    sel = Selection.load(run_dir / "init")
    sprites = json.loads(re.search(r'<script type="application/json" id="dd-sprites">(.*?)</script>', text, re.S).group(1))
    slots = sprites["sprites"]["train"]["slots"]
    assert len(slots) == 300 and {str(int(i)) for i in sel.indices} <= set(slots)
    assert sprites["figures"] == {"fig-embedding": "train", "fig-draws-embedding": "train"}
    # the embedding's hover indices are global train indices, the chosen ones included
    import base64

    import numpy as np

    m = re.search(r'Plotly\.newPlot\(\s*"fig-embedding",\s*', text)
    traces, _ = json.JSONDecoder().raw_decode(text, m.end())
    cd = traces[0]["customdata"]
    idx = np.frombuffer(base64.b64decode(cd["bdata"]), dtype=cd["dtype"]).reshape(300, 3)[:, 0].astype(int)
    assert sorted(idx.tolist()) == sorted(int(k) for k in slots)
    chosen = traces[1]["customdata"]
    chosen_idx = np.frombuffer(base64.b64decode(chosen["bdata"]), dtype=chosen["dtype"]).reshape(-1, 3)[:, 0]
    np.testing.assert_array_equal(chosen_idx, sel.indices)


def test_report_of_a_noise_init_uniform_run(digits, tmp_path):
    from dd_explore import distill

    distill.run(digits, "dm", ipc=1, init="noise", steps=3, out=tmp_path / "run", width=8)
    path = write_report(tmp_path / "run", embedding="pca", cache_dir=tmp_path / "c")
    assert path == tmp_path / "run" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert "init=&#x27;noise&#x27;: no selection, no scores" in text
    assert "real batches were drawn uniformly" in text and "No evaluation in this run" in text
    # embedding (by class), evolution + drift, draw counts + on the embedding, loss
    assert text.count('class="plotly-graph-div"') == 6

"""The benchmark helpers run and return sane records (tiny sizes; no timing assertions)."""

from __future__ import annotations

from dd_explore.bench.selection import bench_kmeans_vs_sklearn, bench_scaling, bench_select_methods


def test_bench_kmeans_vs_sklearn_small():
    r = bench_kmeans_vs_sklearn(n=1000, d=8, k=3)
    assert r.ours_s > 0 and r.sklearn_s > 0 and r.ratio == r.ours_s / r.sklearn_s
    assert set(r.to_dict()) >= {"n", "d", "k", "ours_s", "sklearn_s", "ratio"}


def test_bench_scaling_and_methods_small():
    rows = bench_scaling(ns=(2000,), d=8, k=3)
    assert len(rows) == 1 and rows[0].seconds > 0 and rows[0].peak_extra_mib >= 0
    timings = bench_select_methods(ns=(600,), d=4, num_classes=3, ipc=2, methods=["random", "sensitivity-kmeans"])
    assert [t.method for t in timings] == ["random", "sensitivity-kmeans"] and all(t.seconds > 0 for t in timings)


def test_bench_select_methods_small_n():
    """n below the warm-up slice (50 per class) still times every method."""
    from dd_explore.selection import list_methods
    from dd_explore.bench.selection import bench_select_methods

    rows = bench_select_methods(ns=(200,), d=8, ipc=3)
    assert sorted(r.method for r in rows) == sorted(list_methods())
    assert all(r.n == 200 and r.seconds >= 0 for r in rows)

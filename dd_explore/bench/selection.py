"""Speed and memory measurements of the selection code (``dd_explore.bench.speed`` calls them for ``dd-explore bench``).

- :func:`bench_kmeans_vs_sklearn`: ``kmeans_sensitivity`` against scikit-learn ``KMeans(n_init=1).fit`` on
  the same float32 data (a seeded mixture of k Gaussians), side by side in one process.
- :func:`bench_scaling`: time and peak memory of ``kmeans_sensitivity`` for growing n. Each n runs in a
  fresh Python subprocess; memory is that process's peak resident set size during the call minus its
  resident size just before (Linux: peak reset through ``/proc/self/clear_refs``, read from ``VmHWM``),
  after the data were allocated in place, so it is the algorithm's own peak working memory on top of
  the data, torch's allocations included (tracemalloc would not see them).
- :func:`bench_select_methods`: wall time of ``select`` for every method against n.
Times are wall-clock seconds with ``time.perf_counter``, best of ``repeats`` after a warm-up call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class KMeansVsSklearn:
    n: int
    d: int
    k: int
    ours_s: float
    sklearn_s: float
    ratio: float  # ours / sklearn
    sklearn_iterations: int
    threads: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ScalingPoint:
    n: int
    d: int
    k: int
    seconds: float
    peak_extra_mib: float  # growth of peak RSS during the call
    data_mib: float  # size of X
    bytes_per_point: float  # peak_extra / n

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MethodTiming:
    method: str
    n: int
    d: int
    num_classes: int
    ipc: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def mixture(n: int, d: int, components: int = 10, seed: int = 0, spread: float = 1.0) -> torch.Tensor:
    """Seeded float32 mixture of ``components`` Gaussians (centers ~ N(0, I), noise ~ N(0, spread^2 I)), in place."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(components, d, generator=g)
    X = torch.empty(n, d)
    X.normal_(generator=g).mul_(spread)
    labels = torch.randint(components, (n,), generator=g)
    for start in range(0, n, 65536):
        X[start : start + 65536] += centers[labels[start : start + 65536]]
    return X


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_kmeans_vs_sklearn(n: int = 60_000, d: int = 784, k: int = 10, seed: int = 0, repeats: int = 1) -> KMeansVsSklearn:
    """Time ``kmeans_sensitivity(X, k)`` and ``sklearn.cluster.KMeans(k, n_init=1).fit(X)`` on the same data."""
    from sklearn.cluster import KMeans

    from dd_explore.selection.kmeans import kmeans_sensitivity

    X = mixture(n, d, components=k, seed=seed)
    Xn = X.numpy()
    kmeans_sensitivity(X[:2000], k, random_state=seed)  # warm-up: thread pools, first-call costs
    KMeans(n_clusters=k, n_init=1, random_state=seed).fit(Xn[:2000])
    ours = _best(lambda: kmeans_sensitivity(X, k, random_state=seed), repeats)
    holder = {}

    def fit():
        holder["km"] = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(Xn)

    theirs = _best(fit, repeats)
    return KMeansVsSklearn(n=n, d=d, k=k, ours_s=ours, sklearn_s=theirs, ratio=ours / theirs,
                           sklearn_iterations=int(holder["km"].n_iter_), threads=torch.get_num_threads())


_CHILD = r"""
import json, resource, sys, time, torch
from dd_explore.selection.kmeans import kmeans_sensitivity

def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])  # kB
    except OSError:
        return None

n, d, k, seed, repeats = (int(v) for v in sys.argv[1:6])
X = torch.empty(n, d)
X.normal_(generator=torch.Generator().manual_seed(seed))
kmeans_sensitivity(X[:1000], k, random_state=seed)
try:  # Linux: reset the peak RSS (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before, how = status("VmRSS"), "VmHWM after clear_refs - VmRSS before"
except OSError:
    before, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss growth"
seconds = float("inf")
for _ in range(max(1, repeats)):
    t = time.perf_counter()
    kmeans_sensitivity(X, k, random_state=seed)
    seconds = min(seconds, time.perf_counter() - t)
after = status("VmHWM") if how.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "before_kib": before, "after_kib": after, "how": how}))
"""


def bench_scaling(ns=(10_000, 100_000, 1_000_000), d: int = 64, k: int = 10, seed: int = 0,
                  device: str = "cpu", repeats: int = 3) -> tuple[ScalingPoint, ...]:
    """Time and peak extra memory of ``kmeans_sensitivity`` per n.

    CPU: each n in a fresh subprocess; on Linux the process's peak RSS is reset
    (``/proc/self/clear_refs``) after the data are allocated and a warm-up call ran, and
    ``VmHWM - VmRSS(before)`` is reported; elsewhere the growth of ``ru_maxrss`` (a lower bound). It counts
    every allocation of the process, torch's included. On a CUDA device: in this process,
    ``torch.cuda.max_memory_allocated`` above the allocation before the call, timed with synchronization.
    Time: best of ``repeats`` calls (memory: the peak over all of them).
    """
    if torch.device(device).type == "cuda":
        return tuple(_scaling_cuda(n, d, k, seed, torch.device(device), repeats) for n in ns)
    rows = []
    for n in ns:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(d), str(k), str(seed), str(repeats)],
                              capture_output=True, text=True, env=dict(os.environ), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"scaling run for n={n} failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        scale = 1 if sys.platform == "darwin" and not r["how"].startswith("VmHWM") else 1024  # to bytes
        extra = max(0, r["after_kib"] - r["before_kib"]) * scale
        rows.append(ScalingPoint(n=n, d=d, k=k, seconds=r["seconds"], peak_extra_mib=extra / 2**20,
                                 data_mib=n * d * 4 / 2**20, bytes_per_point=extra / n))
    return tuple(rows)


def _scaling_cuda(n: int, d: int, k: int, seed: int, device: torch.device, repeats: int) -> ScalingPoint:
    from dd_explore.selection.kmeans import kmeans_sensitivity

    X = torch.empty(n, d, device=device)
    X.normal_(generator=torch.Generator(device=device).manual_seed(seed))
    kmeans_sensitivity(X[:1000], k, random_state=seed)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    seconds = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        kmeans_sensitivity(X, k, random_state=seed)
        torch.cuda.synchronize(device)
        seconds = min(seconds, time.perf_counter() - t)
    extra = torch.cuda.max_memory_allocated(device) - base
    return ScalingPoint(n=n, d=d, k=k, seconds=seconds, peak_extra_mib=extra / 2**20, data_mib=n * d * 4 / 2**20,
                        bytes_per_point=extra / n)


def bench_select_methods(ns=(1_000, 10_000, 100_000), d: int = 64, num_classes: int = 10, ipc: int = 10,
                         methods=None, seed: int = 0, repeats: int = 1, method_kw: dict | None = None,
                         device: str = "cpu") -> tuple[MethodTiming, ...]:
    """Wall time of ``select(X, y, ipc, method)`` on a seeded mixture (one component per class) for each n."""
    from dd_explore.selection import list_methods, select

    methods = list(methods) if methods is not None else list_methods()
    method_kw = method_kw or {}
    dev = torch.device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    rows = []
    for n in ns:
        X = mixture(n, d, components=num_classes, seed=seed).to(dev)
        y = np.random.default_rng(seed).integers(0, num_classes, n)
        y[:num_classes] = np.arange(num_classes)
        for m in methods:
            kw = method_kw.get(m, {})
            warm = min(n, 50 * num_classes)  # warm-up on a small balanced slice (first-call costs)
            select(X[:warm], np.arange(warm) % num_classes, min(ipc, warm // num_classes), method=m,
                   random_state=seed, **kw)
            sync()

            def once():
                select(X, y, ipc, method=m, random_state=seed, **kw)
                sync()

            rows.append(MethodTiming(method=m, n=n, d=d, num_classes=num_classes, ipc=ipc, seconds=_best(once, repeats)))
    return tuple(rows)

"""Side by side in one process: fp32 against bf16 autocast (``precision="bf16"``) for a DM step and for an
evaluation network's training, runs alternated.

    OMP_NUM_THREADS=1 python benchmarks/precision_ab.py [steps=4] [repeats=3] [epochs=10]

mnist5k. DM: IPC 10, the defaults (batch_real 64, DSA on, ConvNet-3 width 128), random init, seed 0; the
median s/step of each precision (first step of a run left out) and the relative loss difference.
Evaluation: the plain protocol on the same 100 random real images, one network x ``epochs`` epochs in the
default layout (channels_last in chunks on CPUs) and, as the baseline, the plain layout in fp32; the best
time of each. Prints bf16/fp32 ratios. Accuracy effects need full budgets: BENCHMARKS.md.
"""

import statistics
import sys
import time

import torch

from dd_explore import data, distill
from dd_explore.evaluate import evaluate

torch.set_num_threads(1)
ds = data.load("mnist5k")
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
times = {"fp32": [], "bf16": []}
losses = {}
for r in range(repeats):
    for p in times:
        res = distill.run(ds, "dm", ipc=10, init="random", batches="uniform", steps=steps, seed=0, device="cpu",
                          precision=p)
        times[p] += list(res.step_times[1:])
        losses[p] = list(res.losses)
        print("dm", r, p, [round(float(t), 3) for t in res.step_times], flush=True)
med = {k: statistics.median(v) for k, v in times.items()}
print(f"DM median s/step: fp32 {med['fp32']:.3f}, bf16 {med['bf16']:.3f}; bf16/fp32 = {med['bf16'] / med['fp32']:.3f}")
print("DM largest relative loss difference:", max(abs(a - b) / abs(a) for a, b in zip(losses["fp32"], losses["bf16"])))

g = torch.Generator().manual_seed(0)
idx = torch.cat([torch.nonzero(ds.train.labels == c).flatten()[torch.randperm(int((ds.train.labels == c).sum()), generator=g)[:10]]
                 for c in range(ds.num_classes)])
x, y = ds.train.images[idx], ds.train.labels[idx]
modes = {"fp32, plain layout": dict(layout="plain"), "fp32": dict(), "bf16": dict(precision="bf16")}
best = {k: float("inf") for k in modes}
evaluate(x, y, ds.test, runs=1, epochs=1, device="cpu", progress=False)  # first-call costs
for r in range(repeats):
    for name, kw in modes.items():
        t0 = time.perf_counter()
        res = evaluate(x, y, ds.test, runs=1, epochs=epochs, device="cpu", progress=False, seed=r, **kw)
        best[name] = min(best[name], time.perf_counter() - t0)
        print("evaluation", r, name, round(time.perf_counter() - t0, 2), "s", f"{100 * res.mean:.2f} %", flush=True)
base = best["fp32, plain layout"]
print("evaluation best s:", {k: round(v, 2) for k, v in best.items()},
      "; against fp32 plain layout:", {k: round(v / base, 3) for k, v in best.items()})

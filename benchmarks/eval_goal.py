"""Issue 14's evaluation goal, side by side in one process: ``evaluate(..., runs=5, epochs=300)`` at IPC 10
in the plain layout (one NCHW pass per batch, fp32: the evaluation before the fast layout), in the default
layout (channels_last in chunks of 25 images on CPUs, fp32) and in the default layout under bf16 autocast.

    OMP_NUM_THREADS=1 python benchmarks/eval_goal.py [SET=runs/i13/dm-ipc10] [DATASET=mnist5k] [EPOCHS=300] [OUT]

SET: a run directory (synthetic.pt), a selection directory or a .pt/.npz file (as ``dd-explore evaluate
--from``). Prints each mode's seconds and accuracy (paired networks: the same seeds) and the ratios to the
plain layout; with OUT, writes them as JSON.
"""

import json
import sys
import time

import torch

from dd_explore import data
from dd_explore.evaluate import evaluate
from dd_explore.evaluate.command import load_set

torch.set_num_threads(1)
source = sys.argv[1] if len(sys.argv) > 1 else "runs/i13/dm-ipc10"
ds = data.load(sys.argv[2] if len(sys.argv) > 2 else "mnist5k")
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
out = sys.argv[4] if len(sys.argv) > 4 else None
x, y = load_set(source, (ds.train.images, ds.train.labels))
modes = {"fp32, plain layout": dict(layout="plain", batched=False), "fp32, layout auto": dict(batched=False),
         "bf16, layout auto": dict(precision="bf16")}
evaluate(x, y, ds.test, runs=1, epochs=1, device="cpu", progress=False)  # first-call costs
rows = {}
for name, kw in modes.items():
    t0 = time.perf_counter()
    res = evaluate(x, y, ds.test, runs=5, epochs=epochs, device="cpu", seed=0, progress=False, **kw)
    rows[name] = dict(seconds=time.perf_counter() - t0, mean=res.mean, std=res.std, accuracies=list(res.accuracies))
    print(f"{name}: {rows[name]['seconds']:.1f} s, {res}", flush=True)
base = rows["fp32, plain layout"]["seconds"]
for name, r in rows.items():
    r["ratio_to_plain"] = r["seconds"] / base
    print(f"{name}: {r['ratio_to_plain']:.3f} x the plain layout's time")
if out:
    with open(out, "w") as f:
        json.dump(dict(set=source, dataset=ds.name, images=int(x.shape[0]), epochs=epochs, runs=5, rows=rows,
                       command="OMP_NUM_THREADS=1 python benchmarks/eval_goal.py " + " ".join(sys.argv[1:])), f, indent=1)

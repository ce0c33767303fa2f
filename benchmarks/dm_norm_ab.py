"""Side by side in one process: the DM step with PyTorch's ``nn.GroupNorm`` (before commit d2501c1) against
dd_explore's instance norm with its channels_last CPU path (``dd_explore.models.norm``), runs alternated.

    OMP_NUM_THREADS=1 python benchmarks/dm_norm_ab.py [steps=4] [repeats=3]

mnist5k, DM, IPC 10, the defaults (batch_real 64, DSA on, ConvNet-3 width 128), random init, seed 0; prints
each run's step times, the median s/step of each variant (first step of a run left out) and new/old.
"""

import statistics
import sys

import torch
from torch import nn

import dd_explore.models.convnet as convnet
from dd_explore import data, distill

torch.set_num_threads(1)
ds = data.load("mnist5k")
variants = {"old (nn.GroupNorm)": lambda c: nn.GroupNorm(c, c, affine=True), "new": convnet.instance_norm}
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 4
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
times = {k: [] for k in variants}
losses = {}
for r in range(repeats):
    for name, norm in variants.items():
        convnet.instance_norm = norm  # the ConvNet builds its norm layers through this name
        res = distill.run(ds, "dm", ipc=10, init="random", batches="uniform", steps=steps, seed=0, device="cpu")
        times[name] += list(res.step_times[1:])
        losses[name] = list(res.losses)
        print(r, name, [round(t, 3) for t in res.step_times], flush=True)
med = {k: statistics.median(v) for k, v in times.items()}
old, new = med["old (nn.GroupNorm)"], med["new"]
print(f"median s/step: old {old:.3f}, new {new:.3f}; new/old = {new / old:.3f}")
print("largest relative loss difference:",
      max(abs(a - b) / abs(a) for a, b in zip(losses["old (nn.GroupNorm)"], losses["new"])))

"""Before and after the ConvNet's instance-norm change (commit d2501c1), side by side in one process, for every
method that trains a ConvNet: PyTorch's ``nn.GroupNorm`` (before) against dd_explore's instance norm with its
channels_last CPU path (after), runs alternated.

    OMP_NUM_THREADS=1 python benchmarks/norm_ab.py [steps=3] [repeats=2] [METHOD ...]

mnist5k, random init, uniform batches, seed 0, each method's defaults at the speed bench's standard sizes:
DM and KIP at IPC 10, DC and DSA at IPC 1, MTT at IPC 10 with online segments and one expert (its buffer is
trained once into a temporary folder and read back by every run). Prints the median s/step of each
variant (first step of a run left out), after/before, and the largest relative loss difference.
"""

import statistics
import sys
import tempfile

import torch
from torch import nn

import dd_explore.models.convnet as convnet
from dd_explore import data, distill

torch.set_num_threads(1)
ds = data.load("mnist5k")
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 2
methods = sys.argv[3:] or ["dm", "kip", "dc", "dsa", "mtt"]
experts = tempfile.mkdtemp(prefix="norm-ab-experts-")
settings = {"dm": (10, {}), "kip": (10, {}), "dc": (1, {}), "dsa": (1, {}),
            "mtt": (10, {"segment": "online", "num_experts": 1, "max_start_epoch": 2, "expert_dir": experts})}
variants = {"before (nn.GroupNorm)": lambda c: nn.GroupNorm(c, c, affine=True), "after": convnet.instance_norm}
for method in methods:
    ipc, options = settings[method]
    times = {k: [] for k in variants}
    losses = {}
    for r in range(repeats):
        for name, norm in variants.items():
            convnet.instance_norm = norm  # the ConvNet builds its norm layers through this name
            res = distill.run(ds, method, ipc=ipc, init="random", batches="uniform", steps=steps, seed=0,
                              device="cpu", **options)
            times[name] += [float(t) for t in res.step_times[1:]]
            losses[name] = [float(v) for v in res.losses]
            print(method, r, name, [round(float(t), 3) for t in res.step_times], flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    before, after = med["before (nn.GroupNorm)"], med["after"]
    diff = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["before (nn.GroupNorm)"], losses["after"]))
    print(f"RESULT {method} IPC {ipc}: median s/step before {before:.3f}, after {after:.3f}; after/before = "
          f"{after / before:.3f}; largest relative loss difference {diff:.2g}", flush=True)
convnet.instance_norm = variants["after"]

"""MTT on digits, IPC 10 unless told (issue 15, BENCHMARKS 10.3): one run from the sensitivity k-means init, the set
evaluated every EVERY steps with the distill command's default evaluation (5 networks x 300 epochs, the
same seeded networks as the initial set's), with the learned rate (``syn_lr``) at that step.

    OMP_NUM_THREADS=1 python benchmarks/mtt_defaults.py [STEPS=120] [EVERY=20] [OPTIONS_JSON={}] [learned]

OPTIONS_JSON: MTT options, ``batches`` and ``ipc`` (e.g. '{"segment": "online", "batches": "importance"}', or the old
defaults '{"batch_train": 256, "max_start_epoch": 10, "online_steps": 30, "batch_real": 25}').
Prints one line per evaluation: step, seconds, syn_lr, distilled %, gain over the init, gain per network;
with ``learned``, also the set evaluated at the learned rate (the reference evaluates MTT sets that way).
"""

import json
import sys
import time

import torch

from dd_explore import data, distill
from dd_explore.evaluate import evaluate

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 120
every = int(sys.argv[2]) if len(sys.argv) > 2 else 20
options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
batches = options.pop("batches", "uniform")
ipc = options.pop("ipc", 10)
learned = len(sys.argv) > 4 and sys.argv[4] == "learned"
ds = data.load("digits")
t0 = time.perf_counter()
initial = None


def on_step(info: distill.StepInfo) -> None:
    if info.step % every:
        return
    now = evaluate(info.images, info.labels, ds.test, seed=0, progress=False)
    per_net = [round(100 * (b - a), 1) for a, b in zip(initial.accuracies, now.accuracies)]
    print(f"step {info.step} ({time.perf_counter() - t0:.0f} s) syn_lr {info.extra['syn_lr']:.4f}: "
          f"distilled {100 * now.mean:.2f} gain {100 * (now.mean - initial.mean):+.2f} per network {per_net}",
          flush=True)
    if learned:
        rate = info.extra["syn_lr"]
        at = evaluate(info.images, info.labels, ds.test, seed=0, progress=False, lr=rate)
        print(f"    at the learned rate {rate:.4f}: distilled {100 * at.mean:.2f} "
              f"gain {100 * (at.mean - initial.mean):+.2f}", flush=True)


class EvaluateInitial(distill.Callback):
    """Evaluates the initial set once, before step 1 (the run's ``initial_images``)."""

    def on_start(self, control: distill.RunControl) -> None:
        global initial
        initial = evaluate(control.initial_images, control.initial_labels, ds.test, seed=0, progress=False)
        print(f"init {100 * initial.mean:.2f} ({options or 'defaults'}, batches {batches})", flush=True)


distill.run(ds, "mtt", ipc=ipc, init="sensitivity-kmeans", batches=batches, steps=steps, seed=0, out=None,
            callbacks=[EvaluateInitial(), on_step], **options)

"""One evaluation network's SGD step by layout, chunk size and precision, alternated in one process, and the
test pass by batch size.

    OMP_NUM_THREADS=1 python benchmarks/eval_chunks.py

ConvNet-3 (width 128, instance norm), 28x28x1, a batch of 100 (an IPC-10 set): one NCHW pass against
channels_last in chunks of 5-50 images (gradients summed), fp32 and bf16 autocast; best of 3 pairs of steps,
as a ratio to the NCHW fp32 step. Then ``accuracy`` on mnist5k's 1,000 test images with batches of 1024
and 25, NCHW against channels_last.
"""

import copy
import time

import torch
import torch.nn.functional as F

from dd_explore import data, models
from dd_explore._random import seeded
from dd_explore.evaluate.protocol import accuracy

torch.set_num_threads(1)
with seeded(0):
    net0 = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=128, depth=3)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(100, 1, 28, 28, generator=g), torch.randint(0, 10, (100,), generator=g)


def make(cl: bool, chunk: int | None, bf16: bool):
    net = copy.deepcopy(net0)
    xx = x
    if cl:
        net, xx = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        cs = chunk or 100
        for i in range(0, 100, cs):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = net(xx[i : i + cs])
            (F.cross_entropy(out.float(), y[i : i + cs], reduction="sum") / 100).backward()
        opt.step()

    return step


configs = [(False, None, False), (True, 25, False), (True, 10, False), (True, 25, True), (True, 10, True),
           (True, 5, True), (True, 50, True)]
steps = {c: make(*c) for c in configs}
for s in steps.values():
    s()
best = {c: float("inf") for c in configs}
for _ in range(3):
    for c, s in steps.items():
        t = time.perf_counter()
        s()
        s()
        best[c] = min(best[c], (time.perf_counter() - t) / 2)
for c in configs:
    print(f"channels_last={c[0]!s:5} chunk={c[1]!s:4} bf16={c[2]!s:5} {best[c] * 1e3:7.1f} ms/step  "
          f"ratio {best[c] / best[configs[0]]:.2f}")
ds = data.load("mnist5k")
net = copy.deepcopy(net0)
for cl in (False, True):
    if cl:
        net = net.to(memory_format=torch.channels_last)
    for bs in (1024, 25):
        t = time.perf_counter()
        accuracy(net, ds.test.images, ds.test.labels, torch.device("cpu"), batch_size=bs)
        print(f"test pass, channels_last={cl}, batch {bs}: {time.perf_counter() - t:.2f} s")

"""Where an evaluation network's training step goes on this CPU: torch.profiler over 3 SGD steps of the
protocol's ConvNet-3 (width 128, instance norm, 28x28x1 inputs, a batch of 100 = an IPC-10 set).

    OMP_NUM_THREADS=1 python benchmarks/eval_profile.py [channels_last]

Prints the ops by self CPU time (convolution forward/backward against the memory-bound pooling, norm and
ReLU on the 32x32x128 maps of the first block).
"""

import sys

import torch
from torch.profiler import ProfilerActivity, profile

from dd_explore import models
from dd_explore._random import seeded

torch.set_num_threads(1)
channels_last = len(sys.argv) > 1 and sys.argv[1] == "channels_last"
with seeded(0):
    net = models.create("convnet", channels=1, num_classes=10, image_size=(28, 28), width=128, depth=3)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(100, 1, 28, 28, generator=g), torch.randint(0, 10, (100,), generator=g)
if channels_last:
    net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)


def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()


step()  # first-call costs
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(3):
        step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))

"""KIP: kernel inducing points (Nguyen, Chen & Lee, ICLR 2021).

The synthetic set (support) is learned so that kernel ridge regression fitted on it predicts a real
batch well: loss = 1/2 mean_i || y_i - K(x_i, S) (K(S, S) + lambda tr(K(S,S))/|S| I)^-1 Y_S ||^2 over a
real batch (x_i, y_i), with centred one-hot targets (1 - 1/C on the class, -1/C elsewhere). Kernels:
the infinite-width fully connected ReLU network's NTK (``kernel="ntk"``, arc-cosine recursion) or an
RBF kernel; computed in float64 for a stable solve (float32 on MPS, which lacks float64). Images and, with ``learn_labels=True``, the
support targets are learned with Adam. The importance probe is the closed-form KRR error of the
current support set on each real point (``probe="method"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dd_explore.distill.methods import METHODS
from dd_explore.distill.methods.base import DistillMethod, MethodContext, RealBatches, StepOutput, class_labels
from dd_explore.distributed import all_reduce_sum, owned
from dd_explore.options import Choice, Flag, Int, Number, option

KERNELS = ("ntk", "rbf")


@dataclass(frozen=True)
class KIPOptions:
    """KIP's options; ``lr_img``/``lr_labels`` are Adam rates, ``depth`` the NTK's hidden layers."""

    kernel: str = option("ntk", "kernel: the infinite-width FC ReLU network's NTK, or RBF", Choice(KERNELS))
    depth: int = option(3, "hidden layers of the NTK's network", Int(0))
    weight_var: float = option(2.0, "NTK weight variance", Number())
    bias_var: float = option(0.01, "NTK bias variance", Number(0, low_open=False))
    rbf_gamma: float | None = option(None, "RBF kernel exp(-rbf_gamma ||x - x'||^2)",
                                     Number(optional=True, none="1/(2 d)"))
    ridge: float = option(1e-3, "KRR regularizer relative to the mean diagonal of K(S, S)", Number())
    lr_img: float = option(0.01, "Adam learning rate of the support images", Number())
    lr_labels: float = option(0.01, "Adam learning rate of the support targets (learn_labels)", Number())
    learn_labels: bool = option(False, "learn the support set's label vectors too", Flag())
    batch_real: int = option(64, "real images per class per draw", Int())


def ntk_kernel(x: torch.Tensor, z: torch.Tensor, depth: int, weight_var: float, bias_var: float,
               diag_x: torch.Tensor | None = None, diag_z: torch.Tensor | None = None) -> torch.Tensor:
    """NTK of an infinitely wide fully connected ReLU network with ``depth`` hidden layers (x: (n, d), z: (m, d))."""
    d = x.shape[1]
    sxz = weight_var * (x @ z.T) / d + bias_var
    sxx = weight_var * (x * x).sum(1) / d + bias_var
    szz = weight_var * (z * z).sum(1) / d + bias_var
    ntk = sxz
    for _ in range(depth):
        norm = torch.sqrt(sxx.unsqueeze(1) * szz.unsqueeze(0))
        cos = (sxz / norm).clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.arccos(cos)
        sxz_new = weight_var / (2 * math.pi) * norm * (torch.sin(theta) + (math.pi - theta) * cos) + bias_var
        dot = weight_var / (2 * math.pi) * (math.pi - theta)
        ntk = ntk * dot + sxz_new
        sxz = sxz_new
        sxx = weight_var / 2 * sxx + bias_var  # theta = 0 on the diagonal
        szz = weight_var / 2 * szz + bias_var
    return ntk


def rbf_kernel(x: torch.Tensor, z: torch.Tensor, gamma: float) -> torch.Tensor:
    d2 = (x * x).sum(1, keepdim=True) - 2 * x @ z.T + (z * z).sum(1).unsqueeze(0)
    return torch.exp(-gamma * d2.clamp(min=0))


@METHODS.register("kip")
class KIP(DistillMethod):
    Options = KIPOptions
    default_steps, default_probe, default_refresh = 1000, "method", 10

    def kernel(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        o = self.options
        x = x.flatten(1).to(self.dtype)
        z = z.flatten(1).to(self.dtype)
        if o.kernel == "ntk":
            return ntk_kernel(x, z, o.depth, o.weight_var, o.bias_var)
        gamma = o.rbf_gamma if o.rbf_gamma is not None else 1.0 / (2 * x.shape[1])
        return rbf_kernel(x, z, gamma)

    def setup(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> None:
        o = self.options
        c = ctx.dataset.num_classes
        self.num_classes = c
        self.dtype = torch.float32 if ctx.device.type == "mps" else torch.float64  # MPS has no float64
        self.images = images.detach().clone().to(ctx.device).requires_grad_(True)
        self.labels = labels.clone().to(ctx.device)
        self.targets = one_hot_centred(self.labels, c).requires_grad_(o.learn_labels)
        groups = [{"params": [self.images], "lr": o.lr_img}]
        if o.learn_labels:
            groups.append({"params": [self.targets], "lr": o.lr_labels})
        self.optimizer = torch.optim.Adam(groups)

    def _alpha(self) -> torch.Tensor:
        """solve(K_ss + reg I, Y_s): the KRR coefficients of the current support set."""
        k_ss = self.kernel(self.images, self.images)
        n = k_ss.shape[0]
        reg = self.options.ridge * torch.trace(k_ss) / n
        eye = torch.eye(n, dtype=k_ss.dtype, device=k_ss.device)
        alpha = torch.linalg.solve(k_ss + reg * eye, self.targets.to(self.dtype))
        return alpha

    def step(self, ctx: MethodContext, batches: RealBatches) -> StepOutput:
        real = batches.draw_all(self.options.batch_real)
        alpha = self._alpha()
        x, labels, weights = real.images, real.labels, real.weights
        n = x.shape[0]
        if ctx.dist.active:  # this rank's block of the real batch's kernel rows; the gradients are summed
            rows = torch.tensor(owned(n, ctx.dist), dtype=torch.long, device=x.device)
            x, labels = x.index_select(0, rows), labels.index_select(0, rows)
            weights = None if weights is None else weights.index_select(0, rows)
        pred = self.kernel(x, self.images) @ alpha
        err = ((pred - one_hot_centred(labels, self.num_classes).to(self.dtype)) ** 2).sum(1)
        if weights is not None:
            err = err * weights.to(self.dtype)
        loss = 0.5 * err.mean() if not ctx.dist.active else 0.5 * err.sum() / n
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if ctx.dist.active:
            for t in (self.images, self.targets):
                if t.requires_grad:
                    all_reduce_sum(t.grad)
            loss = all_reduce_sum(loss.detach().clone())
        self.optimizer.step()
        return StepOutput(float(loss.detach()))

    @torch.no_grad()
    def probe_losses(self, ctx: MethodContext, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Squared KRR prediction error of the current support set on each of ``images``."""
        alpha = self._alpha()
        out = []
        for i in range(0, images.shape[0], 2048):
            pred = self.kernel(images[i : i + 2048], self.images) @ alpha
            y = one_hot_centred(labels[i : i + 2048], self.num_classes).to(self.dtype)
            out.append(((pred - y) ** 2).sum(1))
        return torch.cat(out).float() if out else images.new_zeros(0)

    def synthetic(self):
        targets = self.targets.detach().clone() if self.options.learn_labels else None
        return self.images.detach().clone(), self.labels.clone(), targets

    def state_dict(self) -> dict:
        return {"images": self.images.detach().cpu().clone(), "targets": self.targets.detach().cpu().clone(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.images.copy_(state["images"].to(self.images.device))
            self.targets.copy_(state["targets"].to(self.targets.device))
        self.optimizer.load_state_dict(state["optimizer"])

    def synthetic_from_state(self, state: dict, num_classes: int, ipc: int):
        targets = state["targets"] if self.options.learn_labels else None
        return state["images"].contiguous(), class_labels(num_classes, ipc), targets


def one_hot_centred(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, num_classes).float() - 1.0 / num_classes

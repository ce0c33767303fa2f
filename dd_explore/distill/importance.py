"""Real-batch samplers: uniform, and importance sampling by probe loss (docs/design.md, section 3).

At step t, class c, a real point i is drawn with
    q_t(i) = (1 - gamma) * l_i / sum_j l_j + gamma / n_c
where l_i is a probe's loss on x_i, refreshed every ``refresh`` steps on a pool of at most ``pool``
points per class (points outside the pool keep their last loss; never-scored points get the class's
mean scored loss). ``drop_top`` removes the top fraction of losses (likely label noise) before mixing.
``weighting="reweight"`` gives each drawn point the weight 1/(n_c q_t(i)) (expectation 1 under q_t), so
a matched mean stays unbiased. Probes: ``"network"`` (a small ConvNet trained briefly on the current
synthetic set, warm-started from the previous probe), ``"method"`` (the method's own: DC/DSA's network,
KIP's closed-form KRR error) and ``"auto"`` (the method's default).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from dd_explore.distill.methods.base import ModelOptions, chunk_size, embed, make_network, use_channels_last
from dd_explore.options import Choice, Flag, Int, Number, option, validate
from dd_explore.train import sgd_epochs

# bins of the relative probability n_c * q (1 = uniform): 0, 2^-4, 2^-3.5, ..., 2^4, inf
HIST_EDGES: tuple[float, ...] = (0.0,) + tuple(float(2.0 ** (k / 2)) for k in range(-8, 9)) + (math.inf,)
PROBES = ("auto", "network", "method")
WEIGHTINGS = ("none", "reweight")


@dataclass(frozen=True)
class ClassImportance:
    """Summary of q_t over one class: ``hist`` counts of n_c*q in :data:`HIST_EDGES` bins, ``entropy``
    (nats) and ``entropy_ratio`` = entropy / log n_c (1 = uniform), effective sample size ``ess`` =
    1 / sum q^2, ``max_ratio`` = n_c max q, and the ``topk_indices`` (global train indices) with their
    ``topk_probs``."""

    cls: int
    n: int
    hist: tuple[int, ...]
    entropy: float
    entropy_ratio: float
    ess: float
    max_ratio: float
    topk_indices: tuple[int, ...]
    topk_probs: tuple[float, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(q: np.ndarray, global_indices: np.ndarray, cls: int, topk: int) -> ClassImportance:
    """Summary of one class's distribution ``q`` (sums to 1) over ``global_indices``."""
    n = q.shape[0]
    hist, _ = np.histogram(n * q, bins=np.array(HIST_EDGES))
    nz = q[q > 0]
    entropy = float(-(nz * np.log(nz)).sum())
    k = min(topk, n)
    top = np.argsort(-q, kind="stable")[:k]
    return ClassImportance(
        cls=int(cls), n=int(n), hist=tuple(int(h) for h in hist), entropy=entropy,
        entropy_ratio=entropy / math.log(n) if n > 1 else 1.0, ess=float(1.0 / (q**2).sum()),
        max_ratio=float(n * q.max()), topk_indices=tuple(int(i) for i in global_indices[top]),
        topk_probs=tuple(float(p) for p in q[top]),
    )


def mix(losses: np.ndarray, gamma: float, drop_top: float = 0.0) -> np.ndarray:
    """q = (1 - gamma) l / sum l + gamma / n over the points kept after dropping the top ``drop_top`` fraction."""
    n = losses.shape[0]
    l = np.clip(np.nan_to_num(losses.astype(np.float64), nan=0.0, posinf=0.0), 0.0, None)
    keep = np.ones(n, dtype=bool)
    n_drop = int(math.floor(drop_top * n))
    if n_drop > 0:
        keep[np.argsort(-l, kind="stable")[:n_drop]] = False
    l = np.where(keep, l, 0.0)
    m = int(keep.sum())
    total = l.sum()
    base = np.where(keep, 1.0 / m, 0.0)
    if total <= 0:
        return base
    q = (1 - gamma) * l / total + gamma * base
    return q / q.sum()


class UniformSampler:
    """Uniform real batches per class, without replacement (as the reference implementations)."""

    kind = "uniform"

    def __init__(self, train_labels: torch.Tensor, num_classes: int):
        self.num_classes = num_classes
        self.labels = train_labels.cpu()
        self.class_idx = [torch.nonzero(self.labels == c, as_tuple=False).flatten() for c in range(num_classes)]
        self.counts = torch.zeros(self.labels.shape[0], dtype=torch.long)
        self.last_refresh: int | None = None

    def draw(self, c: int, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        members = self.class_idx[c]
        idx = members[torch.randperm(members.numel(), generator=generator)[:n]]
        self.counts.index_add_(0, idx, torch.ones_like(idx))
        return idx, None

    def needs_refresh(self, step: int) -> bool:
        return False

    def summary(self) -> tuple[ClassImportance, ...] | None:
        return None

    def q_full(self) -> np.ndarray:
        """q over all train points (each class sums to 1)."""
        sizes = torch.bincount(self.labels, minlength=self.num_classes).double()
        return (1.0 / sizes[self.labels]).numpy().astype(np.float32)

    def state_dict(self) -> dict:
        return {"counts": self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].clone()


@dataclass(frozen=True)
class ImportanceOptions:
    """Options of importance-sampled batches (``run(..., batches="importance", **these)``); the network
    probe is a ConvNet of width ``probe_width`` trained ``probe_warmup_epochs`` epochs the first time, then
    ``probe_epochs`` more epochs warm-started (SGD ``probe_lr``, momentum 0.9)."""

    gamma: float = option(0.1, "uniform mixing weight of q_t (> 0 keeps every point reachable)", Number(0, 1))
    refresh: int | None = option(None, "steps between probe refreshes of q_t",
                                 Int(optional=True, none="the method's: 10 for dm/kip/mtt, 1 for dc/dsa"))
    pool: int = option(512, "points per class scored at each refresh (others keep their last loss)", Int())
    drop_top: float = option(0.0, "fraction of highest-loss points excluded (likely label noise)",
                             Number(0, 1, low_open=False, high_open=True))
    weighting: str | None = option(None, "weight drawn points by 1/(n_c q) (reweight) or not",
                                   Choice(WEIGHTINGS, optional=True, none="the method's: reweight for mtt, none for "
                                          "dc/dsa/dm/kip"))
    replacement: bool = option(True, "draw with replacement (exact q_t frequencies)", Flag())
    probe: str = option("auto", "the scoring network: the method's own, a small trained ConvNet, or auto",
                        Choice(PROBES))
    probe_width: int = option(32, "width of the network probe", Int())
    probe_depth: int | None = option(None, "depth of the network probe", Int(optional=True, none="by image size, "
                                                                              "as the methods' networks"))
    probe_epochs: int = option(5, "network probe epochs at each refresh (warm-started)", Int(0))
    probe_warmup_epochs: int = option(50, "network probe epochs at the first refresh", Int())
    probe_lr: float = option(0.01, "SGD learning rate of the network probe", Number())
    topk: int = option(10, "highest-q points listed in each step's summary", Int())

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def check(self) -> None:
        """Every option against its declared rule (ValueError naming option, rule and value)."""
        validate(self)

    def to_dict(self) -> dict:
        return asdict(self)


class NetworkProbe:
    """A small ConvNet trained briefly on the synthetic set; its cross-entropy scores real points."""

    def __init__(self, options: ImportanceOptions):
        self.options = options
        self.net: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def _model_options(self) -> ModelOptions:
        return ModelOptions(width=self.options.probe_width, depth=self.options.probe_depth)

    def _build(self, dataset, generator, device) -> None:
        self.net = make_network(self._model_options(), dataset, generator, device)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.options.probe_lr, momentum=0.9, weight_decay=5e-4)

    def losses(self, dataset, images, labels, pool_x, pool_y, generator, device) -> torch.Tensor:
        """Train (warm-started) on (images, labels), then the cross-entropy on each pool point."""
        first = self.net is None
        if first:
            self._build(dataset, generator, device)
        epochs = self.options.probe_warmup_epochs if first else self.options.probe_epochs
        net = self.net
        net.train()
        sgd_epochs(net, images, labels, self.optimizer, epochs=epochs, batch_size=256, generator=generator)
        net.eval()
        step = chunk_size(self._model_options(), pool_x.device, None) or 1024
        cl = use_channels_last(self._model_options(), pool_x.device)
        with torch.no_grad():
            out = [F.cross_entropy(net.classifier(embed(net, pool_x[i : i + step], cl)), pool_y[i : i + step],
                                   reduction="none") for i in range(0, pool_x.shape[0], step)]
        net.train()
        return torch.cat(out) if out else pool_x.new_zeros(0)

    def state_dict(self) -> dict:
        if self.net is None:
            return {}
        return {"net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict, dataset, device) -> None:
        if not state:
            self.net = None
            return
        self._build(dataset, torch.Generator().manual_seed(0), device)  # architecture; weights from state
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


class ImportanceSampler:
    """Importance-sampled real batches per class, q_t refreshed from a probe every ``refresh`` steps."""

    kind = "importance"

    def __init__(self, train_labels: torch.Tensor, num_classes: int, options: ImportanceOptions, refresh: int):
        self.options = options
        self.refresh_every = refresh
        self.num_classes = num_classes
        self.labels = train_labels.cpu()
        self.class_idx = [torch.nonzero(self.labels == c, as_tuple=False).flatten() for c in range(num_classes)]
        n = self.labels.shape[0]
        self.counts = torch.zeros(n, dtype=torch.long)
        self.loss = torch.zeros(n, dtype=torch.float64)
        self.scored = torch.zeros(n, dtype=torch.bool)
        self.q = torch.from_numpy(self.q_uniform())
        self.last_refresh: int | None = None
        self._summary: tuple[ClassImportance, ...] = self._summarize()

    def q_uniform(self) -> np.ndarray:
        sizes = torch.bincount(self.labels, minlength=self.num_classes).double()
        return (1.0 / sizes[self.labels]).numpy()

    def needs_refresh(self, step: int) -> bool:
        return self.last_refresh is None or step - self.last_refresh >= self.refresh_every

    def pool(self, generator: torch.Generator) -> torch.Tensor:
        """Global indices of the points to score this refresh (all of a class if it has <= ``pool``)."""
        parts = []
        for members in self.class_idx:
            if members.numel() <= self.options.pool:
                parts.append(members)
            else:
                parts.append(members[torch.randperm(members.numel(), generator=generator)[: self.options.pool]].sort().values)
        return torch.cat(parts)

    def update(self, step: int, pool: torch.Tensor, losses: torch.Tensor | None) -> None:
        """Store the probe's ``losses`` on ``pool`` (None: no probe yet, keep uniform) and recompute q."""
        if losses is not None:
            self.loss[pool] = losses.detach().cpu().double()
            self.scored[pool] = True
        q = torch.zeros_like(self.loss)
        for members in self.class_idx:
            scored = self.scored[members]
            if not bool(scored.any()):
                q[members] = 1.0 / members.numel()
                continue
            l = self.loss[members].clone()
            l[~scored] = l[scored].mean()
            q[members] = torch.from_numpy(mix(l.numpy(), self.options.gamma, self.options.drop_top))
        self.q = q
        self.last_refresh = step
        self._summary = self._summarize()

    def _summarize(self) -> tuple[ClassImportance, ...]:
        q = self.q.numpy()
        return tuple(summarize(q[m.numpy()], m.numpy(), c, self.options.topk) for c, m in enumerate(self.class_idx))

    def draw(self, c: int, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        members = self.class_idx[c]
        qc = self.q[members]
        if not self.options.replacement:
            n = min(n, int((qc > 0).sum()))
        pick = torch.multinomial(qc, n, replacement=self.options.replacement, generator=generator)
        idx = members[pick]
        self.counts.index_add_(0, idx, torch.ones_like(idx))
        weights = None
        if self.options.weighting == "reweight":
            weights = (1.0 / (members.numel() * qc[pick])).float()
        return idx, weights

    def summary(self) -> tuple[ClassImportance, ...]:
        return self._summary

    def q_full(self) -> np.ndarray:
        return self.q.numpy().astype(np.float32)

    def state_dict(self) -> dict:
        return {"counts": self.counts.clone(), "loss": self.loss.clone(), "scored": self.scored.clone(),
                "q": self.q.clone(), "last_refresh": -1 if self.last_refresh is None else int(self.last_refresh)}

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].clone()
        self.loss = state["loss"].clone()
        self.scored = state["scored"].clone()
        self.q = state["q"].clone()
        self.last_refresh = None if int(state["last_refresh"]) < 0 else int(state["last_refresh"])
        self._summary = self._summarize()

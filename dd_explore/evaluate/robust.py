"""DD-Ranking's label-robust and augmentation-robust scores, computed with dd_explore's evaluator.

Definitions (DD-Ranking: NUS-HPC-AI-Lab/DD-Ranking, its documentation's introduction and
``ddranking/metrics/hard_label.py``, ``soft_label.py``, ``aug_robust.py``; paper arXiv 2505.13300):

- hard-label recovery ``HLR = Acc(real, hard) - Acc(syn, hard)``: how far the set is from the whole
  training split when both train with class ids (0 = fully recovered; smaller is better);
- improvement over random ``IOR = Acc(syn, any) - Acc(rdm, any)``: the set against a random subset of the
  same size (same count per class) under the set's own evaluation ("any": its labels or soft labels);
- label-robust score ``LRS = (exp(alpha) - exp(-1)) / (e - exp(-1))`` with ``alpha = w IOR - (1 - w) HLR``
  (``w`` = 0.5 by default);
- augmentation-robust score ``ARS = (exp(beta) - exp(-1)) / (e - exp(-1))`` with
  ``beta = gamma (Acc(syn, aug) - Acc(rdm, aug)) + (1 - gamma) (Acc(syn, no aug) - Acc(rdm, no aug))``
  (``gamma`` = 0.5).

Accuracies are fractions in [0, 1], so alpha and beta lie in [-1, 1] and both scores in [0, 1]; alpha or
beta = 0 gives the neutral value ``(1 - exp(-1)) / (e - exp(-1))`` = 0.2689 (e.g. the ARS of a set that
is the random subset). HLR and IOR are computed under the protocol as given; the ARS's augmented arm is
the protocol's augmentation (the ``dm`` preset's DSA when the protocol has none) and its other arm the same
evaluation without augmentation. Each term is computed per evaluation network (run ``r`` of
every evaluation uses the same seeds: paired) and reported as mean +- std, as DD-Ranking reports them.

Differences from DD-Ranking, by design: every evaluation (real, synthetic, random) uses the same
protocol and the same networks (DD-Ranking trains the whole split with its own optimizer and searches the
learning rate of the random subset over 5 values); one random subset per call (``random_seed``) instead of
one per evaluation run; the last epoch's test accuracy instead of the best of the last 20%.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

NEUTRAL = (1.0 - math.exp(-1.0)) / (math.e - math.exp(-1.0))


def normalized_score(x: float) -> float:
    """DD-Ranking's normalization ``(exp(x) - exp(-1)) / (e - exp(-1))``: -1 -> 0, 0 -> 0.2689, 1 -> 1."""
    return (math.exp(x) - math.exp(-1.0)) / (math.e - math.exp(-1.0))


@dataclass(frozen=True)
class RobustScores:
    """The two scores of one architecture and every term behind them (fractions; ``*_std``: std over runs).

    ``terms``: the evaluations (``real_hard``, ``syn_hard``, ``syn_any``, ``rdm_any``, ``syn_aug``,
    ``rdm_aug``, ``syn_naug``, ``rdm_naug``; equal settings share one evaluation) as EvalResults;
    ``per_run``: each network's HLR, IOR, alpha, LRS, aug and no-aug differences, beta and ARS."""

    model: str
    lrs: float
    lrs_std: float
    ars: float
    ars_std: float
    hlr: float
    hlr_std: float
    ior: float
    ior_std: float
    aug_diff: float
    aug_diff_std: float
    naug_diff: float
    naug_diff_std: float
    w: float
    gamma: float
    labels: str
    terms: dict
    per_run: dict
    random_indices: tuple[int, ...]
    seconds: float

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("model", "lrs", "lrs_std", "ars", "ars_std", "hlr", "hlr_std", "ior",
                                          "ior_std", "aug_diff", "aug_diff_std", "naug_diff", "naug_diff_std", "w",
                                          "gamma", "labels", "seconds")}
        d["terms"] = {k: v.to_dict() for k, v in self.terms.items()}
        d["per_run"] = {k: list(v) for k, v in self.per_run.items()}
        d["random_indices"] = list(self.random_indices)
        d["neutral"] = NEUTRAL
        return d

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) pairs of every term and score, for tables."""
        t = self.terms

        def acc(k):
            r = t[k]
            return f"{100 * r.mean:.2f} ± {100 * r.std:.2f}"

        return [
            ("Acc(real, hard)", acc("real_hard")), ("Acc(syn, hard)", acc("syn_hard")),
            ("Acc(syn, any)", acc("syn_any")), ("Acc(rdm, any)", acc("rdm_any")),
            ("Acc(syn, aug)", acc("syn_aug")), ("Acc(rdm, aug)", acc("rdm_aug")),
            ("Acc(syn, no aug)", acc("syn_naug")), ("Acc(rdm, no aug)", acc("rdm_naug")),
            ("HLR = real - syn (hard)", f"{100 * self.hlr:+.2f} ± {100 * self.hlr_std:.2f} pp"),
            ("IOR = syn - rdm (any)", f"{100 * self.ior:+.2f} ± {100 * self.ior_std:.2f} pp"),
            (f"LRS (w = {self.w:g})", f"{100 * self.lrs:.2f} ± {100 * self.lrs_std:.2f}"),
            ("syn - rdm (aug)", f"{100 * self.aug_diff:+.2f} ± {100 * self.aug_diff_std:.2f} pp"),
            ("syn - rdm (no aug)", f"{100 * self.naug_diff:+.2f} ± {100 * self.naug_diff_std:.2f} pp"),
            (f"ARS (gamma = {self.gamma:g})", f"{100 * self.ars:.2f} ± {100 * self.ars_std:.2f}"),
        ]

    def __str__(self) -> str:
        lines = [f"robust scores, {self.model} ({self.labels} labels; neutral score {100 * NEUTRAL:.2f}):"]
        lines += [f"  {k:<26} {v}" for k, v in self.rows()]
        return "\n".join(lines)


def random_subset(labels: torch.Tensor, counts, seed: int) -> torch.Tensor:
    """Indices of a random subset of ``labels`` with ``counts[c]`` images of class c (without replacement,
    class by class, each class's order random), drawn from ``torch.Generator().manual_seed(seed)``."""
    labels = torch.as_tensor(labels).cpu()
    g = torch.Generator().manual_seed(int(seed))
    out = []
    for c, k in enumerate(counts):
        k = int(k)
        if k == 0:
            continue
        idx = torch.nonzero(labels == c, as_tuple=False).flatten()
        if k > idx.numel():
            raise ValueError(f"the random subset needs {k} images of class {c}; the training split has {idx.numel()}")
        out.append(idx[torch.randperm(idx.numel(), generator=g)[:k]])
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def _unit(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")
    return float(value)


def robust_scores(images, labels, dataset, *, protocol="dm", model: str = "convnet", models=None,
                  model_kwargs: dict | None = None, runs: int | None = None, epochs: int | None = None,
                  seed: int = 0, random_seed: int = 0, teacher=None, temperature: float | None = None,
                  w: float = 0.5, gamma: float = 0.5, real=None, real_epochs: int | None = None, syn=None, zca=None,
                  shared: dict | None = None, device="auto", progress: bool = False, **overrides):
    """DD-Ranking's label-robust (LRS) and augmentation-robust (ARS) scores of the set (images, labels).

    ``dataset``: the Dataset the set was made from (its training split gives the whole-split and the random
    subset, its test split the accuracies). ``protocol``/``runs``/``epochs``/``overrides``: the evaluation
    of every term (:func:`~dd_explore.evaluate.evaluate`; default the ``dm`` preset). ``teacher``: evaluate
    "any" with the teacher's temperature-scaled KL (set and random subset alike); without it "any" is the
    set's own labels (soft targets when (n, C); the random subset uses class ids). ``real``: a finished
    whole-split hard-label evaluation to reuse (same model, runs and seed), or ``real_epochs``: epochs of that
    evaluation when it is computed here (default: the protocol's; say so when you reduce it). ``syn``: a
    finished evaluation of this set under this protocol and model (e.g. a row of ``evaluate(models=...)``),
    reused as Acc(syn, hard) instead of training it again. ``w``, ``gamma``:
    the weights of the two scores. ``models``: several architectures: returns a tuple of RobustScores.
    ``random_seed``: the random subset's draw (:func:`random_subset`). ``shared``: a dict the evaluations of
    the whole split and of the random subset are kept in (keyed by everything that defines them), so that
    several sets of the same size scored one after the other train them once.
    """
    from dd_explore.evaluate.protocol import EvalResult, _check_inputs, _check_seed, evaluate, make_protocol

    w, gamma = _unit("w", w), _unit("gamma", gamma)
    seed, random_seed = _check_seed(seed), _check_seed(random_seed)
    if teacher is None and temperature is not None:
        raise ValueError(f"temperature applies to teacher (soft-label) evaluation; got temperature={temperature!r} without a teacher")
    if models is not None:
        names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
        if not names:
            raise ValueError("models must name at least one architecture; got none")
        if real is not None or syn is not None:
            raise ValueError("real= and syn= are one model's evaluations; with models= call once per model to reuse them")
        return tuple(robust_scores(images, labels, dataset, protocol=protocol, model=m,
                                   model_kwargs=(model_kwargs or {}).get(m), runs=runs, epochs=epochs, seed=seed,
                                   random_seed=random_seed, teacher=teacher, temperature=temperature, w=w, gamma=gamma,
                                   real_epochs=real_epochs, zca=zca, shared=shared, device=device, progress=progress,
                                   **overrides)
                     for m in names)
    train = dataset.train
    images, labels, _, _ = _check_inputs(images, labels, dataset.test)
    hard = labels.argmax(1) if labels.ndim == 2 else labels.long()
    num_classes = dataset.num_classes
    if int(hard.max()) >= num_classes or int(hard.min()) < 0:
        raise ValueError(f"labels must be class ids in 0..{num_classes - 1}; got {int(hard.min())}..{int(hard.max())}")
    counts = torch.bincount(hard.cpu(), minlength=num_classes)
    rdm_idx = random_subset(train.labels, counts.tolist(), random_seed)
    rdm_x, rdm_y = train.images[rdm_idx.to(train.images.device)].cpu(), train.labels[rdm_idx.to(train.labels.device)].cpu()
    # resolve the protocol once to know its augmentation (and validate everything before any training)
    base, aug = make_protocol(protocol, channels=int(images.shape[1]), model=model, model_kwargs=model_kwargs,
                              runs=runs, epochs=epochs, seed=seed, **overrides)
    has_aug = aug is not None
    aug_arm = None  # the ARS's augmented arm: the protocol's augmentation, or the dm preset's DSA when it has none
    if not has_aug:
        from dd_explore.evaluate.augmentations import DSAEval

        aug_arm = DSAEval()
    if real is not None:
        if not isinstance(real, EvalResult):
            raise ValueError(f"real must be an EvalResult of the whole training split; got {type(real).__name__}")
        if real.protocol.model != base.model or len(real.accuracies) != base.runs or real.protocol.seed != seed:
            raise ValueError(f"real must come from the same model, runs and seed ({base.model}, {base.runs}, {seed}); got "
                             f"({real.protocol.model}, {len(real.accuracies)}, {real.protocol.seed})")
    if syn is not None:
        if not isinstance(syn, EvalResult):
            raise ValueError(f"syn must be an EvalResult of this set; got {type(syn).__name__}")
        sp = syn.protocol
        same = (sp.model == base.model and sp.runs == base.runs and sp.seed == seed and sp.epochs == base.epochs
                and sp.augment == base.augment and sp.labels == "hard" and sp.zca == (None if zca is None else sp.zca)
                and syn.train_size == int(images.shape[0]))
        if not same:
            raise ValueError("syn must be this set's hard-label evaluation under the same protocol (model, runs, seed, "
                             f"epochs, augmentation); got {sp.model}, {sp.runs}, {sp.seed}, {sp.epochs}, {sp.augment}, {sp.labels}")
    if real_epochs is not None and (isinstance(real_epochs, bool) or not isinstance(real_epochs, int) or real_epochs <= 0):
        raise ValueError(f"real_epochs must be a positive int; got {real_epochs!r}")
    start = time.perf_counter()
    common = dict(protocol=protocol, model=model, model_kwargs=model_kwargs, runs=runs, epochs=epochs, seed=seed,
                  zca=zca, device=device, progress=progress, test=dataset, **overrides)
    cache: dict = {}
    scope = json.dumps({"protocol": base.to_dict(), "zca": None if zca is None else zca.checksum,
                        "test": [len(dataset.test), dataset.name], "teacher": None if teacher is None else
                        getattr(teacher, "info", repr(teacher))}, sort_keys=True, default=str)

    def ev(key, x, y, *, kd: bool, mode: str, **extra):
        """One evaluation under the protocol ("protocol"), with augmentation ("aug") or without ("naug");
        equal settings are computed once (the whole split and the random subset across calls via ``shared``)."""
        if (mode == "aug" and has_aug) or (mode == "naug" and not has_aug):
            mode = "protocol"
        k = (key, kd, mode, tuple(sorted(extra.items())))
        store = cache
        if shared is not None and key in ("real", "rdm"):
            store, k = shared, json.dumps([scope, key, random_seed if key == "rdm" else None, counts.tolist()
                                           if key == "rdm" else None, kd, mode, sorted(extra.items())])
        if k not in store:
            kw = dict(common, **extra)
            test = kw.pop("test")
            augment = {"protocol": None, "aug": aug_arm, "naug": "none"}[mode]
            store[k] = evaluate(x, y, test, augment=augment, teacher=teacher if kd else None,
                                temperature=temperature if kd else None, **kw)
        return store[k]

    kd = teacher is not None
    any_labels = labels  # the set's own labels (soft targets when given)
    syn_key = "syn-hard" if (not kd and labels.ndim == 1) else "syn-any"  # hard labels: "any" is "hard"
    if syn is not None:
        cache[("syn-hard", False, "protocol", ())] = syn
    terms = {}
    if real is None:
        extra = {"epochs": real_epochs} if real_epochs is not None else {}
        real = ev("real", train.images.cpu(), train.labels.cpu(), kd=False, mode="protocol", **extra)
    terms["real_hard"] = real
    terms["syn_hard"] = ev("syn-hard", images, hard, kd=False, mode="protocol")
    terms["syn_any"] = ev(syn_key, images, any_labels, kd=kd, mode="protocol")
    terms["rdm_any"] = ev("rdm", rdm_x, rdm_y, kd=kd, mode="protocol")
    terms["syn_aug"] = ev(syn_key, images, any_labels, kd=kd, mode="aug")
    terms["rdm_aug"] = ev("rdm", rdm_x, rdm_y, kd=kd, mode="aug")
    terms["syn_naug"] = ev(syn_key, images, any_labels, kd=kd, mode="naug")
    terms["rdm_naug"] = ev("rdm", rdm_x, rdm_y, kd=kd, mode="naug")
    a = {k: np.asarray(v.accuracies, dtype=np.float64) for k, v in terms.items()}
    hlr = a["real_hard"] - a["syn_hard"]
    ior = a["syn_any"] - a["rdm_any"]
    alpha = w * ior - (1 - w) * hlr
    lrs = np.array([normalized_score(x) for x in alpha])
    aug_d = a["syn_aug"] - a["rdm_aug"]
    naug_d = a["syn_naug"] - a["rdm_naug"]
    beta = gamma * aug_d + (1 - gamma) * naug_d
    ars = np.array([normalized_score(x) for x in beta])
    per_run = {"hlr": hlr.tolist(), "ior": ior.tolist(), "alpha": alpha.tolist(), "lrs": lrs.tolist(),
               "aug_diff": aug_d.tolist(), "naug_diff": naug_d.tolist(), "beta": beta.tolist(), "ars": ars.tolist()}
    return RobustScores(
        model=terms["syn_hard"].protocol.model, lrs=float(lrs.mean()), lrs_std=float(lrs.std()), ars=float(ars.mean()),
        ars_std=float(ars.std()), hlr=float(hlr.mean()), hlr_std=float(hlr.std()), ior=float(ior.mean()),
        ior_std=float(ior.std()), aug_diff=float(aug_d.mean()), aug_diff_std=float(aug_d.std()),
        naug_diff=float(naug_d.mean()), naug_diff_std=float(naug_d.std()), w=w, gamma=gamma,
        labels="teacher-kl" if kd else ("soft" if labels.ndim == 2 else "hard"), terms=terms, per_run=per_run,
        random_indices=tuple(int(i) for i in rdm_idx), seconds=time.perf_counter() - start)


__all__ = ["NEUTRAL", "RobustScores", "normalized_score", "random_subset", "robust_scores"]

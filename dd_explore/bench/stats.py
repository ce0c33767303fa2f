"""Paired statistics across seeds and the per-cell summary of a bench.

Seed ``s`` of every cell is evaluated with the same networks, so two cells are compared on the seeds
they share: the difference of their per-seed accuracies, a paired t-test and a Wilcoxon signed-rank
test (``scipy.stats``). Conventions: all differences zero -> p = 1 (no evidence of a difference); fewer
than two shared seeds -> p undefined (NaN); every difference equal and non-zero -> t-test p = 0 (a
degenerate t statistic; the Wilcoxon p is then its smallest possible value, 2/2^n two-sided).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

TOL = 1e-12


@dataclass(frozen=True)
class PairedTest:
    """Cell minus reference on ``n`` shared seeds: ``diff`` (mean difference), ``diff_std`` (std of the
    differences, ddof 1), ``t_p`` (paired t-test p, two-sided), ``wilcoxon_p`` (Wilcoxon signed-rank
    p, two-sided), ``wins`` (seeds where the cell is higher), ``losses``."""

    n: int
    diff: float
    diff_std: float
    t_stat: float
    t_p: float
    wilcoxon_p: float
    wins: int
    losses: int

    def to_dict(self) -> dict:
        return asdict(self)


def paired_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Paired comparison of per-seed accuracies ``a`` (a cell) and ``b`` (its reference), same seed order."""
    from scipy import stats

    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must hold one accuracy per shared seed each; got {a.shape[0]} and {b.shape[0]}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("accuracies must be finite; got NaN/inf")
    n = int(a.shape[0])
    d = a - b
    d[np.abs(d) < TOL] = 0.0
    diff = float(d.mean()) if n else math.nan
    diff_std = float(d.std(ddof=1)) if n > 1 else math.nan
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if n < 2:
        return PairedTest(n, diff, diff_std, math.nan, math.nan, math.nan, wins, losses)
    if np.all(d == 0):
        return PairedTest(n, 0.0, 0.0, 0.0, 1.0, 1.0, 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if np.ptp(d) < TOL:  # every difference equal, non-zero: t is infinite
            t_stat, t_p = math.copysign(math.inf, diff), 0.0
        else:
            res = stats.ttest_rel(a, b)
            t_stat, t_p = float(res.statistic), float(res.pvalue)
        try:
            w_p = float(stats.wilcoxon(d).pvalue)
        except ValueError:
            w_p = math.nan
    return PairedTest(n, diff, diff_std, t_stat, t_p, w_p, wins, losses)


@dataclass(frozen=True)
class CellSummary:
    """One cell over its seeds: accuracy ``mean``/``std`` (over every evaluation network, ddof 0 as
    :func:`dd_explore.evaluate.evaluate`), per-seed accuracies, the paired comparison with its reference
    (None for a reference), and mean costs."""

    key: str
    label: str
    kind: str
    method: str
    ipc: int
    init: str
    variant: str
    control: str
    seeds: tuple[int, ...]
    runs: int
    mean: float
    std: float
    per_seed: tuple[float, ...]
    accuracies: tuple[float, ...]
    reference: str | None
    paired: PairedTest | None
    steps: float
    lr_img: float | None
    seconds_per_step: float
    probe_share: float
    distill_seconds: float
    eval_seconds: float
    eval_epochs: int
    failed: int = 0

    def to_row(self) -> dict:
        p = self.paired
        return {
            "cell": self.key, "label": self.label, "kind": self.kind, "method": self.method, "ipc": self.ipc,
            "init": self.init, "batches": self.variant, "control": self.control, "seeds": len(self.seeds),
            "runs": self.runs, "mean": self.mean, "std": self.std, "reference": self.reference or "",
            "diff": p.diff if p else "", "t_p": p.t_p if p else "", "wilcoxon_p": p.wilcoxon_p if p else "",
            "wins": p.wins if p else "", "losses": p.losses if p else "", "paired_n": p.n if p else "",
            "steps": self.steps, "lr_img": "" if self.lr_img is None else self.lr_img,
            "seconds_per_step": self.seconds_per_step, "probe_share": self.probe_share,
            "distill_seconds": self.distill_seconds, "eval_seconds": self.eval_seconds,
            "eval_epochs": self.eval_epochs, "failed": self.failed,
        }


def _float(row: Mapping, key: str, default: float = math.nan) -> float:
    v = row.get(key, "")
    try:
        return float(v) if v not in ("", None) else default
    except (TypeError, ValueError):
        return default


def summarize(cells, rows: Sequence[Mapping]) -> list[CellSummary]:
    """A :class:`CellSummary` per cell of ``cells`` that has rows (rows: dicts as in results.csv, with
    ``accuracies`` a list of floats and ``accuracy`` the seed's mean)."""
    by_cell: dict[str, dict[int, Mapping]] = {}
    failed: dict[str, int] = {}
    for r in rows:
        if r.get("accuracy") in ("", None):  # a diverged run: counted, not averaged
            failed[r["cell"]] = failed.get(r["cell"], 0) + 1
            continue
        by_cell.setdefault(r["cell"], {})[int(r["seed"])] = r
    out = []
    for cell in cells:
        seeds_rows = by_cell.get(cell.key)
        if not seeds_rows:
            continue
        seeds = tuple(sorted(seeds_rows))
        per_seed = tuple(float(seeds_rows[s]["accuracy"]) for s in seeds)
        accs = tuple(float(a) for s in seeds for a in seeds_rows[s]["accuracies"])
        arr = np.array(accs)
        paired = None
        ref = cell.reference_key
        if ref is not None and ref in by_cell:
            shared = [s for s in seeds if s in by_cell[ref]]
            paired = paired_test([float(seeds_rows[s]["accuracy"]) for s in shared],
                                 [float(by_cell[ref][s]["accuracy"]) for s in shared])
        sr = [seeds_rows[s] for s in seeds]
        lrs = {_float(r, "lr_img") for r in sr}
        lr = next(iter(lrs)) if len(lrs) == 1 and not math.isnan(next(iter(lrs))) else None
        out.append(CellSummary(
            key=cell.key, label=cell.label, kind=cell.kind, method=cell.method, ipc=cell.ipc, init=cell.init,
            variant=cell.variant, control=cell.control, seeds=seeds, runs=len(accs), mean=float(arr.mean()),
            std=float(arr.std()), per_seed=per_seed, accuracies=accs, reference=ref if paired else None,
            paired=paired, steps=float(np.mean([_float(r, "steps_done", 0.0) for r in sr])), lr_img=lr,
            seconds_per_step=float(np.nanmean([_float(r, "seconds_per_step") for r in sr])) if cell.kind == "distill" else math.nan,
            probe_share=float(np.nanmean([_float(r, "probe_share") for r in sr])) if cell.kind == "distill" else math.nan,
            distill_seconds=float(np.nanmean([_float(r, "distill_seconds", 0.0) for r in sr])),
            eval_seconds=float(np.nanmean([_float(r, "eval_seconds", 0.0) for r in sr])),
            eval_epochs=int(cell.eval_epochs), failed=failed.get(cell.key, 0),
        ))
    return out

"""``dd-explore demo``: the whole method on the embedded mnist5k, ending in an offline HTML report.

Sensitivity (k-means) initialization -> DM with importance-sampled real batches -> protocol evaluation of
the initial and the distilled set -> ``<out>/report.html``. Budgets are chosen so that it finishes in a
few minutes on a 2-core CPU; pass larger ``--steps``/``--eval-*`` for publishable numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

HELP = "distill the embedded mnist5k with sensitivity init + importance batches and write an HTML report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--dataset", default="mnist5k", help="embedded data set (default mnist5k; digits is faster)")
    p.add_argument("--method", default="dm", help="distillation method (default dm)")
    p.add_argument("--ipc", type=int, default=10, help="images per class (default 10)")
    p.add_argument("--init", default="sensitivity-kmeans", help="initialization (default sensitivity-kmeans)")
    p.add_argument("--batches", default="importance", choices=("uniform", "importance"))
    p.add_argument("--steps", type=int, default=200, help="distillation steps (default 200)")
    p.add_argument("--eval-runs", type=int, default=2, help="fresh networks per evaluation (default 2)")
    p.add_argument("--eval-epochs", type=int, default=100, help="epochs per evaluation network (default 100; the protocol uses 300)")
    p.add_argument("--embedding", choices=("umap", "pca"), default="umap", help="2-D map in the report (default umap)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo output folder")


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"--{name} must be a positive int; got {value}")


def run(args) -> int:
    from dd_explore import data, distill
    from dd_explore.report import write_report

    for name in ("ipc", "steps", "eval_runs", "eval_epochs"):
        _positive(name.replace("_", "-"), getattr(args, name))
    out = Path(args.out)
    run_dir = out / "run"
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise FileExistsError(f"--out {out} is not empty; pass --overwrite to replace it")
        shutil.rmtree(out)
    start = time.perf_counter()
    ds = data.load(args.dataset)
    print(f"[demo] {ds.name}: {len(ds.train)} train / {len(ds.test)} test images, {ds.num_classes} classes")
    print(f"[demo] {args.method.upper()} at IPC {args.ipc}: init={args.init}, batches={args.batches}, {args.steps} steps")
    result = distill.run(
        ds, method=args.method, ipc=args.ipc, init=args.init, batches=args.batches, steps=args.steps,
        seed=args.seed, device=args.device, out=run_dir, progress=True,
        evaluate={"runs": args.eval_runs, "epochs": args.eval_epochs, "progress": True},
    )
    report = write_report(run_dir, out=out / "report.html", dataset=ds, embedding=args.embedding)
    initial, final = result.metrics.get("initial"), result.metrics.get("final")
    summary = {
        "dataset": ds.name, "method": args.method, "ipc": args.ipc, "init": args.init, "batches": args.batches,
        "steps": result.steps_done, "seconds_per_step": float(result.total_time / max(1, result.steps_done)),
        "probe_share": float(result.probe_share),
        "evaluation": {"runs": args.eval_runs, "epochs": args.eval_epochs},
        "initial_accuracy": initial and {"mean": initial["mean"], "std": initial["std"]},
        "final_accuracy": final and {"mean": final["mean"], "std": final["std"]},
        "wall_seconds": time.perf_counter() - start, "report": str(report),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if initial and final:
        print(f"[demo] accuracy ({args.eval_runs} nets x {args.eval_epochs} epochs): initial "
              f"{100 * initial['mean']:.1f} +- {100 * initial['std']:.1f}% -> distilled "
              f"{100 * final['mean']:.1f} +- {100 * final['std']:.1f}%")
    print(f"[demo] {summary['seconds_per_step']:.2f} s/step (probe {100 * summary['probe_share']:.0f}%), "
          f"total {summary['wall_seconds']:.0f} s")
    print(f"[demo] open {report} in a browser (works offline)")
    return 0

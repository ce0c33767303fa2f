"""``dd-explore select``: choose real images per class and write the selection (optionally evaluate it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dd_explore._params import parse_params

HELP = "choose IPC real images per class (sensitivity sampling or a coreset baseline) and write the selection"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist5k", help="data set name (default: mnist5k)")
    p.add_argument("--root", default=None, help="folder of torchvision data sets")
    p.add_argument("--ipc", type=int, required=True, help="images per class to select")
    p.add_argument("--method", default="sensitivity-kmeans",
                   help="random, herding, kcenter, sensitivity-kmeans (default), sensitivity-kmeans-stratified, sensitivity-krr")
    p.add_argument("--features", default="pixels", help="pixels (default), convnet, pca:<k> or convnet+pca:<k>")
    p.add_argument("--delta", type=float, default=None,
                   help="redundancy filter: reject a candidate closer than this (feature space) to a chosen point")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, repeatable (e.g. k=20, kernel=rbf, ridge=0.1, scope=class)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="output folder (must be empty or new, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --out")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--evaluate", action="store_true", help="train the protocol on the selected real images")
    p.add_argument("--runs", type=int, default=5, help="evaluation runs (default 5)")
    p.add_argument("--epochs", type=int, default=300, help="evaluation epochs (default 300)")
    p.add_argument("--model", default="convnet", help="evaluation model (default convnet)")
    p.add_argument("--eval-cache", default=None, metavar="DIR",
                   help="with --evaluate: a folder of finished evaluations; the same images, settings, device type, "
                        "threads and code read the result back instead of training (docs/evaluate.md)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def check_out(out: str | Path, overwrite: bool) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out must be a folder; {path} is a file")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {path} is not empty; pass --overwrite to write into it")
    return path


def run(args) -> int:
    from dd_explore import data
    from dd_explore.device import resolve_device
    from dd_explore.selection import list_methods, select

    # validate everything cheap before loading data or writing anything
    if args.method not in list_methods():
        raise ValueError(f"--method must be one of {list_methods()}; got {args.method!r}")
    if args.dataset not in data.list_datasets():
        raise ValueError(f"--dataset must be one of {data.list_datasets()}; got {args.dataset!r}")
    if args.ipc is None or args.ipc <= 0:
        raise ValueError(f"--ipc must be a positive int; got {args.ipc}")
    if args.evaluate and (args.runs < 1 or args.epochs < 1):
        raise ValueError(f"--runs and --epochs must be positive ints; got {args.runs} and {args.epochs}")
    if args.eval_cache is not None:
        from dd_explore.evaluate.cache import EvalCache

        if not args.evaluate:
            raise ValueError(f"--eval-cache applies to --evaluate; got --eval-cache {args.eval_cache} without it")
        EvalCache(args.eval_cache)  # refuses a file
    from dd_explore import distributed

    params = parse_params(args.param)
    dist = distributed.setup(args.device)  # under torchrun / srun: classes split across the ranks
    out = check_out(args.out, args.overwrite)
    device = resolve_device(distributed.rank_device(args.device))

    ds = data.load(args.dataset, root=args.root)
    train = ds.train
    sel = select(train, train.labels, args.ipc, method=args.method, features=args.features,
                 random_state=args.seed, delta=args.delta, device=device, progress=not args.no_progress, **params)
    if not dist.main:  # one writer: rank 0 (the evaluation below is split across ranks too)
        if args.evaluate:
            _evaluate(args, ds, sel, device)
        return 0
    sel.save(out)
    summary = json.loads((out / "summary.json").read_text())
    summary["dataset"] = ds.describe()
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{ds.name}: {args.method} selected {sel.indices.shape[0]} images ({args.ipc} per class, "
          f"features {args.features}) -> {out}")
    for d in sel.per_class:
        extra = f" cost {d.cost:.4g}" if d.cost is not None else (f" d_eff {d.d_eff:.1f}" if d.d_eff is not None else "")
        print(f"  class {ds.classes[d.label]}: {d.size} points, chosen {d.chosen.tolist()[:8]}"
              f"{' ...' if d.chosen.shape[0] > 8 else ''}{extra}")
    if args.evaluate:
        result = _evaluate(args, ds, sel, device)
        record = {"dataset": ds.name, "method": args.method, "ipc": args.ipc, "features": args.features, **result}
        (out / "metrics.json").write_text(json.dumps(record, indent=2))
        print(f"  accuracy of the selected images: {100 * result['mean']:.2f} +- {100 * result['std']:.2f} % over "
              f"{len(result['accuracies'])} runs{' (read from the evaluation cache)' if result.get('cached') else ''}")
    return 0


def _evaluate(args, ds, sel, device) -> dict:
    """The plain protocol on the selected images, as a dict (through ``--eval-cache`` when given)."""
    import torch

    from dd_explore.evaluate import evaluate
    from dd_explore.evaluate.cache import cached

    train = ds.train
    idx = torch.as_tensor(sel.indices, dtype=torch.long)
    images, labels = train.batch(idx), train.labels[idx]
    settings = {"command": "select", "model": args.model, "runs": args.runs, "epochs": args.epochs, "seed": args.seed,
                "protocol": "plain"}
    return cached(args.eval_cache, images, labels, ds, settings, device,
                  lambda: evaluate(images, labels, ds.test, model=args.model, runs=args.runs, epochs=args.epochs,
                                   device=device, seed=args.seed, progress=not args.no_progress).to_dict())

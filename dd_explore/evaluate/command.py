"""``dd-explore evaluate``: protocol accuracy of random real images, the whole split, or a saved set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train fresh networks on a small set (random real images, a saved set, or the whole split) and report test accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist5k", help="data set name (default: mnist5k)")
    p.add_argument("--root", default=None, help="folder of torchvision data sets")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ipc", type=int, default=None, help="evaluate IPC random real images per class")
    src.add_argument("--whole", action="store_true", help="evaluate the whole training split")
    src.add_argument("--from", dest="source", default=None,
                     help="a run directory (synthetic.pt), a selection directory (selection.npz) or a .pt/.npz file with images and labels")
    p.add_argument("--model", default="convnet")
    p.add_argument("--width", type=int, default=128, help="network width (default 128)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="write the result as JSON to this file")


def load_set(source: str | Path, train_images):
    """(images, labels) from a run dir, a selection dir, or a .pt/.npz file."""
    import numpy as np
    import torch

    path = Path(source)
    if path.is_dir():
        if (path / "synthetic.pt").exists():
            path = path / "synthetic.pt"
        elif (path / "selection.npz").exists():
            path = path / "selection.npz"
        else:
            raise FileNotFoundError(f"--from {source}: no synthetic.pt or selection.npz in that folder")
    if not path.exists():
        raise FileNotFoundError(f"--from {source}: no such file")
    if path.suffix == ".pt":
        d = torch.load(path, map_location="cpu", weights_only=True)
        return d["images"].float(), d["labels"]
    with np.load(path) as d:
        if "images" in d:
            return torch.from_numpy(d["images"]).float(), torch.from_numpy(d["labels"])
        idx = torch.from_numpy(d["indices"]).long()
        return train_images[0][idx], train_images[1][idx]


def run(args) -> int:
    import torch

    from dd_explore import data
    from dd_explore.evaluate import evaluate

    if args.ipc is None and not args.whole and args.source is None:
        raise ValueError("choose what to evaluate: --ipc N, --whole or --from PATH")
    if args.ipc is not None and args.ipc <= 0:
        raise ValueError(f"--ipc must be a positive int; got {args.ipc}")
    ds = data.load(args.dataset, root=args.root)
    train = ds.train
    if args.whole:
        images, labels, what = train.images, train.labels, "whole training split"
    elif args.source is not None:
        images, labels = load_set(args.source, (train.images, train.labels))
        what = f"set from {args.source}"
    else:
        counts = train.class_counts(ds.num_classes)
        if args.ipc > int(counts.min()):
            c = int(counts.argmin())
            raise ValueError(f"--ipc must be no larger than the smallest class ({int(counts[c])} images in class {c}); got {args.ipc}")
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.cat([train.class_indices(c)[torch.randperm(int(counts[c]), generator=g)[: args.ipc]] for c in range(ds.num_classes)])
        images, labels, what = train.images[idx], train.labels[idx], f"{args.ipc} random real images per class"
    result = evaluate(images, labels, ds.test, model=args.model, runs=args.runs, epochs=args.epochs,
                      model_kwargs={"width": args.width}, device=args.device, seed=args.seed)
    print(f"{ds.name}, {what} ({images.shape[0]} images): {result}")
    if args.out:
        record = {"dataset": ds.name, "what": what, **result.to_dict()}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2))
    return 0

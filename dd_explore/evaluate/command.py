"""``dd-explore evaluate``: protocol accuracy of random real images, the whole split, or a saved set; on one
architecture or several (``--models``), with DD-Ranking's robust scores (``--scores``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = ("train fresh networks on a small set (random real images, a saved set, or the whole split) and report test "
        "accuracy; --protocol dm|dsa|dc for the field's protocols, --models for a cross-architecture table, --scores "
        "for DD-Ranking's robust scores")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dd_explore.evaluate.presets import PRESETS

    p.add_argument("--dataset", default="mnist5k", help="data set name (default: mnist5k)")
    p.add_argument("--root", default=None, help="folder of torchvision data sets")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ipc", type=int, default=None, help="evaluate IPC random real images per class")
    src.add_argument("--whole", action="store_true", help="evaluate the whole training split")
    src.add_argument("--from", dest="source", default=None,
                     help="a run directory (synthetic.pt), a selection directory (selection.npz) or a .pt/.npz file with images and labels")
    p.add_argument("--protocol", default="plain", choices=PRESETS,
                   help="plain (default: 300 epochs, no augmentation), dsa/dm (DSA, 1001 passes, the reference's "
                        "schedule) or dc (DC's augmentation on single-channel sets); docs/evaluate.md")
    p.add_argument("--model", default=None, help="evaluation network (default convnet); see --models")
    p.add_argument("--models", default=None,
                   help="comma-separated architectures, one row each (paired seeds), e.g. convnet,alexnet,vgg11,resnet18")
    p.add_argument("--width", type=int, default=None,
                   help="channel width of every evaluation network (default: each network's reference width; ConvNet 128)")
    p.add_argument("--runs", type=int, default=5, help="networks per architecture (default 5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the protocol's: plain 300, dsa/dm/dc 1001)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the protocol's, 0.01)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the protocol's, 256)")
    p.add_argument("--no-augment", action="store_true", help="train without the protocol's augmentation")
    p.add_argument("--zca", action="store_true",
                   help="ZCA-whiten (fitted on the training split) the set, the test split (and real/random sets) first")
    p.add_argument("--zca-eps", type=float, default=0.1, help="ZCA regularization added to the eigenvalues (default 0.1, MTT's)")
    p.add_argument("--teacher-epochs", type=int, default=None,
                   help="soft labels: train a teacher on the whole split for N epochs and evaluate with its "
                        "temperature-scaled KL instead of the set's labels")
    p.add_argument("--teacher-model", default="convnet", help="teacher network (default convnet)")
    p.add_argument("--teacher-cache", default=None, help="a .pt file: reuse the teacher saved there (same settings) or save it")
    p.add_argument("--temperature", type=float, default=None, help="KL temperature with a teacher (default 4)")
    p.add_argument("--scores", action="store_true",
                   help="DD-Ranking's label-robust and augmentation-robust scores, with every term (needs --ipc or --from)")
    p.add_argument("--real-epochs", type=int, default=None,
                   help="with --scores: epochs of the whole-split evaluation (default: the protocol's; a reduced value is recorded)")
    p.add_argument("--random-seed", type=int, default=0, help="with --scores: seed of the random subset of the same size")
    p.add_argument("--w", type=float, default=0.5, help="with --scores: LRS weight of IOR against HLR (default 0.5)")
    p.add_argument("--gamma", type=float, default=0.5, help="with --scores: ARS weight of the augmented arm (default 0.5)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                   help="fp32 (default), or bf16: every forward pass under bfloat16 autocast (faster on GPUs and on CPUs "
                        "with AVX512-BF16; recorded in the protocol; accuracy effect in BENCHMARKS.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is faster on a busy machine)")
    p.add_argument("--eval-cache", default=None, metavar="DIR",
                   help="a folder of finished evaluations: the same set, settings, device type, threads and code read "
                        "the result back instead of training (the table; --scores terms are trained; docs/evaluate.md)")
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


def set_space(source: str | Path, dataset, root=None):
    """The ZCA a saved set lives in (a run distilled on a whitened data set), or None. A selection or file
    is in the data set's own space."""
    from dd_explore.evaluate.zca import for_run

    path = Path(source)
    run_dir = path if path.is_dir() else path.parent
    return for_run(run_dir, dataset, root=root)


def _check_args(args) -> None:
    for flag, value in (("--runs", args.runs), ("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--width", args.width), ("--teacher-epochs", args.teacher_epochs),
                        ("--real-epochs", args.real_epochs), ("--threads", args.threads)):
        if value is not None and value <= 0:
            raise ValueError(f"{flag} must be a positive int; got {value}")
    if args.ipc is not None and args.ipc <= 0:
        raise ValueError(f"--ipc must be a positive int; got {args.ipc}")
    if args.model is not None and args.models is not None:
        raise ValueError(f"pass --model or --models, not both; got --model {args.model} --models {args.models}")
    if args.scores and args.whole:
        raise ValueError("--scores compares a set with the whole split and a random subset of its size; got --whole "
                         "(use --ipc N or --from PATH)")
    if args.scores and args.no_augment:
        raise ValueError("--scores measures the protocol with and without its augmentation; drop --no-augment "
                         "(or use --protocol plain, whose robust scores take DSA for the augmented arm)")
    if args.scores and args.precision != "fp32":
        raise ValueError(f"--scores runs its arms in fp32; got --precision {args.precision} (drop one of them)")
    if args.temperature is not None and args.teacher_epochs is None:
        raise ValueError("--temperature applies to soft-label evaluation; pass --teacher-epochs N too")
    for flag, value in (("--w", args.w), ("--gamma", args.gamma)):
        if not 0 <= value <= 1:
            raise ValueError(f"{flag} must be in [0, 1]; got {value}")
    if not args.zca_eps > 0:
        raise ValueError(f"--zca-eps must be positive; got {args.zca_eps}")
    if args.random_seed < 0 or args.seed < 0:
        raise ValueError(f"--seed and --random-seed must be non-negative; got {args.seed}, {args.random_seed}")
    if args.eval_cache is not None:
        from dd_explore.evaluate.cache import EvalCache

        EvalCache(args.eval_cache)  # refuses a file


def run(args) -> int:
    import torch

    from dd_explore import data, models
    from dd_explore.evaluate import evaluate, robust_scores, train_teacher
    from dd_explore.evaluate.protocol import _check_models
    from dd_explore.evaluate.zca import ZCA, whiten_dataset

    if args.ipc is None and not args.whole and args.source is None:
        raise ValueError("choose what to evaluate: --ipc N, --whole or --from PATH")
    _check_args(args)
    names = _check_models(args.model, args.models) if args.models else [args.model or "convnet"]
    if args.models is None:
        models.MODELS.get(names[0])
    models.MODELS.get(args.teacher_model)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ds = data.load(args.dataset, root=args.root)
    train = ds.train
    space = None  # the ZCA a saved set was made in
    if args.whole:
        images, labels, what = train.images, train.labels, "whole training split"
    elif args.source is not None:
        images, labels = load_set(args.source, (train.images, train.labels))
        space = set_space(args.source, ds, root=args.root)
        what = f"set from {args.source}" + (" (distilled in ZCA space)" if space is not None else "")
    else:
        counts = train.class_counts(ds.num_classes)
        if args.ipc > int(counts.min()):
            c = int(counts.argmin())
            raise ValueError(f"--ipc must be no larger than the smallest class ({int(counts[c])} images in class {c}); got {args.ipc}")
        g = torch.Generator().manual_seed(args.seed)
        idx = torch.cat([train.class_indices(c)[torch.randperm(int(counts[c]), generator=g)[: args.ipc]] for c in range(ds.num_classes)])
        images, labels, what = train.images[idx], train.labels[idx], f"{args.ipc} random real images per class"
    if space is not None and args.zca:
        raise ValueError(f"--from {args.source} was distilled in ZCA space (it is evaluated there); drop --zca")
    zca, target = None, ds
    if space is not None:
        target = whiten_dataset(ds, zca=space)  # the set is whitened already: whiten the rest alike
    elif args.zca:
        zca = ZCA.fit(train.images, args.zca_eps, pixel_mean=ds.mean, pixel_std=ds.std,
                      fitted_on=f"{ds.name} train ({len(train)} images)")
    teacher = None
    if args.teacher_epochs is not None:
        tkw = {"width": args.width} if args.width else None
        teacher_data = target if zca is None else whiten_dataset(ds, zca=zca)
        teacher = train_teacher(teacher_data, model=args.teacher_model, model_kwargs=tkw, epochs=args.teacher_epochs,
                                seed=args.seed, device=args.device, cache=args.teacher_cache)
        print(f"teacher {args.teacher_model} ({args.teacher_epochs} epochs on the whole split): "
              f"{100 * teacher.info['test_accuracy']:.2f} % test accuracy")
    width = {"width": args.width} if args.width else None
    common = dict(runs=args.runs, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                  augment="none" if args.no_augment else None, device=args.device, seed=args.seed,
                  protocol=args.protocol, zca=zca, teacher=teacher, temperature=args.temperature,
                  precision=args.precision)
    from dd_explore.device import resolve_device
    from dd_explore.evaluate.cache import cached
    from dd_explore.evaluate.protocol import CrossArchResult, EvalResult

    settings = {"command": "evaluate", "protocol": args.protocol, "models": names if args.models else None,
                "width": args.width, "runs": args.runs, "epochs": args.epochs, "lr": args.lr,
                "batch_size": args.batch_size, "augment": not args.no_augment, "precision": args.precision,
                "zca_eps": args.zca_eps if args.zca else None, "seed": args.seed, "temperature": args.temperature,
                "teacher": None if teacher is None else {"model": args.teacher_model, "epochs": args.teacher_epochs}}
    kwargs = ({"models": names, "model_kwargs": {n: dict(width) for n in names} if width else None} if args.models
              else {"model": names[0], "model_kwargs": width})
    found = cached(args.eval_cache, images, labels, target, settings, resolve_device(args.device),
                   lambda: evaluate(images, labels, target, **kwargs, **common).to_dict())
    result = (CrossArchResult if args.models else EvalResult).from_dict(found)
    hit = " (read from the evaluation cache)" if found.get("cached") else ""
    if args.models:
        print(f"{ds.name}, {what} ({images.shape[0]} images), protocol {args.protocol}:{hit}")
        print(result.table())
    else:
        print(f"{ds.name}, {what} ({images.shape[0]} images), protocol {args.protocol}, {names[0]}: {result}{hit}")
    record = {"dataset": ds.name, "what": what, **found}
    if args.scores:
        scores = []
        for n in names:
            row = result.row(n) if args.models else result
            reuse = row if (labels.ndim == 1 and teacher is None) else None  # the hard-label evaluation just made
            s = robust_scores(images, labels, target, protocol=args.protocol, model=n, model_kwargs=width, syn=reuse,
                              runs=args.runs, epochs=args.epochs, seed=args.seed, random_seed=args.random_seed,
                              teacher=teacher, temperature=args.temperature, w=args.w, gamma=args.gamma,
                              real_epochs=args.real_epochs, zca=zca, device=args.device,
                              **({"lr": args.lr} if args.lr else {}),
                              **({"batch_size": args.batch_size} if args.batch_size else {}))
            print(s)
            scores.append(s.to_dict())
        record["robust_scores"] = scores
    if args.out:
        from dd_explore._io import write_text

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, json.dumps(record, indent=2))
    return 0

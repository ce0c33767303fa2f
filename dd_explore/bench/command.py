"""``dd-explore bench``: the ablation table (results.csv, table.md, comparison.html) and the speed and
scale section (speed.csv, speed.md). docs/bench.md says what each plan runs and how long it takes."""

from __future__ import annotations

import argparse

HELP = "benchmark: ablation of sensitivity init and importance batches on DM/KIP/DC (+ baselines, controls) and speed/scale"

ABLATION_ONLY = ("seeds", "ipc", "steps", "eval_epochs", "width", "no_whole")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (must be empty or new, unless --resume/--overwrite)")
    p.add_argument("--quick", action="store_true", help="the quick plan (same as --plan quick; about 10 minutes)")
    p.add_argument("--plan", default=None, choices=("quick", "standard", "complete", "robust", "robust-full",
                                                    "defaults-quick", "defaults", "defaults-full"),
                   help="quick (smoke test), standard (default; about 2 hours on 2 CPU cores), complete (the full "
                        "grid at the full protocol, for a GPU), robust (DM/KIP/coresets under the dm protocol on three "
                        "architectures with DD-Ranking's robust scores, CPU budgets), robust-full (the same at the "
                        "full protocol, for a GPU), defaults (every method with its defaults on digits and mnist5k at "
                        "IPC 1 and 10, uniform and importance batches: initial against distilled, CPU step budgets; "
                        "-quick: a smoke test; -full: the methods' default steps, for a GPU)")
    p.add_argument("--dataset", default=None,
                   help="data set (default mnist5k; the defaults plans: both of theirs; torchvision sets need --root)")
    p.add_argument("--root", default=None, help="folder of torchvision data sets (e.g. for --dataset cifar10)")
    p.add_argument("--device", default="auto", help="auto (default: CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--only", choices=("ablation", "speed", "scale", "scaleout"), default=None,
                   help="run only this section; scale (CIFAR-shaped sets made on the spot at n = 5,000 and 50,000, "
                        "selection at 1,000,000 x 64; about 40 minutes on 2 CPU cores, --quick: a few) and scaleout "
                        "(1 process x T threads against N processes under torch.distributed for a DM run, an "
                        "evaluation and a selection; --scaleout-nproc, --threads; about 10 minutes on 2 CPU cores) run only "
                        "when asked for")
    p.add_argument("--scaleout-nproc", type=int, default=None, metavar="N",
                   help="--only scaleout: processes of the distributed layout, started by the bench itself (default 2)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the plan's)")
    p.add_argument("--methods", nargs="+", default=None, help="a subset of the plan's distillation methods")
    p.add_argument("--ipc", type=int, nargs="+", default=None, help="a subset of the plan's IPCs")
    p.add_argument("--steps", type=int, default=None, help="override: steps of every distillation cell")
    p.add_argument("--eval-epochs", type=int, default=None, help="override: epochs of every evaluation")
    p.add_argument("--width", type=int, default=None,
                   help="override: ConvNet width of the distillation networks and of the evaluation")
    p.add_argument("--no-whole", action="store_true", help="leave out the whole-training-split baseline")
    p.add_argument("--eval-models", default=None,
                   help="robust plans: comma-separated evaluation architectures (default: the plan's)")
    p.add_argument("--real-epochs", type=int, default=None,
                   help="robust plans: epochs of the whole-split evaluation (default: the plan's)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the bench in --out: finished runs are kept and skipped")
    mode.add_argument("--overwrite", action="store_true", help="delete the bench files in --out and start over")
    p.add_argument("--dry-run", action="store_true", help="print the cells and budgets, run nothing")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's, one per core); 1 is faster on a busy shared machine")


def _plan_name(args) -> str:
    if args.quick and args.plan not in (None, "quick"):
        raise ValueError(f"--quick means --plan quick; got --quick with --plan {args.plan} (pass one of them)")
    return "quick" if args.quick else (args.plan or "standard")


def _command_line(args, plan_name: str) -> str:
    parts = ["dd-explore bench", "--quick" if plan_name == "quick" else f"--plan {plan_name}", f"--out {args.out}"]
    if args.dataset not in (None, "mnist5k"):
        parts.append(f"--dataset {args.dataset}")
    if args.root:
        parts.append(f"--root {args.root}")
    if args.device != "auto":
        parts.append(f"--device {args.device}")
    for flag, value in (("--only", args.only), ("--scaleout-nproc", getattr(args, "scaleout_nproc", None)),
                        ("--steps", args.steps), ("--eval-epochs", args.eval_epochs),
                        ("--width", args.width), ("--threads", args.threads),
                        ("--eval-models", getattr(args, "eval_models", None)),
                        ("--real-epochs", getattr(args, "real_epochs", None))):
        if value is not None:
            parts.append(f"{flag} {value}")
    for flag, values in (("--seeds", args.seeds), ("--methods", args.methods), ("--ipc", args.ipc)):
        if values:
            parts.append(f"{flag} " + " ".join(str(v) for v in values))
    for flag, on in (("--no-whole", args.no_whole), ("--resume", args.resume), ("--overwrite", args.overwrite)):
        if on:
            parts.append(flag)
    return " ".join(parts)


def run(args) -> int:
    import time
    from pathlib import Path

    from dd_explore.bench import make_plan, make_speed_plan, run_ablation, run_speed
    from dd_explore.bench.ablation import OWN_FILES

    plan_name = _plan_name(args)
    if args.threads is not None and args.threads <= 0:
        raise ValueError(f"--threads must be a positive int; got {args.threads}")
    from dd_explore.bench.robust import ROBUST_PLANS

    from dd_explore.bench.defaults import DEFAULTS_PLANS

    if plan_name in DEFAULTS_PLANS:
        return _run_defaults(args, plan_name)
    if args.dataset is None:
        args.dataset = "mnist5k"
    if plan_name in ROBUST_PLANS:
        return _run_robust(args, plan_name)
    given = [f for f, v in (("--eval-models", args.eval_models), ("--real-epochs", args.real_epochs)) if v is not None]
    if given:
        raise ValueError(f"{', '.join(given)} apply to the robust plans only; got them with --plan {plan_name}")
    if args.scaleout_nproc is not None and args.only != "scaleout":
        raise ValueError(f"--scaleout-nproc applies to --only scaleout only; got --scaleout-nproc {args.scaleout_nproc} with "
                         f"{'--only ' + args.only if args.only else 'no --only'}")
    if args.only in ("speed", "scale", "scaleout"):
        given = [f"--{n.replace('_', '-')}" for n in ABLATION_ONLY if getattr(args, n) not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)} apply to the ablation only; got them with --only {args.only}")
    if args.only == "scale":
        return _run_scale(args, plan_name)
    if args.only == "scaleout":
        return _run_scaleout(args, plan_name)
    do_ablation = args.only in (None, "ablation")
    do_speed = args.only in (None, "speed")
    speed_methods = None
    if args.methods:
        speed_methods = [m for m in args.methods if m in make_speed_plan(plan_name).distill] or None
    plan = make_plan(plan_name, dataset=args.dataset, seeds=args.seeds, methods=args.methods, ipcs=args.ipc,
                     steps=args.steps, eval_epochs=args.eval_epochs, width=args.width, whole=not args.no_whole)
    speed_plan = make_speed_plan(plan_name, methods=speed_methods)
    command = _command_line(args, plan_name)
    if args.dry_run:
        if do_ablation:
            from dd_explore.bench.plan import estimate_seconds

            print(plan.describe())
            if args.dataset == "mnist5k":
                print(f"estimate: about {estimate_seconds(plan, 1) / 60:.0f} min with --threads 1, "
                      f"{estimate_seconds(plan, 2) / 60:.0f} min with 2 threads, on the project's 2-core CPU with "
                      "nothing else running (rough, +-50%; a GPU is much faster)")
        if do_speed:
            print(f"speed section ({speed_plan.name}): distill {speed_plan.distill}; select ns {speed_plan.select_ns}; "
                  f"k-means vs sklearn n={speed_plan.kmeans_n} d={speed_plan.kmeans_d}; scaling {speed_plan.scaling_ns}; "
                  f"dashboard {speed_plan.dashboard_steps} DM steps")
        return 0
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    start = time.perf_counter()
    if do_ablation:
        result = run_ablation(plan, out, root=args.root, device=args.device, resume=args.resume,
                              overwrite=args.overwrite, progress=not args.no_progress, command=command)
        print(f"ablation: {result.computed} runs computed, {result.skipped} already done, "
              f"{result.seconds / 60:.1f} min; see {out / 'table.md'}")
    if do_speed:
        if not do_ablation:  # the ablation did not check/prepare the folder
            own = set(OWN_FILES)
            foreign = out.exists() and any(p.name not in own for p in out.iterdir())
            if foreign and not (args.resume or args.overwrite):
                raise FileExistsError(f"out directory {out} holds other files; pass --resume or --overwrite, "
                                      "or use another --out")
            if args.overwrite:
                for name in ("speed.csv", "speed.md"):
                    if (out / name).exists():
                        (out / name).unlink()
            elif (out / "speed.csv").exists() and not args.resume:
                raise FileExistsError(f"{out / 'speed.csv'} exists; pass --resume (keep it) or --overwrite")
        if args.resume and (out / "speed.csv").exists():
            print(f"speed: kept the existing {out / 'speed.csv'} (--resume); use --overwrite to measure again")
        else:
            t0 = time.perf_counter()
            run_speed(out, speed_plan, dataset_name=args.dataset, root=args.root, device=args.device,
                      progress=not args.no_progress, command=command)
            print(f"speed: {(time.perf_counter() - t0) / 60:.1f} min; see {out / 'speed.md'}")
    print(f"bench done in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


def _run_robust(args, plan_name: str) -> int:
    """``--plan robust|robust-full``: the robust-scores bench (dd_explore.bench.robust)."""
    import time
    from pathlib import Path

    from dd_explore.bench.robust import make_robust_plan, run_robust

    given = [flag for flag, on in (("--only", args.only), ("--width", args.width), ("--no-whole", args.no_whole)) if on]
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to the robust plans; got them with --plan {plan_name}")
    models = [m.strip() for m in args.eval_models.split(",") if m.strip()] if args.eval_models else None
    plan = make_robust_plan(plan_name, dataset=args.dataset, seeds=args.seeds, methods=args.methods, ipcs=args.ipc,
                            steps=args.steps, eval_epochs=args.eval_epochs, real_epochs=args.real_epochs, models=models)
    if args.dry_run:
        print(plan.describe())
        return 0
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = run_robust(plan, Path(args.out), root=args.root, device=args.device, resume=args.resume,
                        overwrite=args.overwrite, progress=not args.no_progress, command=_command_line(args, plan_name))
    print(f"robust bench: {result.computed} sets scored, {result.skipped} already done, "
          f"{(time.perf_counter() - start) / 60:.1f} min; see {Path(args.out) / 'robust.md'}")
    return 0


def _kept(args, out, section: str) -> bool:
    """A section's earlier ``<section>.csv`` in ``out``: kept with --resume (True), measured again with
    --overwrite (False), else an error."""
    path = out / f"{section}.csv"
    if not path.exists() or args.overwrite:
        return False
    if args.resume:
        print(f"{section}: kept the existing {path} (--resume); use --overwrite to measure again")
        return True
    raise FileExistsError(f"{path} exists; pass --overwrite (measure again) or --resume (keep it)")


def _run_scale(args, plan_name: str) -> int:
    """``--only scale``: the scale section (dd_explore.bench.scale) into --out (scale.csv, scale.md)."""
    import time
    from pathlib import Path

    from dd_explore.bench.scale import make_scale_plan, run_scale

    if args.methods or args.dataset != "mnist5k" or args.root:
        raise ValueError("--only scale makes its own CIFAR-shaped data and runs DM: --dataset, --root and --methods "
                         "do not apply")
    plan = make_scale_plan(plan_name)
    command = _command_line(args, plan_name)
    if args.dry_run:
        print(f"scale section ({plan.name}): n {list(plan.ns)} (3x{plan.size}x{plan.size}, 10 classes), features "
              f"{list(plan.features)}, {plan.select_method} ipc {plan.ipc}, DM width {plan.dm_width} "
              f"({plan.dm_steps} uniform / {plan.dm_importance_steps} importance steps), run directory after "
              f"{plan.run_dir_steps} steps, {plan.embedding} embedding, report, explorer (browser first paint), "
              f"dashboard ({plan.dashboard_steps} steps); select and kmeans_sensitivity at {plan.kmeans_n:,} x "
              f"{plan.kmeans_d}")
        return 0
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if _kept(args, out, "scale"):
        return 0
    t0 = time.perf_counter()
    run_scale(out, plan, device=args.device, progress=not args.no_progress, command=command)
    print(f"scale: {(time.perf_counter() - t0) / 60:.1f} min; see {out / 'scale.md'}")
    return 0


def _run_scaleout(args, plan_name: str) -> int:
    """``--only scaleout``: 1 process x T threads against N processes (dd_explore.bench.scaleout) into --out."""
    import time
    from pathlib import Path

    from dd_explore.bench.scaleout import make_scaleout_plan, run_scaleout

    if args.methods or args.root or args.device not in ("auto", "cpu"):
        raise ValueError("--only scaleout runs DM, an evaluation and a selection on the CPU (gloo): --methods, --root "
                         f"and --device {args.device} do not apply")
    plan = make_scaleout_plan(plan_name, dataset=args.dataset, nproc=args.scaleout_nproc, threads=args.threads)
    if args.dry_run:
        print(plan.describe())
        return 0
    out = Path(args.out)
    if _kept(args, out, "scaleout"):
        return 0
    t0 = time.perf_counter()
    run_scaleout(out, plan, command=_command_line(args, plan_name))
    print(f"scaleout: {(time.perf_counter() - t0) / 60:.1f} min; see {out / 'scaleout.md'}")
    return 0


def _run_defaults(args, plan_name: str) -> int:
    """``--plan defaults|defaults-quick|defaults-full``: the defaults table (dd_explore.bench.defaults)."""
    import time
    from pathlib import Path

    from dd_explore.bench.defaults import make_defaults_plan, run_defaults

    given = [flag for flag, on in (("--only", args.only), ("--width", args.width), ("--no-whole", args.no_whole),
                                   ("--root", args.root), ("--eval-models", args.eval_models),
                                   ("--real-epochs", args.real_epochs), ("--scaleout-nproc", args.scaleout_nproc)) if on]
    if args.seeds:
        given.append("--seeds")
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to the defaults plans; got them with --plan {plan_name}")
    plan = make_defaults_plan(plan_name, datasets=[args.dataset] if args.dataset else None, methods=args.methods,
                              ipcs=args.ipc, steps=args.steps, eval_epochs=args.eval_epochs)
    if args.dry_run:
        print(plan.describe())
        return 0
    out = Path(args.out)
    if (out / "defaults.csv").exists() and not (args.resume or args.overwrite):
        raise FileExistsError(f"{out / 'defaults.csv'} exists; pass --resume (keep finished cells) or --overwrite")
    start = time.perf_counter()
    rows = run_defaults(plan, out, threads=args.threads, device=args.device, resume=args.resume,
                        progress=not args.no_progress, command=_command_line(args, plan_name))
    warned = sum(r["guard"] == "warned" for r in rows)
    print(f"defaults: {len(rows)} cells, {warned} below their initialization, "
          f"{(time.perf_counter() - start) / 60:.1f} min; see {out / 'defaults.md'}")
    return 0

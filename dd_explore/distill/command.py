"""``dd-explore distill``: distill a data set with DM, KIP, DC, DSA or MTT into a run directory."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from dd_explore._params import parse_params

HELP = "distill a data set (DM, KIP, DC, DSA, MTT; selection init; uniform or importance-sampled batches) into a run directory"


def option_entries():
    """The declared options of every registered method, then the importance options (for flags and docs)."""
    from dd_explore.distill.importance import ImportanceOptions
    from dd_explore.distill.methods import METHODS
    from dd_explore.options import collect

    names = METHODS.names()
    methods = collect((name, METHODS.get(name).Options) for name in names)
    return methods, collect([("importance", ImportanceOptions)]), names


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dd_explore.distill.engine import list_inits
    from dd_explore.distill.methods import METHODS
    from dd_explore.options import add_flags

    methods = METHODS.names()
    steps = ", ".join(f"{m} {METHODS.get(m).default_steps}" for m in methods)
    p.add_argument("--dataset", default="mnist5k", help="data set name (default: mnist5k)")
    p.add_argument("--root", default=None, help="folder of torchvision data sets")
    p.add_argument("--method", default="dm", help=f"distillation method, one of {methods} (default: dm)")
    p.add_argument("--ipc", type=int, default=10, help="images per class (default 10)")
    p.add_argument("--init", default="random",
                   help=f"initial set: a selection method or noise, one of {list_inits()} (default: random)")
    p.add_argument("--batches", default="uniform", choices=["uniform", "importance"],
                   help="how real batches are drawn (default: uniform)")
    p.add_argument("--steps", type=int, default=None, help=f"steps to reach (default: the method's, {steps})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, help="run directory (must be empty or new, unless --resume/--overwrite)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    mode.add_argument("--overwrite", action="store_true", help="delete the run files in --out and start over")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    method_entries, importance_entries, _ = option_entries()
    add_flags(p.add_argument_group("method options (each method's default where not given)"), method_entries, methods)
    add_flags(p.add_argument_group("importance options (with --batches importance)"), importance_entries)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any method or importance option, repeatable (values read as JSON when they parse)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints (default steps/20)")
    p.add_argument("--snapshot-every", type=int, default=None, help="steps between image snapshots (default steps/50)")
    p.add_argument("--evaluate", action="store_true", help="protocol accuracy of the initial and final set (metrics.json)")
    p.add_argument("--eval-runs", type=int, default=5, help="evaluation runs (default 5)")
    p.add_argument("--eval-epochs", type=int, default=300, help="evaluation epochs (default 300)")
    p.add_argument("--eval-every", type=int, default=None, help="also evaluate every N steps (1 run, 50 epochs)")
    p.add_argument("--eval-cache", default=None, metavar="DIR",
                   help="folder of finished evaluations: one found there (the same set, settings, device type, "
                        "threads and code) is read back, not trained; one trained is filed there")
    p.add_argument("--no-eval-initial", action="store_true",
                   help="evaluate only the final set (e.g. when the same initial set was evaluated before)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (e.g. ``kill``) ends the run like Ctrl-C: final checkpoint, then exit (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args) -> int:
    from dd_explore import data
    from dd_explore.distill import LogProgress, run as distill_run

    options = parse_params(args.param)
    method_entries, importance_entries, _ = option_entries()
    for entry in method_entries + importance_entries:
        value = getattr(args, entry.name)
        if value is not None:
            options[entry.name] = value
    for name in ("eval_runs", "eval_epochs", "eval_every"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive int; got {value}")
    evaluate = None
    if args.evaluate:
        evaluate = {"runs": args.eval_runs, "epochs": args.eval_epochs, "every": args.eval_every,
                    "initial": not args.no_eval_initial, "progress": not args.no_progress, "cache": args.eval_cache}
    ds = data.load(args.dataset, root=args.root)
    with _terminate_as_interrupt():
        result = distill_run(
            ds, method=args.method, ipc=args.ipc, init=args.init, batches=args.batches, steps=args.steps,
            callbacks=[LogProgress(every=max(1, (args.steps or 100) // 10))], device=args.device, seed=args.seed,
            out=args.out, resume=args.resume, overwrite=args.overwrite, evaluate=evaluate,
            checkpoint_every=args.checkpoint_every, snapshot_every=args.snapshot_every,
            progress=not args.no_progress, **options)
    status = "stopped" if result.stopped else "done"
    print(f"{result.method}: {status} at step {result.steps_done}/{result.steps}, "
          f"{result.total_time / max(1, len(result.step_times)):.3f} s/step, probe share {100 * result.probe_share:.1f}%, "
          f"final loss {result.losses[-1] if len(result.losses) else float('nan'):.5g}")
    for key in ("initial", "final"):
        m = result.metrics.get(key)
        if m:
            print(f"{key} set: {100 * m['mean']:.2f} +- {100 * m['std']:.2f} % ({len(m['accuracies'])} runs, "
                  f"{m['protocol']['epochs']} epochs)")
    print(f"run directory: {result.out}")
    return 0


def options_markdown() -> dict[str, str]:
    """The docs tables of the method options and the importance options (docs/distill.md holds them)."""
    from dd_explore.options import markdown_table

    methods, importance, names = option_entries()
    return {"methods": markdown_table(methods, names), "importance": markdown_table(importance)}


def write_options_docs(path) -> None:
    """Rewrite the generated tables of ``path`` (between ``<!-- options:NAME -->`` markers)."""
    from pathlib import Path

    path = Path(path)
    text = path.read_text()
    for name, table in options_markdown().items():
        head, tail = f"<!-- options:{name} -->\n", f"<!-- /options:{name} -->"
        start, end = text.index(head) + len(head), text.index(tail)
        text = text[:start] + table + text[end:]
    path.write_text(text)


if __name__ == "__main__":  # python -m dd_explore.distill.command docs/distill.md
    import sys

    write_options_docs(sys.argv[1])

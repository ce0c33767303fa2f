"""``dd-explore``: the command line. Each subcommand lives next to its package in ``<pkg>/command.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from dd_explore import __version__

DISTRIBUTED = ("select", "distill", "evaluate", "bench")  # subcommands that run across processes (--nproc)

COMMANDS = {
    "demo": "dd_explore.demo",
    "select": "dd_explore.selection.command",
    "distill": "dd_explore.distill.command",
    "evaluate": "dd_explore.evaluate.command",
    "report": "dd_explore.report.command",
    "bench": "dd_explore.bench.command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dd-explore",
        description="Dataset distillation and coreset selection with sensitivity sampling and live views.",
    )
    parser.add_argument("--version", action="version", version=f"dd-explore {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        if name in DISTRIBUTED:
            p.add_argument("--nproc", type=int, default=None, metavar="N",
                           help="run as N processes on this machine (torch.distributed.run --standalone; one per "
                                "GPU, gloo on CPUs); same as torchrun --nproc-per-node N -m dd_explore ...")
        p.set_defaults(_module=module)
    return parser


def _relaunch(nproc: int, argv: list[str]) -> int:
    """Start ``dd-explore argv`` (without --nproc) as ``nproc`` processes through torch.distributed.run."""
    from torch.distributed.run import main as torchrun

    rest, skip = [], False
    for i, item in enumerate(argv):
        if skip:
            skip = False
            continue
        if item == "--nproc":
            skip = True
            continue
        if item.startswith("--nproc="):
            continue
        rest.append(item)
    try:
        torchrun(["--standalone", "--nproc-per-node", str(nproc), "-m", "dd_explore", *rest])
    except SystemExit as exc:  # torchrun ends with the workers' status
        return int(exc.code or 0)
    except Exception as exc:  # noqa: BLE001 - a worker failed: torchrun raises ChildFailedError
        print(f"dd-explore: a process of the {nproc} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    nproc = getattr(args, "nproc", None)
    if nproc is not None:
        if isinstance(nproc, bool) or nproc < 1:
            print(f"dd-explore {args.command}: error: --nproc must be a positive int; got {nproc}", file=sys.stderr)
            return 2
        if nproc > 1 and "WORLD_SIZE" not in os.environ:
            return _relaunch(nproc, list(sys.argv[1:] if argv is None else argv))
    joined = False
    if args.command in DISTRIBUTED:
        from dd_explore import distributed

        # under torchrun / srun: join the group (NCCL for CUDA devices, gloo otherwise); one report, rank 0's
        ctx = distributed.setup(getattr(args, "device", None) or "auto")
        joined = ctx.active
        if not ctx.main:
            sys.stdout = open(os.devnull, "w")
    clean = False
    try:
        code = int(args._module.run(args) or 0)
        clean = True
        return code
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"dd-explore {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if joined:
            distributed.finish(clean)
            global _LEFT_GROUP
            _LEFT_GROUP = True


_LEFT_GROUP = False  # set when this process ran a command as one rank of several


def entry() -> int:  # pragma: no cover - the console script and ``python -m dd_explore``
    """:func:`main`, then, for a rank that was in a process group, exit without running C++ static
    destructors: gloo's threads can abort the process there ("terminate called without an active
    exception", SIGABRT) after every file is written and the group is left."""
    code = main()
    if _LEFT_GROUP:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())

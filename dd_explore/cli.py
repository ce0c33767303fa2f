"""``dd-explore``: the command line. Each subcommand lives next to its package in ``<pkg>/command.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from dd_explore import __version__

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
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._module.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"dd-explore {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``dd-explore report DIR``: one self-contained, offline HTML file with every view of a run."""

from __future__ import annotations

import argparse

HELP = "write a self-contained offline HTML report (all views, plotly.js inlined) of a distillation run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by `dd-explore distill` or distill.run(out=...)")
    p.add_argument("--out", default=None, help="the HTML file to write (default: DIR/report.html)")
    p.add_argument("--embedding", choices=("umap", "pca"), default="umap",
                   help="2-D map of the real points: umap (cached after the first time) or pca (fast); default umap")
    p.add_argument("--root", default=None,
                   help="folder of torchvision data sets, when the run used one; for an imagefolder run the folder "
                        "is found from the run's config, --root overrides it (the folder moved)")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: ~/.cache/dd_explore/embeddings)")


def run(args) -> int:
    from pathlib import Path

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"DIR {run_dir}: no such directory")
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"DIR {run_dir} is not a run directory (no config.json)")

    from dd_explore.report.build import write_report

    path = write_report(run_dir, out=args.out, embedding=args.embedding, cache_dir=args.cache_dir, root=args.root)
    print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB); open it in a browser, no network needed")
    return 0

"""``deeprelax demo``: the quick reproduction preset
(:func:`deeprelax.experiments.reproduce.reproduce` with ``quick=True``)."""

from __future__ import annotations

import argparse

from ._common import print_figures, set_threads

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the quick reproduction preset (mnistfc, 1 effective epoch, 4 methods)",
        description="Runs `deeprelax reproduce --quick` into --out, prints the table and names the figure. "
        "About a minute on 2 CPU cores; re-running reuses finished runs.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    from deeprelax.experiments.reproduce import reproduce

    table, figures = reproduce(
        ["mnistfc"], ["sgd", "entropy-sgd", "hj", "heat"], 1, args.out, quick=True, quiet=args.quiet
    )
    print(table)
    print_figures(figures)
    return 0

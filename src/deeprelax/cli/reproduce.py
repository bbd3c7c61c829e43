"""``deeprelax reproduce``: the paper's grid, its table and figures
(:func:`deeprelax.experiments.reproduce.reproduce`)."""

from __future__ import annotations

import argparse

from ._common import add_data_flags, print_figures, set_threads, split

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="run the paper's grid and write the table and figures",
        description="Runs MODELS x METHODS x SEEDS with the paper's budgets and the hyper-parameters in "
        "docs/results.md, skipping finished runs and resuming interrupted ones, then writes OUT/table.md "
        "(mean ± std error @ effective epochs beside the paper's cell) and OUT/<model>_valid.png.",
    )
    p.add_argument(
        "--models", default="mnistfc,lenet", help="comma-separated (default mnistfc,lenet)"
    )
    p.add_argument(
        "--methods",
        default="sgd,entropy-sgd,hj,heat",
        help="comma-separated (default sgd,entropy-sgd,hj,heat; also prox-sgd, and elastic-sgd, "
        "parle, which train one replica per process: alone, or all ranks under torchrun)",
    )
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 42, 43, ... (default 3)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the demo preset: 1 effective epoch, 1 seed's worth of work",
    )
    p.add_argument(
        "--stages",
        help="comma-separated effective epochs: bring every run to each stage in turn "
        "(e.g. '10,50' runs all cells to 10 EE first)",
    )
    p.add_argument(
        "--until", type=float, help="stop every run at this many effective epochs (resumable)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="compress the protocol in time: budgets and lr breakpoints x SCALE, scoping rates "
        "/ SCALE (default 1 = the paper's budgets; 0.1 fits 2 CPU cores in about 2 hours "
        "for mnistfc and lenet)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs at once, one process and torch thread each"
    )
    p.add_argument(
        "--time-limit",
        type=float,
        help="seconds: start no run after it, pause running ones at their next evaluation",
    )
    p.add_argument("--results", help="export every finished run's small files to this folder")
    add_data_flags(p)
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    from deeprelax.experiments.reproduce import reproduce

    stages = [float(s) for s in split(args.stages, "stages")] if args.stages else None
    table, figures = reproduce(
        split(args.models, "models"),
        split(args.methods, "methods"),
        args.seeds,
        args.out,
        quick=args.quick,
        stages=stages,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
        quiet=args.quiet,
        until=args.until,
        scale=args.scale,
        jobs=args.jobs,
        time_limit=args.time_limit,
        results=args.results,
    )
    if not table:  # a torchrun rank other than 0
        return 0
    print(table)
    print_figures(figures)
    return 0

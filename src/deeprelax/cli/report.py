"""``deeprelax report``: tables and validation curves from committed results
(:mod:`deeprelax.experiments.report`)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="tables and validation curves from committed results (no checkpoints)",
        description="Reads RESULTS/<model>/<method>/seed<k>/{metrics.jsonl,config.json} and prints, "
        "per model, a markdown table: seeds, final and best error (mean ± std @ effective epochs), "
        "effective epochs and wall-clock time to reach SGD's final error, the paper's cell; "
        "draws FIGURES/<model>_valid.png (mean ± std over seeds).",
    )
    p.add_argument("results", help="results folder, e.g. results/mnist")
    p.add_argument("--figures", help="folder for the figures (default: the results folder)")
    p.add_argument("--no-figures", action="store_true", help="print the tables only")
    p.add_argument(
        "--into",
        help="also write the tables between the <!-- report:begin --> and <!-- report:end --> "
        "lines of this markdown page (e.g. docs/results.md)",
    )
    p.add_argument(
        "--landscape-into",
        help="also write the landscape tables of RESULTS/<model>/<method>/seed<k>/landscape/"
        "analysis.json between the <!-- landscape:begin --> and <!-- landscape:end --> lines of "
        "this markdown page (e.g. docs/landscape.md)",
    )
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from deeprelax.experiments.report import report

    report(
        args.results,
        figures=None if args.no_figures else args.figures or args.results,
        into=args.into,
        landscape_into=args.landscape_into,
        log=print,
    )
    return 0

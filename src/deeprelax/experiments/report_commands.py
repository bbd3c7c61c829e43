"""CLI wiring for ``deeprelax report`` and ``deeprelax export`` (argument parsing only)."""

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
    p.set_defaults(func=cmd_report)
    p = subparsers.add_parser(
        "export",
        help="copy finished runs' metrics, summary and configuration into a results folder",
        description="For every finished run under RUNS/<model>/<method>/seed<i>/ writes "
        "DEST/<model>/<method>/seed<k>/{metrics.jsonl,summary.json,config.json}, k the run's seed "
        "(never checkpoints). A run without summary.json is recovered from its checkpoint.",
    )
    p.add_argument("runs", help="a reproduce output folder, e.g. runs/grid")
    p.add_argument("dest", help="results folder, e.g. results/mnist")
    p.add_argument("--machine", help="where the runs ran, recorded in config.json")
    p.set_defaults(func=cmd_export)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report_figures, report_markdown, write_into_page

    text = report_markdown(args.results)
    print(text)
    if args.into:
        print(f"tables written into {write_into_page(args.into, text)}")
    if not args.no_figures:
        for path in report_figures(args.results, args.figures or args.results):
            print(f"figure: {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .results import export_runs

    written = export_runs(args.runs, args.dest, machine=args.machine)
    print(f"{len(written)} finished run(s) exported to {args.dest}")
    return 0

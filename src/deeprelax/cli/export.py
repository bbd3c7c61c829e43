"""``deeprelax export``: finished runs' small files into a results folder
(:func:`deeprelax.experiments.results.export_runs`)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
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


def cmd_export(args: argparse.Namespace) -> int:
    from deeprelax.experiments.results import export_runs

    written = export_runs(args.runs, args.dest, machine=args.machine)
    print(f"{len(written)} finished run(s) exported to {args.dest}")
    return 0

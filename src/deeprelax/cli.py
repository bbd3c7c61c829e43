"""`deeprelax ...` command line: argument wiring only; the work is done in the subpackages.

Each area registers its own subcommands through a ``register(subparsers)`` function, imported
lazily so that ``deeprelax --help`` stays fast and ``deeprelax verify`` does not need torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module that provides ``register(subparsers)``), in the order they appear in --help.
_COMMAND_MODULES = (
    "deeprelax.experiments.commands",  # train, reproduce, models, demo
    "deeprelax.experiments.report_commands",  # report, export
    "deeprelax.experiments.pde_commands",  # figure, verify
    "deeprelax.experiments.analysis_commands",  # analyze
)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deeprelax",
        description="Deep Relaxation (arXiv:1704.04932): PDE-smoothed optimizers, "
        "the paper's experiments, the PDE toolkit and landscape diagnostics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that area is not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("deeprelax: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as exc:
        print(f"deeprelax {args.command}: error: {exc}", file=sys.stderr)
        return 1

"""`deeprelax ...` command line: one module per command, each parsing its arguments and calling
one library function (deeprelax.experiments, deeprelax.figures, deeprelax.pde).

Each module has ``register(subparsers)``; the libraries are imported only when a command runs, so
that ``deeprelax --help`` stays fast and ``deeprelax verify`` does not need torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# the command modules, in the order their commands appear in --help
_COMMANDS = (
    "train",
    "reproduce",
    "models",
    "demo",
    "report",
    "export",
    "verify",
    "figure",
    "analyze",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deeprelax",
        description="Deep Relaxation (arXiv:1704.04932): PDE-smoothed optimizers, "
        "the paper's experiments, the PDE toolkit and landscape diagnostics.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
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
    except (ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as exc:
        print(f"deeprelax {args.command}: error: {exc}", file=sys.stderr)
        return 1

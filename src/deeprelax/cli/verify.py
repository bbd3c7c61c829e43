"""``deeprelax verify``: the paper's checkable claims, each with its measured error
(:func:`deeprelax.pde.claims.verify`; numpy only)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check the paper's claims numerically (PAPER.md §11)",
        description="Run every numerically checkable claim of the paper and print its error.",
    )
    p.add_argument("--only", type=int, nargs="*", help="claim numbers to run (default: all)")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from deeprelax.pde.claims import verify

    return 1 if verify(args.only, log=print) else 0

"""``deeprelax models``: the paper's models and their parameter counts
(:func:`deeprelax.experiments.models.model_table`)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the paper's models and their parameter counts")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from deeprelax.experiments.models import model_table

    print(model_table())
    return 0

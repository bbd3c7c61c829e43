"""``deeprelax figure {smoothing,landscape}``: the PDE figures
(:func:`deeprelax.figures.draw_figure`)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    fig = subparsers.add_parser(
        "figure",
        help="draw the PDE figures (smoothing = paper's Figure 1, landscape = 2-D)",
        description="Regenerate a figure as PNG in --out.",
    )
    fig.add_argument("name", choices=("smoothing", "landscape"))
    fig.add_argument("--out", required=True, help="output directory")
    fig.add_argument("--seed", type=int, default=42)
    fig.set_defaults(func=cmd_figure)


def cmd_figure(args: argparse.Namespace) -> int:
    from deeprelax.figures import draw_figure

    path, lines = draw_figure(args.name, args.out, seed=args.seed)
    for line in lines:
        print(line)
    print(f"wrote {path}")
    return 0

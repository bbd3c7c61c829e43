"""Matplotlib figures for the landscape diagnostics (matplotlib is imported lazily)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_density", "plot_interpolation", "plot_reports", "plot_top_eigenvalues"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_density(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "Hessian eigenvalue density (SLQ)",
    floor: float = 1e-7,
) -> None:
    """Densities on a log y-axis (as in the Entropy-SGD paper's eigenspectrum figure), one curve
    per ``label -> (grid, density)``; values below ``floor`` are clipped to it."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (grid, dens) in curves.items():
        ax.semilogy(grid, np.maximum(np.asarray(dens), floor), label=label)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    ax.set_ylim(bottom=floor)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_top_eigenvalues(
    curves: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "Top eigenvalues"
) -> None:
    """Eigenvalues against their rank, one marker series per ``label -> eigenvalues``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, vals in curves.items():
        ax.plot(np.arange(1, len(vals) + 1), vals, "o-", label=label)
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_interpolation(
    alphas: Sequence[float],
    series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]],
    path: str | os.PathLike,
    labels: tuple[str, str] = ("A", "B"),
) -> None:
    """Loss (left axis, solid) and error % (right axis, dashed) along (1-alpha) A + alpha B, one pair
    of curves per ``name -> (losses, errors or None)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax2 = ax.twinx()
    for i, (name, (losses, errors)) in enumerate(series.items()):
        color = f"C{i}"
        ax.plot(alphas, losses, "-", color=color, label=f"{name} loss")
        if errors is not None:
            ax2.plot(alphas, 100 * np.asarray(errors), "--", color=color, label=f"{name} error")
    ax.set_xlabel(f"alpha: (1 - alpha) {labels[0]} + alpha {labels[1]}")
    ax.set_ylabel("loss")
    ax2.set_ylabel("error (%)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reports(
    reports: Mapping[str, Mapping], out_dir: str | os.PathLike, prefix: str = ""
) -> list[str]:
    """Overlay several ``deeprelax analyze`` reports (``label -> parsed analysis.json``): writes
    ``{prefix}density.png`` and ``{prefix}top_eigenvalues.png``, and ``{prefix}interpolation.png``
    from the first report that has an interpolation. Returns the paths written."""
    out = os.fspath(out_dir)
    paths = [os.path.join(out, f"{prefix}{n}.png") for n in ("density", "top_eigenvalues")]
    dens = {k: (r["density"]["grid"], r["density"]["density"]) for k, r in reports.items()}
    plot_density(dens, paths[0])
    plot_top_eigenvalues({k: r["top_eigenvalues"] for k, r in reports.items()}, paths[1])
    for label, r in reports.items():
        it = r.get("interpolation")
        if it:
            path = os.path.join(out, f"{prefix}interpolation.png")
            series = {
                "train": (it["train_loss"], it["train_error"]),
                "test": (it["test_loss"], it["test_error"]),
            }
            plot_interpolation(
                it["alphas"], series, path, (label, it.get("other_optim") or "other")
            )
            paths.append(path)
            break
    return paths

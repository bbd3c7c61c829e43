"""Figures of the landscape diagnostics: the PNGs of ``deeprelax analyze`` and overlays of several
analysis reports."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ._pyplot import pyplot

__all__ = [
    "analysis_figures",
    "plot_density",
    "plot_interpolation",
    "plot_reports",
    "plot_top_eigenvalues",
]


def plot_density(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    title: str = "Hessian eigenvalue density (SLQ)",
    floor: float = 1e-7,
) -> None:
    """Densities on a log y-axis (as in the Entropy-SGD paper's eigenspectrum figure), one curve
    per ``label -> (grid, density)``; values below ``floor`` are clipped to it."""
    plt = pyplot()
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
    plt = pyplot()
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
    plt = pyplot()
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


def analysis_figures(
    report: Mapping, out_dir: str | os.PathLike, name: str, other_name: str | None = None
) -> None:
    """The PNGs of one ``deeprelax analyze`` report (a parsed ``analysis.json``):
    ``density.png``, ``top_eigenvalues.png`` and, with an interpolation, ``interpolation.png``."""
    out = os.fspath(out_dir)
    dens = report["density"]
    plot_density({name: (dens["grid"], dens["density"])}, os.path.join(out, "density.png"))
    plot_top_eigenvalues(
        {name: report["top_eigenvalues"]}, os.path.join(out, "top_eigenvalues.png")
    )
    if "interpolation" in report:
        it = report["interpolation"]
        plot_interpolation(
            it["alphas"],
            {
                "train": (it["train_loss"], it["train_error"]),
                "test": (it["test_loss"], it["test_error"]),
            },
            os.path.join(out, "interpolation.png"),
            labels=(name, other_name or "other"),
        )

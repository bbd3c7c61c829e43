"""Figures like the paper's: validation error (%) against effective epochs, one line per method,
mean over seeds with a +-1 std band (PAPER.md §8, Figures 3-5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._pyplot import pyplot

__all__ = ["COLORS", "LABELS", "plot_validation"]

#: the paper's colours: SGD black, Entropy-SGD red, HJ green, HEAT magenta
COLORS = {
    "sgd": "black",
    "entropy-sgd": "red",
    "hj": "green",
    "heat": "magenta",
    "prox-sgd": "blue",
    "elastic-sgd": "orange",
    "parle": "teal",
}
LABELS = {
    "sgd": "SGD",
    "entropy-sgd": "Entropy-SGD",
    "hj": "HJ",
    "heat": "HEAT",
    "prox-sgd": "Prox-SGD (H-ESGD)",
    "elastic-sgd": "Elastic-SGD",
    "parle": "Parle",
}


def plot_validation(
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]],
    path: str | Path,
    title: str,
    reference: float | None = None,
) -> Path:
    """Write a PNG. ``curves[method] = (effective_epochs, mean_error, std_error, n_seeds)``;
    ``reference`` draws a dashed horizontal line (the paper's best cell)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=110)
    lows = []
    for method, (ee, mean, std, n) in curves.items():
        if len(ee) == 0:
            continue
        color = COLORS.get(method, None)
        ax.plot(ee, mean, color=color, lw=1.5, label=f"{LABELS.get(method, method)} (n={n})")
        if n > 1:
            ax.fill_between(ee, mean - std, mean + std, color=color, alpha=0.2, lw=0)
        lows.append(float(np.min(mean)))
    if reference is not None:
        ax.axhline(reference, color="gray", ls="--", lw=1, label=f"paper {reference:g} %")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("effective epochs (gradient evaluations / batches per epoch)")
    ax.set_ylabel("validation error (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

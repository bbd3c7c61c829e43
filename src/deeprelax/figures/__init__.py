"""Every figure of the project, and the only package that imports matplotlib (lazily).

Figure 1 and the 2-D landscape (:mod:`.smoothing`, :mod:`.landscape`), the validation curves of
the reproduction (:mod:`.validation`) and the landscape diagnostics (:mod:`.diagnostics`). Each
drawing function takes plain data (arrays, parsed JSON) and writes a PNG.
"""

from __future__ import annotations

from pathlib import Path

from .diagnostics import (
    analysis_figures,
    plot_density,
    plot_interpolation,
    plot_reports,
    plot_top_eigenvalues,
)
from .landscape import figure_landscape
from .smoothing import figure_smoothing, smoothing_data
from .validation import COLORS, LABELS, plot_validation

__all__ = [
    "COLORS",
    "FIGURES",
    "LABELS",
    "analysis_figures",
    "draw_figure",
    "figure_landscape",
    "figure_smoothing",
    "plot_density",
    "plot_interpolation",
    "plot_reports",
    "plot_top_eigenvalues",
    "plot_validation",
    "smoothing_data",
]

#: the figures ``deeprelax figure NAME`` draws: NAME -> function(out, seed) -> (path, lines)
FIGURES = {"smoothing": figure_smoothing, "landscape": figure_landscape}


def draw_figure(name: str, out: str | Path, seed: int = 42) -> tuple[Path, list[str]]:
    """Draw the named figure (a key of :data:`FIGURES`) into the folder ``out`` (created);
    returns the PNG's path and the figure's text lines (its measured checks)."""
    if name not in FIGURES:
        raise ValueError(f"Invalid figure value: {name!r} (choose from {', '.join(FIGURES)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return FIGURES[name](out, seed=seed)

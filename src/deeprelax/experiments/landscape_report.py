"""The landscape table from committed analysis reports: what ``deeprelax report --landscape-into``
writes into docs/landscape.md.

Reads ``RESULTS/<model>/<method>/seed<k>/landscape/analysis.json`` (written by ``deeprelax analyze``
on a run's final checkpoint) and prints, per model, one row per run and, for each method with more
than one seed, the mean ± sample std over its seeds. Nothing is read from checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .grid import BUDGETS, METHOD_HYPER
from .report import _order

__all__ = ["LANDSCAPE_COLUMNS", "landscape_markdown", "load_landscapes"]

#: (header, how to read the value from analysis.json, format)
LANDSCAPE_COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("loss", ("loss",), "{:.2e}"),
    ("top eigenvalue", ("top_eigenvalues", 0), "{:.4f}"),
    ("10th eigenvalue", ("top_eigenvalues", 9), "{:.1e}"),
    ("trace (Hutchinson)", ("trace", "estimate"), "{:.3f}"),
    ("f_γ − f", ("local_entropy", "value_minus_loss"), "{:.1e}"),
    ("ε-sharpness (%)", ("sharpness", "epsilon_sharpness"), "{:.2f}"),
    ("SAM increase", ("sharpness", "sam_increase"), "{:.1e}"),
)

LEGEND = (
    "Each run's final checkpoint, analyzed by `deeprelax analyze` with its defaults (1,000 training "
    "images, 4 × 250, seed 0; batch norm in eval mode). Per method with several seeds, the last "
    "row is the mean ± sample std over its seeds; the ± of a single run's trace and f_γ − f "
    "(their Monte-Carlo standard errors) are in the JSON files."
)


def _value(report: dict[str, Any], path: tuple) -> float:
    obj: Any = report
    for key in path:
        obj = obj[key]
    return float(obj)


def load_landscapes(root: str | Path) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """``{model: {method: {seed: analysis report}}}`` for every committed ``landscape/analysis.json``
    under ``root``; a file that is not a JSON object raises ``ValueError`` naming it."""
    found: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for path in sorted(Path(root).glob("*/*/seed*/landscape/analysis.json")):
        model, method, seed_dir = path.parts[-5], path.parts[-4], path.parts[-3]
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable analysis report ({exc})") from exc
        if not isinstance(report, dict):
            raise ValueError(f"{path}: not an analysis report (a JSON object expected)")
        found.setdefault(model, {}).setdefault(method, {})[int(seed_dir[4:])] = report
    return {
        model: {m: found[model][m] for m in _order(list(found[model]), list(METHOD_HYPER))}
        for model in _order(list(found), list(BUDGETS))
    }


def _cells(values: list[float], fmt: str) -> str:
    arr = np.asarray(values)
    if len(arr) == 1:
        return fmt.format(arr[0])
    return f"{fmt.format(arr.mean())} ± {fmt.format(arr.std(ddof=1))}"


def landscape_markdown(root: str | Path) -> str:
    """The landscape tables (one per model) of the committed analysis reports under ``root``."""
    lines = [LEGEND, ""]
    headers = [h for h, _, _ in LANDSCAPE_COLUMNS]
    for model, methods in load_landscapes(root).items():
        lines += [
            f"### {model}",
            "",
            "| method | seed | " + " | ".join(headers) + " |",
            "|---|---|" + "---|" * len(headers),
        ]
        for method, seeds in methods.items():
            columns = [
                [_value(seeds[s], path) for s in sorted(seeds)] for _, path, _ in LANDSCAPE_COLUMNS
            ]
            for i, seed in enumerate(sorted(seeds)):
                cells = [fmt.format(col[i]) for col, (_, _, fmt) in zip(columns, LANDSCAPE_COLUMNS)]
                lines.append(f"| {method} | {seed} | " + " | ".join(cells) + " |")
            if len(seeds) > 1:
                cells = [_cells(col, fmt) for col, (_, _, fmt) in zip(columns, LANDSCAPE_COLUMNS)]
                lines.append(
                    f"| **{method}** | mean ± std ({len(seeds)}) | " + " | ".join(cells) + " |"
                )
        lines.append("")
    if len(lines) == 2:
        lines.append("(no landscape reports yet)")
    return "\n".join(lines)

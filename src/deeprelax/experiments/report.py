"""``deeprelax report RESULTS``: the tables and validation curves of committed results alone.

Reads ``RESULTS/<model>/<method>/seed<k>/{metrics.jsonl,config.json}`` (what
:func:`~deeprelax.experiments.results.export_runs` writes; no checkpoints) and prints, per model,
one markdown table: seeds, final and best test error (mean ± sample std over seeds @ effective
epochs), the effective epochs at which the seed-mean curve first reaches SGD's final mean error,
the run's wall-clock time at that evaluation, and the paper's cell (:data:`grid.PAPER_CELLS`).
The output is deterministic, so that the tables in the docs can be checked against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .grid import BUDGETS, METHOD_HYPER, PAPER_CELLS, paper_best
from .results import read_metrics

__all__ = [
    "Cell",
    "load_results",
    "report",
    "report_figures",
    "report_markdown",
    "write_into_page",
]

BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"


@dataclass
class Cell:
    """The seeds of one (model, method): curves aligned by evaluation index."""

    model: str
    method: str
    seeds: list[int]
    ee: np.ndarray  # (evals,) seed-mean effective epochs of each evaluation
    err: np.ndarray  # (seeds, evals) test error %
    wall: np.ndarray  # (seeds, evals) the run's wall-clock seconds at each evaluation
    grid_protocol: bool
    machines: list[str]


def _order(names: list[str], reference: list[str]) -> list[str]:
    return sorted(
        names, key=lambda n: (reference.index(n) if n in reference else len(reference), n)
    )


def load_results(root: str | Path) -> dict[str, dict[str, Cell]]:
    """``{model: {method: Cell}}`` from a results folder; ``ValueError`` naming the file for a
    missing or unreadable file, or for seeds of one cell run under different configurations."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a results folder")
    runs: dict[tuple[str, str], list[tuple[int, dict[str, Any], list[dict[str, Any]]]]] = {}
    for folder in sorted(p for p in root.glob("*/*/seed*") if p.is_dir()):
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise ValueError(f"{config_path}: missing (export the run with its configuration)")
        try:
            config = json.loads(config_path.read_text())
        except ValueError as exc:
            raise ValueError(f"{config_path}: not JSON ({exc})") from exc
        if not (folder / "metrics.jsonl").is_file():
            raise ValueError(f"{folder / 'metrics.jsonl'}: missing")
        rows = read_metrics(folder / "metrics.jsonl")
        if not rows:
            raise ValueError(f"{folder / 'metrics.jsonl'}: no evaluations")
        spec = config["run"]
        runs.setdefault((spec["model"], spec["optim"]), []).append(
            (int(spec["seed"]), config, rows)
        )
    cells: dict[str, dict[str, Cell]] = {}
    for (model, method), seeds in runs.items():
        cells.setdefault(model, {})[method] = _cell(
            root, model, method, sorted(seeds, key=lambda s: s[0])
        )
    models = _order(list(cells), list(BUDGETS))
    return {m: {k: cells[m][k] for k in _order(list(cells[m]), list(METHOD_HYPER))} for m in models}


def _cell(root: Path, model: str, method: str, seeds: list) -> Cell:
    first = {k: v for k, v in seeds[0][1]["run"].items() if k != "seed"}
    for seed, config, _ in seeds[1:]:
        if {k: v for k, v in config["run"].items() if k != "seed"} != first:
            raise ValueError(
                f"{root / model / method / f'seed{seed}' / 'config.json'}: configuration differs "
                f"from seed {seeds[0][0]}'s beyond the seed"
            )
    length = min(len(rows) for _, _, rows in seeds)
    ee = np.array([[r["effective_epochs"] for r in rows[:length]] for _, _, rows in seeds])
    return Cell(
        model=model,
        method=method,
        seeds=[s for s, _, _ in seeds],
        ee=ee.mean(axis=0),
        err=np.array(
            [[r["test_error"] for r in rows[:length]] for _, _, rows in seeds], dtype=float
        ),
        wall=np.array([[r["wall_s"] for r in rows[:length]] for _, _, rows in seeds], dtype=float),
        grid_protocol=all(c.get("grid_protocol", False) for _, c, _ in seeds),
        machines=sorted({c["machine"] for _, c, _ in seeds if c.get("machine")}),
    )


def _fmt(values: np.ndarray) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def _clock(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.2f} h"


def _row(cell: Cell, target: float | None) -> str:
    err = cell.err
    best_at = cell.ee[err.argmin(axis=1)].mean()
    reach, clock = "-", "-"
    if target is not None:
        hit = np.nonzero(err.mean(axis=0) <= target + 1e-12)[0]
        if len(hit):
            reach, clock = f"{cell.ee[hit[0]]:.1f}", _clock(float(cell.wall[:, hit[0]].mean()))
        else:
            reach, clock = "not reached", "-"
    seeds = ", ".join(str(s) for s in cell.seeds)
    if not cell.grid_protocol:
        seeds += " (not the grid's protocol)"
    paper = PAPER_CELLS.get((cell.model, cell.method), "-")
    return (
        f"| {cell.method} | {seeds} | {_fmt(err[:, -1])} @ {cell.ee[-1]:.1f} | "
        f"{_fmt(err.min(axis=1))} @ {best_at:.1f} | {reach} | {clock} | {paper} |"
    )


LEGEND = (
    "Test error (%), mean ± sample std over seeds @ effective epochs (EE). *EE to reach*: the "
    "first evaluation at which the seed-mean curve is at or below SGD's final mean error; "
    "*wall-clock*: the runs' own clocks at that evaluation (seed mean, evaluations included)."
)


def report_markdown(root: str | Path) -> str:
    """The report's tables as markdown (one section per model)."""
    lines: list[str] = [LEGEND, ""]
    for model, cells in load_results(root).items():
        sgd = cells.get("sgd")
        target = float(sgd.err[:, -1].mean()) if sgd is not None else None
        reach = (
            f"EE to reach SGD's final ({target:.2f} %)"
            if target is not None
            else "EE to reach SGD's final"
        )
        lines += [
            f"### {model}",
            "",
            f"| method | seeds | final error % @ EE | best error % @ EE | {reach} | wall-clock to reach it | paper |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [_row(cell, target) for cell in cells.values()]
        machines = sorted({m for c in cells.values() for m in c.machines})
        if machines:
            lines += ["", f"Machines: {'; '.join(machines)}."]
        lines.append("")
    return "\n".join(lines)


def report_figures(root: str | Path, folder: str | Path) -> list[Path]:
    """``folder/<model>_valid.png``: the seed-mean validation error ± one sample std per method."""
    from deeprelax.figures import plot_validation

    paths = []
    for model, cells in load_results(root).items():
        curves = {}
        for method, c in cells.items():
            std = c.err.std(axis=0, ddof=1) if len(c.seeds) > 1 else np.zeros(len(c.ee))
            curves[method] = (c.ee, c.err.mean(axis=0), std, len(c.seeds))
        title = f"{model}: validation error (mean ± std over seeds)"
        paths.append(
            plot_validation(curves, Path(folder) / f"{model}_valid.png", title, paper_best(model))
        )
    return paths


def write_into_page(page: str | Path, text: str, marker: str = "report") -> Path:
    """Replace what lies between the page's ``<!-- MARKER:begin -->`` and ``<!-- MARKER:end -->``
    lines (default ``report``) with ``text``; ``ValueError`` naming the page when the markers are
    missing."""
    page = Path(page)
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    content = page.read_text() if page.is_file() else ""
    if (
        content.count(begin) != 1
        or content.count(end) != 1
        or content.index(begin) > content.index(end)
    ):
        raise ValueError(f"{page}: needs one {begin} line followed by one {end} line")
    head, rest = content.split(begin, 1)
    tail = rest.split(end, 1)[1]
    page.write_text(f"{head}{begin}\n{text.strip()}\n{end}{tail}")
    return page


def report(
    results: str | Path,
    *,
    figures: str | Path | None = None,
    into: str | Path | None = None,
    landscape_into: str | Path | None = None,
    log=print,
) -> tuple[str, list[Path]]:
    """``deeprelax report``: log the tables of ``results`` (:func:`report_markdown`), write them
    into the page ``into`` (:func:`write_into_page`) and draw the figures into the folder
    ``figures`` (:func:`report_figures`; None: no figures); with ``landscape_into``, also the
    landscape tables of the committed analysis reports
    (:func:`~deeprelax.experiments.landscape_report.landscape_markdown`) between that page's
    ``landscape`` markers. Returns the tables and figure paths."""
    text = report_markdown(results)
    log(text)
    if into:
        log(f"tables written into {write_into_page(into, text)}")
    if landscape_into:
        from .landscape_report import landscape_markdown

        landscape = landscape_markdown(results)
        log(landscape)
        log(
            f"landscape tables written into {write_into_page(landscape_into, landscape, 'landscape')}"
        )
    paths = [] if figures is None else report_figures(results, figures)
    for path in paths:
        log(f"figure: {path}")
    return text, paths

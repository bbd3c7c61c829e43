"""How a method's seed-mean validation curve lies against SGD's, phase by phase, from results alone.

Reads the committed results (``deeprelax report``'s folder layout, through
:func:`deeprelax.experiments.report.load_results`) and, per model, compares each method's
seed-mean test error with SGD's at equal evaluations (the curves are aligned by evaluation index,
as the report aligns them). The phases are the grid's learning-rate phases, the constant-rate
phase split at ``--early`` of the budget: per phase, at how many evaluations the method is
below SGD (ahead), below or level (at most), and the mean difference in points; then where the
method first reaches SGD's error at each phase's end. The numbers quoted in docs/results.md's
status paragraph are this script's output::

    python scripts/compare_curves.py results/mnist
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from deeprelax.experiments.grid import BUDGETS, LR_SCHEDULES
from deeprelax.experiments.report import Cell, load_results


def phases(model: str, early: float) -> list[tuple[float, float]]:
    """(start, end] in effective epochs: the learning-rate phases, the first split at ``early``."""
    starts = [float(p.split(":")[0]) for p in LR_SCHEDULES[model].split(",")]
    ends = [*starts[1:], BUDGETS[model]]
    out = []
    for a, b in zip(starts, ends):
        cut = a + early * BUDGETS[model]
        out.extend([(a, cut), (cut, b)] if a == 0.0 and early and cut < b else [(a, b)])
    return out


def compare(cell: Cell, sgd: Cell, spans: list[tuple[float, float]]) -> list[str]:
    n = min(cell.err.shape[1], sgd.err.shape[1])
    ee, mine, base = sgd.ee[:n], cell.err[:, :n].mean(axis=0), sgd.err[:, :n].mean(axis=0)
    diff = mine - base
    lines, reach = [], []
    for a, b in spans:
        sel = np.nonzero((ee > a + 1e-9) & (ee <= b + 1e-9))[0]
        if not len(sel):
            continue
        d = diff[sel]
        lines.append(
            f"  EE ({a:g}, {b:g}]: ahead at {int((d < -1e-12).sum())} of {len(sel)} evaluations, "
            f"at or below at {int((d <= 1e-12).sum())}; mean difference {d.mean():+.3f} points"
        )
        target = base[sel[-1]]
        hit = np.nonzero(cell.err.mean(axis=0) <= target + 1e-12)[0]
        where = f"at {cell.ee[hit[0]]:.1f} EE" if len(hit) else "never"
        reach.append(f"  SGD's error at {ee[sel[-1]]:g} EE ({target:.2f} %): reached {where}")
    return lines + reach


def _first(err: np.ndarray, ee: np.ndarray, target: float) -> str:
    hit = np.nonzero(err <= target + 1e-12)[0]
    return f"{ee[hit[0]]:.0f}" if len(hit) else "never"


def per_seed(cell: Cell, sgd: Cell) -> list[str]:
    """Each seed's final error and where it first reaches SGD's final seed-mean error (SGD's own
    seeds beside), and Welch's t-test on the final errors: whether a difference of the means
    stands out of the seed spread."""
    target = float(sgd.err[:, -1].mean())
    finals = ", ".join(f"{e:.2f}" for e in cell.err[:, -1])
    own = ", ".join(f"{e:.2f}" for e in sgd.err[:, -1])
    reach = ", ".join(_first(e, cell.ee, target) for e in cell.err)
    base = ", ".join(_first(e, sgd.ee, target) for e in sgd.err)
    pace = ", ".join(f"{w:.1f}" for w in cell.wall[:, -1] / cell.ee[-1])
    sgd_pace = ", ".join(f"{w:.1f}" for w in sgd.wall[:, -1] / sgd.ee[-1])
    lines = [
        f"  per seed: final error {finals} % (SGD {own} %); SGD's final mean error "
        f"({target:.2f} %) first reached at {reach} EE (SGD's seeds: {base} EE)",
        f"  per seed: {pace} s per EE on the runs' clocks (SGD {sgd_pace})",
    ]
    if len(cell.seeds) > 1 and len(sgd.seeds) > 1:
        from scipy.stats import ttest_ind

        test = ttest_ind(cell.err[:, -1], sgd.err[:, -1], equal_var=False)
        diff = cell.err[:, -1].mean() - sgd.err[:, -1].mean()
        lines.append(
            f"  final error, mean difference {diff:+.3f} points: "
            f"Welch t = {test.statistic:+.2f}, two-sided p = {test.pvalue:.2g}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="results folder (e.g. results/mnist)")
    parser.add_argument(
        "--early", type=float, default=0.125, help="split the constant-rate phase here (fraction)"
    )
    args = parser.parse_args(argv)
    try:
        cells = load_results(args.results)
    except ValueError as exc:
        print(f"compare_curves: {exc}", file=sys.stderr)
        return 1
    for model, methods in cells.items():
        sgd = methods.get("sgd")
        if sgd is None:
            continue
        for method, cell in methods.items():
            if method == "sgd":
                continue
            print(
                f"{model}: {method} (seeds {', '.join(map(str, cell.seeds))}) against sgd "
                f"(seeds {', '.join(map(str, sgd.seeds))}), seed-mean curves"
            )
            print("\n".join(compare(cell, sgd, phases(model, args.early)) + per_seed(cell, sgd)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

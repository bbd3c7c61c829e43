"""Raw results to commit: each finished run's small files, out of a ``reproduce`` output folder.

``export_runs(runs, dest)`` copies, for every finished run under ``runs/<model>/<method>/seed<i>/``,
``metrics.jsonl``, ``summary.json`` and ``config.json`` to ``dest/<model>/<method>/seed<k>/`` with
``k`` the run's actual seed (42, 43, ...). Checkpoints are never copied.

``config.json`` holds the run's configuration (``RunSpec``: everything that defines the
trajectory), the trainer's settings, the batches per epoch and ``grid_protocol``: whether the run
is the grid's cell at the paper's budgets (:func:`~deeprelax.experiments.grid.grid_spec`). Runs
whose ``summary.json`` is missing (killed between their last evaluation and the summary) are
recovered from ``checkpoint.pt``, whose metrics and configuration are the same.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .grid import SEED_BASE, grid_spec

__all__ = ["export_runs", "read_metrics", "run_config"]

_TRANSIENT = ("until", "quiet", "stop_at")  # how a call was made, not what the run is


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl``; ``ValueError`` naming the file for a line that is not JSON."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{path}: line {number} is not JSON ({exc})") from exc
    return rows


def run_config(summary: dict[str, Any], machine: str | None = None) -> dict[str, Any]:
    """``config.json`` of a finished run, from its summary."""
    spec = summary["config"]
    train = {k: v for k, v in (summary.get("train_config") or {}).items() if k not in _TRANSIENT}
    config: dict[str, Any] = {
        "run": spec,
        "train": train,
        "batches_per_epoch": summary.get("batches_per_epoch"),
        "grid_protocol": _is_grid_cell(spec),
    }
    if machine:
        config["machine"] = machine
    return config


def _is_grid_cell(spec: dict[str, Any]) -> bool:
    try:
        cell = grid_spec(spec["model"], spec["optim"], int(spec["seed"]) - SEED_BASE)
    except (KeyError, ValueError, TypeError):
        return False
    return cell.config() == {k: spec.get(k) for k in cell.config()}


def _summary_from_checkpoint(path: Path) -> dict[str, Any] | None:
    """The summary a finished run would have written, rebuilt from its checkpoint."""
    from .checkpoint import load_checkpoint

    blob = load_checkpoint(path)
    config, progress = blob["config"], blob["progress"]
    rows = list(progress.get("metrics") or [])
    budget = float(config.get("budget", math.inf))
    if not rows or rows[-1]["effective_epochs"] < budget - 1e-6:
        return None
    last = rows[-1]
    errors = [r["test_error"] for r in rows]
    return {
        "status": "finished",
        "config": config,
        "train_config": None,
        "batches_per_epoch": round(last["grad_evals"] / last["effective_epochs"]),
        "effective_epochs": last["effective_epochs"],
        "grad_evals": last["grad_evals"],
        "steps": last["steps"],
        "wall_s": progress.get("wall_s", last["wall_s"]),
        "final": last,
        "best": rows[errors.index(min(errors))],
        "recovered_from": "checkpoint.pt",
    }


def _finished(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    summary_path = run / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except ValueError as exc:
            raise ValueError(f"{summary_path}: not JSON ({exc})") from exc
        if summary.get("status") != "finished":
            return None
        rows = read_metrics(run / "metrics.jsonl")
        return summary, rows
    if (run / "checkpoint.pt").is_file():
        summary = _summary_from_checkpoint(run / "checkpoint.pt")
        if summary is not None:
            return summary, [dict(r) for r in _checkpoint_rows(run / "checkpoint.pt")]
    return None


def _checkpoint_rows(path: Path) -> list[dict[str, Any]]:
    from .checkpoint import load_checkpoint

    return list(load_checkpoint(path)["progress"]["metrics"])


def export_runs(
    runs: str | Path, dest: str | Path, *, machine: str | None = None, quiet: bool = False
) -> list[Path]:
    """Export every finished run under ``runs`` to ``dest``; returns the folders written.

    A destination that already holds a different run (another configuration) is an error; the
    same run is rewritten (its files are identical but for ``machine``)."""
    runs, dest = Path(runs), Path(dest)
    if not runs.is_dir():
        raise ValueError(f"{runs}: not a folder of runs")
    written = []
    for run in sorted(p for p in runs.glob("*/*/seed*") if p.is_dir()):
        found = _finished(run)
        if found is None:
            continue
        summary, rows = found
        if rows and summary.get("final") and rows[-1] != summary["final"]:
            raise ValueError(f"{run / 'metrics.jsonl'}: last row differs from summary.json's final")
        spec = summary["config"]
        target = dest / spec["model"] / spec["optim"] / f"seed{spec['seed']}"
        old = target / "config.json"
        previous = json.loads(old.read_text()) if old.is_file() else {}
        if previous and previous.get("run") != spec:
            raise ValueError(f"{old}: holds a different run than {run}; not overwritten")
        target.mkdir(parents=True, exist_ok=True)
        (target / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (target / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        config = run_config(summary, machine or previous.get("machine"))
        (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        written.append(target)
        if not quiet:
            print(f"exported {run} -> {target}")
    return written

"""``deeprelax reproduce``: run the grid (models x methods x seeds), resumably, then write the
table beside the paper's cells and the validation-error figures.

Layout: ``OUT/<model>/<method>/seed<k>/{metrics.jsonl,summary.json,checkpoint.pt}``,
``OUT/table.md``, ``OUT/<model>_valid.png``. A run whose summary says ``finished`` is skipped; an
interrupted one resumes from its checkpoint on the identical trajectory. ``stages`` (effective
epochs) runs every cell to the first stage before any cell goes further, so an interrupted sweep
has compared all methods early rather than one method fully.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .grid import PAPER_CELLS, grid_spec, paper_best
from .jobs import Task, run_one, run_tasks
from .run import REPLICA_METHODS, is_finished

__all__ = ["collect", "reproduce", "write_table"]


def run_dir(out: Path, model: str, method: str, seed_index: int) -> Path:
    return out / model / method / f"seed{seed_index}"


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break  # a half-written last line
    return rows


def collect(out: str | Path, model: str, method: str, seeds: int) -> dict[str, Any]:
    """Seed-aligned curves of one cell (evaluations happen at the same gradient counts for every
    seed, so curves align by index; partial runs are cut to the shortest)."""
    out = Path(out)
    runs = [run_dir(out, model, method, s) for s in range(seeds)]
    curves = [_read_metrics(r / "metrics.jsonl") for r in runs]
    curves = [c for c in curves if c]
    finished = sum(is_finished(r) for r in runs)
    diverged = sum(_status(r) == "diverged" for r in runs)
    if not curves:
        return {"n": 0, "finished": finished, "diverged": diverged}
    length = min(len(c) for c in curves)
    ee = np.array([row["effective_epochs"] for row in curves[0][:length]])
    err = np.array([[row["test_error"] for row in c[:length]] for c in curves], dtype=float)
    return {"n": len(curves), "finished": finished, "diverged": diverged, "ee": ee, "err": err}


def _status(path: Path) -> str | None:
    try:
        return json.loads((path / "summary.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def _fmt(values: np.ndarray) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def write_table(out: Path, models: list[str], methods: list[str], seeds: int, header: str) -> str:
    """Markdown table: final and best error (mean ± sample std over seeds) @ effective epochs,
    the effective epochs at which the seed-mean curve first reaches SGD's final mean error, and
    the paper's cell."""
    lines = [header, ""]
    for model in models:
        cells = {m: collect(out, model, m, seeds) for m in methods}
        sgd = cells.get("sgd")
        target = float(sgd["err"][:, -1].mean()) if sgd and sgd["n"] else None
        ran = [c for c in cells.values() if c["n"]]
        common = min(float(c["ee"][-1]) for c in ran) if ran else None
        lines += [
            f"### {model}",
            "",
            "| method | seeds done | final error % @ EE | best error % @ EE | "
            + (
                f"error % @ {common:.1f} EE (all methods)"
                if common is not None
                else "error % @ common EE"
            )
            + " | EE to reach SGD's final "
            + (f"({target:.2f} %)" if target is not None else "")
            + " | paper |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, c in cells.items():
            paper = PAPER_CELLS.get((model, method), "-")
            if not c["n"]:
                lines.append(f"| {method} | 0/{seeds} | not run | | | | {paper} |")
                continue
            ee, err = c["ee"], c["err"]
            best_idx = err.argmin(axis=1)
            done = f"{c['finished']}/{seeds}" + (
                f" ({c['diverged']} diverged)" if c["diverged"] else ""
            )
            if c["finished"] < c["n"] or c["n"] < seeds:
                done += f", partial: {c['n']} run(s) at {ee[-1]:.1f} EE"
            reach = "-"
            if target is not None:
                hit = np.nonzero(err.mean(axis=0) <= target + 1e-12)[0]
                reach = f"{ee[hit[0]]:.1f}" if len(hit) else "not reached"
            at_common = err[
                :, int(np.argmin(np.abs(ee - common)))
            ]  # evaluation slots differ by < 1 step
            lines.append(
                f"| {method} | {done} | {_fmt(err[:, -1])} @ {ee[-1]:.1f} | "
                f"{_fmt(err.min(axis=1))} @ {ee[best_idx].mean():.1f} | {_fmt(at_common)} | {reach} | {paper} |"
            )
        lines.append("")
    text = "\n".join(lines)
    (out / "table.md").write_text(text)
    return text


def write_figures(
    out: Path, models: list[str], methods: list[str], seeds: int, suffix: str = ""
) -> list[Path]:
    from deeprelax.figures import plot_validation

    paths = []
    for model in models:
        curves = {}
        for method in methods:
            c = collect(out, model, method, seeds)
            if c["n"]:
                std = c["err"].std(axis=0, ddof=1) if c["n"] > 1 else np.zeros(len(c["ee"]))
                curves[method] = (c["ee"], c["err"].mean(axis=0), std, c["n"])
        if curves:
            paths.append(
                plot_validation(
                    curves,
                    out / f"{model}_valid.png",
                    f"{model}: validation error{suffix}",
                    paper_best(model),
                )
            )
    return paths


def reproduce(
    models: list[str],
    methods: list[str],
    seeds: int,
    out: str | Path,
    *,
    quick: bool = False,
    stages: list[float] | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "auto",
    quiet: bool = False,
    until: float | None = None,
    scale: float = 1.0,
    jobs: int = 1,
    time_limit: float | None = None,
    results: str | Path | None = None,
    log=print,
) -> tuple[str, list[Path]]:
    """Run (or resume) the grid and write ``table.md`` and figures; returns (table, figure paths).

    ``stages``: bring every run to each of these effective epochs in turn; ``until``: stop every
    run there (checkpoint kept; a later call without it continues to the budget). ``scale``:
    the protocol compressed in time (:func:`~deeprelax.experiments.grid.grid_spec`).
    ``jobs``: runs at once, each in its own process with one torch thread (same files as one at
    a time). ``time_limit`` (seconds): start no run after it and pause running ones at their
    first evaluation past it (resumable). ``results``: export every finished run's small files
    there (:func:`~deeprelax.experiments.results.export_runs`); a run already there with the
    same configuration is not run again.

    ``elastic-sgd`` and ``parle`` train one replica per process: launched by torchrun, every
    process runs this function and rank 0 writes the table; alone, they train one replica. Under
    torchrun only those two methods can be in ``methods``."""
    _check_options(methods, seeds, jobs, time_limit, until)
    lead = int(os.environ.get("RANK", "0")) == 0
    if not lead:
        log = _silent
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = {(m, me, s): grid_spec(m, me, s, quick, scale) for m in models for me in methods
             for s in range(seeds)}  # fmt: skip
    header = _header(quick, models, methods, seeds, scale)
    stop_at = time.time() + time_limit if time_limit is not None else None
    suffix = _suffix(quick, scale)
    grid = (models, methods, seeds)
    refresh = _refresher(out, grid, header, suffix, results) if lead else _silent
    options = dict(quiet=quiet or not lead, device=device, data_dir=data_dir,
                   cache_dir=cache_dir, stop_at=stop_at)  # fmt: skip
    plan: list[float | None] = sorted(s for s in set(stages or []) if until is None or s < until)
    plan.append(until)
    _run_stages(out, specs, plan, results, jobs, options, log, refresh)
    if not lead:
        return "", []
    refresh()
    table = write_table(out, models, methods, seeds, header)
    return table, write_figures(out, models, methods, seeds, suffix)


def _refresher(
    out: Path, grid: tuple[list[str], list[str], int], header: str, suffix: str, results
) -> Callable[[], None]:
    """Rewrite the table and figures (and export finished runs to ``results``)."""

    def refresh() -> None:
        write_table(out, *grid, header)
        write_figures(out, *grid, suffix)
        if results is not None:
            from .results import export_runs

            export_runs(out, results, quiet=True)

    return refresh


def _check_options(
    methods: list[str], seeds: int, jobs: int, time_limit: float | None, until: float | None
) -> None:
    if seeds < 1:
        raise ValueError(f"Invalid seeds value: {seeds}")
    if jobs < 1:
        raise ValueError(f"Invalid jobs value: {jobs}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"Invalid time_limit value: {time_limit}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    single = [m for m in methods if m not in REPLICA_METHODS]
    if world > 1 and single:
        raise ValueError(
            f"Invalid methods value: {','.join(single)} under torchrun (WORLD_SIZE={world}); "
            f"only {', '.join(REPLICA_METHODS)} train as replicas, run the rest without torchrun"
        )
    if world > 1 and jobs > 1:
        raise ValueError(f"Invalid jobs value: {jobs} under torchrun (WORLD_SIZE={world})")
    if until is not None and not until > 0:
        raise ValueError(f"Invalid until value: {until}")


def _run_stages(
    out: Path,
    specs: dict,
    plan: list[float | None],
    results: str | Path | None,
    jobs: int,
    options: dict[str, Any],
    log,
    refresh,
) -> None:
    """Bring every run to each stage of ``plan`` in turn (None: its budget)."""
    stop_at = options["stop_at"]
    for stage in plan:
        tasks = _stage_tasks(out, specs, stage, results)
        if jobs == 1:
            _run_inline(tasks, options, log, refresh)
        else:
            run_tasks(
                tasks,
                jobs,
                on_start=lambda t: log(f"[reproduce] {t.label} started ({t.path})"),
                on_done=lambda t, status, msg: (_report(log, t, status, msg), refresh()),
                **options,
            )
        if stop_at is not None and time.time() >= stop_at:
            log("[reproduce] time limit reached; unfinished runs resume on the next call")
            break


def _stage_tasks(
    out: Path, specs: dict, stage: float | None, results: str | Path | None = None
) -> list[Task]:
    """The runs that still have work to do up to ``stage`` (None: the budget); a run already
    exported to ``results`` with the same configuration is done."""
    tasks = []
    for (model, method, s), spec in specs.items():
        path = run_dir(out, model, method, s)
        if is_finished(path) or _status(path) == "diverged" or _exported(results, spec.config()):
            continue
        until = stage if stage is not None and stage < spec.budget else None
        if until is not None and _reached(path) >= until - 1e-9:
            continue
        label = f"{model} / {method} / seed {spec.seed} -> {until if until is not None else spec.budget:g} EE"
        tasks.append(Task(label, spec.config(), str(path), until))
    return tasks


def _run_inline(tasks: list[Task], options: dict, log, refresh) -> None:
    data: dict[str, Any] = {}
    for task in tasks:
        dataset = task.spec["dataset"]
        if dataset not in data:
            from .data import load_dataset

            data = {dataset: load_dataset(dataset, options["data_dir"], options["cache_dir"])}
        log(f"[reproduce] {task.label} ({task.path})")
        status, message = run_one(task, threads=None, data=data[dataset], **options)
        _report(log, task, status, message)
        refresh()


def _exported(results: str | Path | None, spec: dict[str, Any]) -> bool:
    if results is None:
        return False
    path = Path(results) / spec["model"] / spec["optim"] / f"seed{spec['seed']}" / "config.json"
    try:
        return json.loads(path.read_text()).get("run") == spec
    except (OSError, ValueError):
        return False


def _report(log, task: Task, status: str, message: str | None) -> None:
    if message:
        log(f"[reproduce] {task.label}: {status}: {message}", file=sys.stderr)
    elif status != "finished":
        log(f"[reproduce] {task.label}: {status}")


def _silent(*args: Any, **kwargs: Any) -> None:
    pass


def _suffix(quick: bool, scale: float) -> str:
    if quick:
        return " (quick preset)"
    return f" (protocol compressed x{scale:g})" if scale != 1 else ""


def _reached(path: Path) -> float:
    rows = _read_metrics(path / "metrics.jsonl")
    return rows[-1]["effective_epochs"] if rows else 0.0


def _header(
    quick: bool, models: list[str], methods: list[str], seeds: int, scale: float = 1.0
) -> str:
    head = (
        f"## Validation error (%) @ effective epochs — models {', '.join(models)}; methods "
        f"{', '.join(methods)}; {seeds} seed(s); mean ± sample std over seeds"
    )
    if quick:
        head += (
            "\n\n**Quick preset** (`--quick`): 1 effective epoch, evaluations every 0.25 EE on the "
            "first 2,000 test images, BN refreshed on 20 batches, inner loops L = 4, constant "
            "lr 0.1. A pipeline demonstration, not comparable to the paper's cells."
        )
    elif scale != 1:
        head += (
            f"\n\n**Protocol compressed x{scale:g}** (`--scale {scale:g}`): budgets and the "
            f"learning-rate breakpoints x{scale:g}, scoping rates /{scale:g}; every other setting "
            "as in the full grid. The paper's cells (right) are at the full budgets."
        )
    return head

"""Several grid runs at once: one process per run, one torch thread per process.

Each run is independent of the others (its own seeds, sampler and checkpoint), so running N of
them side by side gives the same files as running them one after the other; only ``wall_s``
differs. Workers are started with ``spawn`` (a fresh interpreter, no forked torch thread pools)
and keep the data set they loaded for the next run they take.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

__all__ = ["Task", "run_tasks", "run_one"]

_DATA: dict[str, Any] = {}  # per worker process: the last data set loaded


@dataclass(frozen=True)
class Task:
    """One run to bring to ``until`` effective epochs (``None``: to its budget)."""

    label: str
    spec: dict[str, Any]  # RunSpec.config()
    path: str
    until: float | None = None


def run_one(
    task: Task,
    *,
    quiet: bool = True,
    device: str = "auto",
    data_dir: str | None = None,
    cache_dir: str | None = None,
    stop_at: float | None = None,
    threads: int | None = 1,
    data: tuple | None = None,
) -> tuple[str, str | None]:
    """Train (or resume) one run; returns ``(status, message)``, status one of ``finished``,
    ``paused``, ``diverged`` or ``not started`` (``stop_at`` already past)."""
    import torch

    from .run import REPLICA_METHODS, RunSpec, run_experiment
    from .trainer import TrainingStopped

    if stop_at is not None and time.time() >= stop_at:
        return "not started", "time limit reached"
    if threads is not None:
        torch.set_num_threads(threads)
    spec = RunSpec(**task.spec)
    if data is None:
        if spec.dataset not in _DATA:
            from .data import load_dataset

            _DATA.clear()
            _DATA[spec.dataset] = load_dataset(spec.dataset, data_dir, cache_dir)
        data = _DATA[spec.dataset]
    if spec.optim in REPLICA_METHODS:  # one replica; the time limit applies at start
        stop_at = None
    common = dict(resume=True, until=task.until, quiet=quiet, device=device, data=data)
    try:
        summary = run_experiment(spec, task.path, stop_at=stop_at, **common)
    except TrainingStopped as exc:
        return "diverged", str(exc)
    return str(summary["status"]), None


def run_tasks(
    tasks: Iterable[Task],
    jobs: int,
    *,
    on_start: Callable[[Task], None] = lambda t: None,
    on_done: Callable[[Task, str, str | None], None] = lambda t, s, m: None,
    **options: Any,
) -> dict[str, str]:
    """Run ``tasks`` on ``jobs`` worker processes; returns ``{label: status}``.

    ``options`` go to :func:`run_one`. A task that raises (bad configuration, unreadable
    checkpoint) stops the submission of further tasks; the running ones finish, then the
    first error is raised again here."""
    if jobs < 1:
        raise ValueError(f"Invalid jobs value: {jobs}")
    pending = list(tasks)
    statuses: dict[str, str] = {}
    error: BaseException | None = None
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        running: dict[Future, Task] = {}
        while pending or running:
            while pending and len(running) < jobs and error is None:
                task = pending.pop(0)
                on_start(task)
                running[pool.submit(run_one, task, **options)] = task
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    status, message = future.result()
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    error = error or exc
                    continue
                statuses[task.label] = status
                on_done(task, status, message)
    if error is not None:
        raise error
    return statuses

"""Run a function in 1-3 gloo processes on 127.0.0.1, bounded in time (used by the tests here).

``run_workers(fn, n, *args)`` spawns ``n`` processes, each initializes a gloo process group on a
free local port, runs ``fn(rank, n, *args)`` and sends back its result (or its exception as a
``WorkerError`` record). Every process is killed if the whole group does not finish within
``timeout`` seconds, and the call then raises ``TimeoutError``: a hang fails the test, it never
blocks the suite.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.multiprocessing as mp


@dataclasses.dataclass
class WorkerError:
    """An exception raised in a worker: its type name, message and traceback text."""

    type: str
    message: str
    traceback: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(fn: Callable[..., Any], rank: int, n: int, port: int, out: str, args: tuple) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    if os.path.isdir("/sys/class/net/lo"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=n,
            timeout=timedelta(seconds=60),
        )
        try:
            result: Any = fn(rank, n, *args)
        finally:
            dist.destroy_process_group()
    except BaseException as exc:  # report everything, including assertion failures
        result = WorkerError(type(exc).__name__, str(exc), traceback.format_exc())
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))


def run_workers(fn: Callable[..., Any], n: int, *args: Any, timeout: float = 90.0) -> list[Any]:
    """Results of ``fn(rank, n, *args)`` for ranks ``0..n-1``, each in its own gloo process."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as out:
        port = free_port()
        procs = [
            ctx.Process(target=_entry, args=(fn, rank, n, port, out, args), daemon=True)
            for rank in range(n)
        ]
        for p in procs:
            p.start()
        deadline = time.monotonic() + timeout
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        hung = [rank for rank, p in enumerate(procs) if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
        if hung:
            raise TimeoutError(f"ranks {hung} still running after {timeout} s (a hang)")
        results = []
        for rank, p in enumerate(procs):
            path = os.path.join(out, f"rank{rank}.pt")
            if not os.path.exists(path):
                raise RuntimeError(f"rank {rank} exited with code {p.exitcode} and no result")
            results.append(torch.load(path, weights_only=False))
        return results

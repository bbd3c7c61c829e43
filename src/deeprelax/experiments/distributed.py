"""The torchrun side of replica runs: joining the job, restarts, and objects sent between ranks.

``deeprelax train --optim {elastic-sgd,parle}`` (:func:`deeprelax.experiments.run.run_experiment`)
trains one replica per process with :class:`~deeprelax.experiments.replica.ReplicaTrainer`; this
module holds what that needs from ``torch.distributed``: :func:`init_distributed` (the process
group from torchrun's environment, gloo on CPU, NCCL on CUDA), :func:`is_restart` (torchrun
restarted the job: resume), :func:`broadcast` and :func:`to_cpu`.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "broadcast",
    "init_distributed",
    "is_restart",
    "run_distributed_experiment",
    "to_cpu",
]

_INITS = [0]  # process groups this process has created (for the store prefix)


@dataclasses.dataclass
class DistContext:
    """Where this process stands: rank, world size, device and backend."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None
    owns_group: bool

    def close(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistContext:
    """Join the job described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); without it, a world of one process.

    Backend: NCCL when the device is CUDA, gloo otherwise. With CUDA each process uses
    ``cuda:LOCAL_RANK``.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dist.is_initialized():
        return DistContext(
            dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend(), False
        )
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(0, 1, local_rank, dev, None, False)
    timeout = timedelta(seconds=timeout_s)
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    # torchrun's c10d rendezvous keeps one TCPStore across restarts, so the keys the dead
    # attempt's gloo ranks published (their listening addresses) would be read again; a prefix
    # per attempt gives every restart a clean namespace.
    # The same holds for a second init in one process (several runs in one job): count them.
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    _INITS[0] += 1
    store = dist.PrefixStore(f"deeprelax/attempt_{attempt}/init_{_INITS[0]}/", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, backend, True)


def is_restart() -> bool:
    """True in a job that torchrun restarted (``TORCHELASTIC_RESTART_COUNT`` > 0): the trainer
    then resumes from its checkpoint without being asked."""
    return os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") not in ("", "0")


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in it (dicts, lists, tuples) detached and on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def broadcast(obj: Any, rank: int, n: int) -> Any:
    """Rank 0's ``obj`` on every one of the ``n`` ranks (``obj`` itself when ``n`` is 1)."""
    if n == 1:
        return obj
    box = [obj if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def run_distributed_experiment(spec: Any, out_dir: str | Path | None, **options: Any) -> Any:
    """:func:`~deeprelax.experiments.run.run_experiment` for ``spec.optim`` = ``elastic-sgd``
    or ``parle`` (the name this entry had before the run paths were one)."""
    from .run import REPLICA_METHODS, run_experiment

    if spec.optim not in REPLICA_METHODS:
        raise ValueError(
            f"Invalid optim value: {spec.optim!r} (choose from {', '.join(REPLICA_METHODS)})"
        )
    return run_experiment(spec, out_dir, **options)


if __name__ == "__main__":  # the former second entry point: say where it went, never run silently
    raise SystemExit(
        "python -m deeprelax.experiments.distributed is gone: launch "
        "`torchrun ... -m deeprelax train --optim {elastic-sgd,parle} --model M --budget B --out OUT`"
    )

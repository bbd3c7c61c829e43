"""Sharded parameters (FSDP2's ``fully_shard``: DTensor parameters) in the engine.

Three things differ from plain tensors:

* the ``torch._foreach_*`` kernels have no DTensor strategy, so groups of DTensors use
  :class:`~deeprelax.optim._tensor_ops.ListOps`'s loop mode (elementwise DTensor ops on equal
  placements run locally, with no communication);
* the finiteness check reads each rank's local shard, and the ranks then agree in one all-reduce,
  so a NaN on one shard aborts the outer step on every rank alike;
* noise: each shard must draw its own (independent) noise, yet a run must be reproducible from
  one seed and survive a ``torch.distributed.checkpoint`` round trip, which saves a plain tensor
  (the generator's state) once for all ranks.  So the ranks share one ``shard_seed`` (drawn on
  rank 0 from the optimizer's generator, broadcast once, kept in the optimizer-wide state), and
  the noise of a draw comes from a generator seeded by (shard_seed, outer step, inner index,
  param group, the shard's coordinate on the mesh's sharded dimensions).  Replicated mesh
  dimensions (HSDP) share the coordinate, hence the noise, as data parallel wants.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import Tensor

__all__ = ["agree_finite", "is_dtensor", "local", "new_shard_seed", "shard_generator"]


_DTENSOR: list[type] = []  # the DTensor class, imported at the first call


def is_dtensor(t: Any) -> bool:
    """Whether ``t`` is a ``torch.distributed.tensor.DTensor`` (False when it cannot be one)."""
    if not _DTENSOR:
        if not torch.distributed.is_available():
            return False
        from torch.distributed.tensor import DTensor

        _DTENSOR.append(DTensor)
    return isinstance(t, _DTENSOR[0])


def local(t: Tensor) -> Tensor:
    """This rank's shard of a DTensor (the storage itself: in-place ops change the DTensor)."""
    if is_dtensor(t):
        with torch.no_grad():
            return t.to_local()
    return t


def new_shard_seed(generator: torch.Generator, tensor: Tensor) -> int:
    """A seed drawn from ``generator`` on the mesh's first rank, the same on every rank."""
    import torch.distributed as dist

    from deeprelax.optim._sync import broadcast_seed

    if not dist.is_initialized():
        return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    scratch = torch.Generator(device=generator.device)
    scratch.set_state(generator.get_state())
    seed = broadcast_seed(scratch, None)  # the optimizer's own generator is left where it was
    return seed


def _shard_coordinate(t: Tensor) -> tuple[int, ...]:
    """This rank's coordinate on the mesh dimensions along which ``t`` is sharded."""
    from torch.distributed.tensor import Replicate

    coordinate = t.device_mesh.get_coordinate() or []
    return tuple(
        c for c, placement in zip(coordinate, t.placements) if not isinstance(placement, Replicate)
    )


def shard_generator(
    seed: int, step: int, index: int, group: int, t: Tensor, cache: dict[str, torch.Generator]
) -> torch.Generator:
    """The generator for one draw of a group's shards: a function of where the run is, only."""
    key = repr((seed, step, index, group, _shard_coordinate(t))).encode()
    derived = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 2
    device = local(t).device
    gen = cache.get(str(device))
    if gen is None:
        gen = cache[str(device)] = torch.Generator(device=device)
    gen.manual_seed(derived)
    return gen


def agree_finite(flag: Tensor, tensors: list[Tensor]) -> Tensor:
    """``flag`` (this rank's 0-d bool) and-ed over every rank of the tensors' mesh."""
    import torch.distributed as dist

    mesh = next((t.device_mesh for t in tensors if is_dtensor(t)), None)
    if mesh is None or not dist.is_initialized():
        return flag
    from deeprelax.optim._sync import _comm_device

    value = flag.to(device=_comm_device(None), dtype=torch.float32).reshape(1)
    for dim in range(mesh.ndim):
        dist.all_reduce(value, op=dist.ReduceOp.MIN, group=mesh.get_group(dim))
    return (value[0] > 0).to(flag.device)

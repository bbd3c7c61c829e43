"""Data parallel: the same Langevin/Gaussian noise on every rank, and a check that replicas agree.

Under DDP every rank holds the same weights and DDP averages the gradients, never the weights.
Noise drawn per rank (a per-rank seed, or a generator seeded from a per-rank global RNG) moves
each rank's chain somewhere else, so the replicas drift apart without any error.  With
``sync_noise=True`` rank 0's seed is broadcast once (at construction when a process group is
initialized, else at the first draw) and every rank's generator is re-seeded with it; from then
on the generators advance in lockstep, and their state is saved in ``state_dict`` as before.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["NoiseSync", "replica_deviation", "replicas_agree"]


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _comm_device(process_group: Any) -> torch.device:
    """Where a collective's tensor must live: the current CUDA device for NCCL, else the CPU."""
    import torch.distributed as dist

    backend = str(dist.get_backend(process_group)).lower()
    if "nccl" in backend and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_seed(generator: torch.Generator, process_group: Any = None) -> int:
    """Re-seed ``generator`` on every rank with a seed drawn on the group's first rank."""
    import torch.distributed as dist

    seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)
    seed = seed.to(device=_comm_device(process_group), dtype=torch.int64)
    src = dist.get_global_rank(process_group, 0) if process_group is not None else 0
    dist.broadcast(seed, src=src, group=process_group)
    value = int(seed.item())
    generator.manual_seed(value)
    return value


class NoiseSync:
    """Mixin for the noisy optimizers (EntropySGD, Heat): ``sync_noise`` and the per-rank warning.

    The host class is a :class:`~deeprelax.optim._engine.RelaxedOptimizer`; this mixin comes
    before it in the bases and wraps its ``_rng`` (the one place noise is drawn from).
    """

    sync_noise: bool = False
    _noise_checked: bool = True
    # Whether per-rank noise reaches the anchor.  Entropy-SGD's noise enters the chain and its
    # mean, hence x: replicas drift.  Heat's noise only places the evaluation points; DDP averages
    # the gradients taken there, so x stays the same on every rank (no warning; sync_noise then
    # only makes the ranks sample the same points).
    _noise_moves_anchor: bool = True

    def _setup_noise_sync(self, sync_noise: Any) -> None:
        if not isinstance(sync_noise, bool):
            raise ValueError(f"Invalid sync_noise value: {sync_noise!r} (True or False)")
        self.sync_noise = sync_noise
        self._noise_checked = False
        if _initialized() and any(self._draws_noise(g) for g in self.param_groups):  # type: ignore[attr-defined]
            self._check_noise_sync()

    def _rng(self, device: torch.device) -> torch.Generator:
        generator = super()._rng(device)  # type: ignore[misc]
        if not self._noise_checked:
            self._check_noise_sync()
        return self.generator if self.generator is not None else generator  # type: ignore[attr-defined]

    def _check_noise_sync(self) -> None:
        """Once per optimizer: broadcast the seed (``sync_noise``) or warn about per-rank noise."""
        if not _initialized():
            self._noise_checked = True
            return
        import torch.distributed as dist

        self._noise_checked = True
        if dist.get_world_size() <= 1 or self._own_replicas() or "shard_seed" in self._outer:  # type: ignore[attr-defined]
            return  # one rank; replicas that want their own noise; FSDP2 shards (see _dtensor)
        state = self._outer  # type: ignore[attr-defined]
        if not self.sync_noise:
            if not self._noise_moves_anchor:
                return
            warnings.warn(
                f"{type(self).__name__} draws noise under a process group of "
                f"{dist.get_world_size()} ranks with sync_noise=False: under data parallel (DDP) "
                "each rank's noise differs unless every rank seeded it alike, and the replicas "
                "drift apart. Pass sync_noise=True (and check with deeprelax.optim.replicas_agree)",
                stacklevel=4,
            )
            return
        if state.get("noise_synced"):
            return  # resumed from a state_dict: the generators already agree
        if self.generator is None:  # type: ignore[attr-defined]
            params = [p for g in self.param_groups for p in g["params"]]  # type: ignore[attr-defined]
            self._rng(params[0].device if params else torch.device("cpu"))
            return  # _rng ran the check again with a generator: done
        broadcast_seed(self.generator)  # type: ignore[attr-defined]
        state["noise_synced"] = True

    def _own_replicas(self) -> bool:
        """Replica methods (Parle) want independent noise per rank: no warning, no sync."""
        from deeprelax.optim.replica._coupling import ElasticCoupling

        return isinstance(self, ElasticCoupling)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # type: ignore[misc]
        state["sync_noise"] = self.sync_noise
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.sync_noise = bool(state.pop("sync_noise", False))
        super().__setstate__(state)  # type: ignore[misc]
        self._noise_checked = False


def replica_deviation(params: Iterable[Tensor], process_group: Any = None) -> float:
    """Largest absolute difference between ranks over every entry of ``params`` (0.0 = identical).

    Two all-reduces (elementwise max and min) of the parameters in float64; NaN if any rank holds
    a NaN.  Without an initialized process group there is one replica: 0.0.
    """
    import torch.distributed as dist

    tensors = [p.detach() for p in params]
    if not _initialized() or dist.get_world_size(process_group) <= 1 or not tensors:
        return 0.0
    device = _comm_device(process_group)
    local = [(t.to_local() if hasattr(t, "to_local") else t).reshape(-1) for t in tensors]
    flat = torch.cat(local).to(device=device, dtype=torch.float64)
    nan = torch.isnan(flat).any().to(torch.float64).reshape(1)
    flat = torch.cat([torch.nan_to_num(flat, nan=0.0), nan])  # the last entry: a NaN somewhere
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX, group=process_group)
    dist.all_reduce(low, op=dist.ReduceOp.MIN, group=process_group)
    if float(high[-1]) > 0:
        return float("nan")
    return float((high[:-1] - low[:-1]).abs().max()) if flat.numel() > 1 else 0.0


def replicas_agree(params: Iterable[Tensor], process_group: Any = None, atol: float = 0.0) -> bool:
    """Whether every rank holds the same ``params`` (within ``atol``; default: bit for bit).

    A collective: every rank of the group must call it.  Use it after a few outer steps of a
    data-parallel run to confirm that ``sync_noise=True`` did its job.  Every rank gets the same
    answer; a NaN on any rank makes it False.
    """
    if not isinstance(atol, (int, float)) or isinstance(atol, bool) or atol < 0:
        raise ValueError(f"Invalid atol value: {atol!r} (a number >= 0)")
    deviation = replica_deviation(params, process_group)
    return deviation <= atol

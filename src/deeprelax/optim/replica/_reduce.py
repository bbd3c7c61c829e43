"""The torch.distributed reductions of :class:`ElasticSGD` and :class:`Parle`.

The replica optimizers talk through ``torch.distributed`` only, once per outer step, with one
``all_reduce`` of a single flat buffer

.. math::

    b_a = \\big[\\,\\operatorname{vec}(x_a)\\ ;\\ e_a\\,\\big],\\qquad
    \\sum_a b_a = \\big[\\,n\\,r\\ ;\\ \\textstyle\\sum_a e_a\\,\\big],

where :math:`x_a` are replica :math:`a`'s parameters, :math:`r=\\frac1n\\sum_a x_a` is the
reference and :math:`e_a\\in\\{0,1\\}^n` is the one-hot "rank :math:`a` saw a non-finite value"
flag. Piggy-backing the flags on the reference's all-reduce lets every rank learn, in the same
collective, whether any rank failed and which one, so a NaN on one replica stops all of them
with the same message instead of leaving the others blocked in the next collective.

Everything here works without an initialized process group: the world is then one process,
every collective is the identity and nothing is communicated.

Payload bytes handed to ``all_reduce`` are counted in :data:`COMM_STATS` so that a benchmark can
compare methods; a ring all-reduce puts about :math:`2(n-1)/n` times the payload on each rank's
link, the same factor for every method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist

from deeprelax.optim._engine import NonFiniteLossError

__all__ = [
    "COMM_STATS",
    "CommStats",
    "ReplicaNonFiniteError",
    "all_reduce_reference",
    "check_agreement",
    "flatten",
    "unflatten_into",
    "world",
]


class ReplicaNonFiniteError(NonFiniteLossError):
    """A NaN/inf loss or parameter on one or more replicas; raised on every rank.

    Attributes:
        ranks: the ranks (in the optimizer's process group) that reported a non-finite value.
    """

    def __init__(self, ranks: Sequence[int], step: int) -> None:
        self.ranks = list(ranks)
        self.step = step
        which = ", ".join(str(r) for r in self.ranks)
        noun = "rank" if len(self.ranks) == 1 else "ranks"
        super().__init__(
            f"non-finite loss or parameters on {noun} {which} at outer step {step}; "
            "all replicas stopped (resume from the last checkpoint with a smaller lr)"
        )


@dataclasses.dataclass
class CommStats:
    """Running totals of what this process handed to ``all_reduce`` (payload only)."""

    calls: int = 0
    bytes: int = 0

    def reset(self) -> None:
        self.calls = 0
        self.bytes = 0

    def add(self, tensor: torch.Tensor) -> None:
        self.calls += 1
        self.bytes += tensor.numel() * tensor.element_size()


#: Process-wide counter of the replica optimizers' all-reduce payloads.
COMM_STATS = CommStats()


def world(process_group: Any = None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process in ``process_group``; ``(0, 1)`` with none initialized.

    Args:
        process_group: a ``torch.distributed`` process group, or ``None`` for the default (world)
            group.
    """
    if not (dist.is_available() and dist.is_initialized()):
        if process_group is not None:
            raise ValueError(
                f"Invalid process_group value: {process_group!r} "
                "(torch.distributed is not initialized)"
            )
        return 0, 1
    return dist.get_rank(process_group), dist.get_world_size(process_group)


def flatten(tensors: Iterable[torch.Tensor], extra: int = 0) -> torch.Tensor:
    """Concatenate ``tensors`` into one new 1-D tensor, followed by ``extra`` zeros."""
    parts = [t.detach().reshape(-1) for t in tensors]
    if not parts:
        raise ValueError("Invalid tensors value: nothing to flatten")
    if extra:
        parts.append(parts[0].new_zeros(extra))
    return torch.cat(parts)


def unflatten_into(flat: torch.Tensor, tensors: Sequence[torch.Tensor], divisor: int = 1) -> None:
    """Copy consecutive slices of ``flat``, divided by ``divisor``, into ``tensors`` in place."""
    offset = 0
    for t in tensors:
        n = t.numel()
        chunk = flat[offset : offset + n].view_as(t)
        if divisor == 1:
            t.copy_(chunk)
        else:
            t.copy_(torch.div(chunk, divisor))
        offset += n


def all_reduce_reference(
    params: Sequence[torch.Tensor],
    references: Sequence[torch.Tensor],
    ok: bool,
    process_group: Any,
    step: int,
) -> None:
    """Set ``references`` to the replica mean of ``params`` in one all-reduce; check finiteness.

    Args:
        params: this replica's parameters :math:`x_a`, in an order that every rank shares.
        references: tensors of the same shapes that receive :math:`r=\\frac1n\\sum_a x_a`.
        ok: ``False`` if this replica saw a non-finite loss; its parameters are checked too.
        process_group: ``None``: the world, or a single process if none is initialized.
        step: the outer step, for the error message.

    Raises:
        ReplicaNonFiniteError: on every rank, if any rank's loss or parameters are not finite;
            ``references`` are then left unchanged.
    """
    rank, n = world(process_group)
    flat = flatten(params, extra=n)
    ok = ok and bool(torch.isfinite(flat[: flat.numel() - n]).all())
    if not ok:
        flat[flat.numel() - n + rank] = 1.0
        # keep the sum finite so the flags are readable even if x_a holds NaN
        flat[: flat.numel() - n] = 0.0
    if n > 1:
        COMM_STATS.add(flat)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=process_group)
    flags = flat[flat.numel() - n :]
    if bool((flags != 0).any()):
        bad = [int(i) for i in torch.nonzero(flags != 0).flatten().tolist()]
        raise ReplicaNonFiniteError(bad, step)
    unflatten_into(flat, references, divisor=n)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flat_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and lists of dicts) as one dict with keys like ``param_groups[0].lr``."""
    if isinstance(config, Mapping):
        out: dict[str, Any] = {}
        for key, value in config.items():
            out.update(_flat_config(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(config, (list, tuple)) and config and all(isinstance(v, Mapping) for v in config):
        out = {}
        for i, value in enumerate(config):
            out.update(_flat_config(value, f"{prefix}[{i}]"))
        return out
    return {prefix: config}


def check_agreement(
    config: Mapping[str, Any], process_group: Any = None, what: str = "configuration"
) -> None:
    """Check that every rank of ``process_group`` holds the same ``config``; no-op for one process.

    One ``all_gather_object``; every rank then compares all entries with rank 0's and raises the
    same error, so no rank is left waiting in a later collective.

    Raises:
        ValueError: naming the ranks and keys that differ from rank 0, with both values.
    """
    _, n = world(process_group)
    if n == 1:
        return
    gathered: list[Any] = [None] * n
    dist.all_gather_object(gathered, _flat_config(config), group=process_group)
    base = gathered[0]
    problems = []
    missing = object()
    for r in range(1, n):
        other = gathered[r]
        for key in sorted(set(base) | set(other), key=str):
            a, b = base.get(key, missing), other.get(key, missing)
            if a is missing or b is missing or a != b:
                a_text = "<absent>" if a is missing else _describe(a)
                b_text = "<absent>" if b is missing else _describe(b)
                problems.append(f"rank {r} has {key}={b_text} where rank 0 has {a_text}")
    if problems:
        shown = "; ".join(problems[:6]) + (
            f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        )
        raise ValueError(f"mismatched {what} between ranks: {shown}")

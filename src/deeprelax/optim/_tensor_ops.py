"""Elementwise arithmetic on lists of tensors, as a plain loop or with the ``torch._foreach_*`` kernels.

The optimizers write their arithmetic once, against :class:`ListOps`; the two back-ends must agree
(tests compare whole trajectories and every state tensor in float64).  Nothing here reads a value
back to the host: the finiteness check returns a device tensor, so a caller decides when to sync.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ListOps:
    """Elementwise arithmetic on lists of tensors: a plain loop or the ``torch._foreach_*`` kernels."""

    def __init__(self, foreach: bool) -> None:
        self.foreach = foreach

    def add_(self, xs: list[Tensor], ys: list[Tensor], alpha: float = 1.0) -> None:
        if self.foreach:
            torch._foreach_add_(xs, ys, alpha=alpha)
        else:
            for x, y in zip(xs, ys):
                x.add_(y, alpha=alpha)

    def add(self, xs: list[Tensor], ys: list[Tensor], alpha: float = 1.0) -> list[Tensor]:
        """``x + alpha y`` into new tensors (the inputs are left alone)."""
        if self.foreach:
            return list(torch._foreach_add(xs, ys, alpha=alpha))
        return [x.add(y, alpha=alpha) for x, y in zip(xs, ys)]

    def add_into(
        self, outs: list[Tensor], xs: list[Tensor], ys: list[Tensor], alpha: float = 1.0
    ) -> list[Tensor]:
        """``out <- x + alpha y`` into preallocated tensors (one pass, no allocation)."""
        for out, x, y in zip(outs, xs, ys):
            torch.add(x, y, alpha=alpha, out=out)
        return outs

    def mul_(self, xs: list[Tensor], scalar: float) -> None:
        if self.foreach:
            torch._foreach_mul_(xs, scalar)
        else:
            for x in xs:
                x.mul_(scalar)

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        if not xs:
            return
        if self.foreach:
            torch._foreach_copy_(xs, ys)
        else:
            for x, y in zip(xs, ys):
                x.copy_(y)

    def lerp_(self, xs: list[Tensor], ys: list[Tensor], weight: float) -> None:
        if self.foreach:
            torch._foreach_lerp_(xs, ys, weight)
        else:
            for x, y in zip(xs, ys):
                x.lerp_(y, weight)

    def sum_of_squares(self, xs: list[Tensor]) -> float:
        """Host float (a sync): used by telemetry only."""
        if not xs:
            return 0.0
        norms = torch._foreach_norm(xs) if self.foreach else [x.norm() for x in xs]
        return float(sum(n.double() ** 2 for n in norms))

    def dot(self, xs: list[Tensor], ys: list[Tensor]) -> float:
        return float(
            sum(torch.dot(x.flatten().double(), y.flatten().double()) for x, y in zip(xs, ys))
        )

    def finite(self, xs: list[Tensor]) -> Tensor | None:
        """A 0-d bool tensor on the tensors' device: every entry of every tensor is finite.

        The max-norm is exact in any dtype (no sum that could overflow a 16-bit format) and
        propagates NaN, so it is finite exactly when every entry is.  No host sync here.
        """
        if not self.foreach:  # the loop mode also serves DTensors: read each rank's shard
            xs = [x.to_local() if hasattr(x, "to_local") else x for x in xs]
        xs = [x for x in xs if x.numel()]  # an empty tensor has no max (and nothing to check)
        if not xs:
            return None
        norms = (
            torch._foreach_norm(xs, float("inf")) if self.foreach else [x.abs().max() for x in xs]
        )
        return torch.isfinite(torch.stack([n.float() for n in norms])).all()


def momentum_direction(
    ops: ListOps,
    directions: list[Tensor],
    buffers: list[Tensor],
    momentum: float,
    nesterov: bool,
) -> list[Tensor]:
    """The update of torch.optim.SGD's momentum, heavy-ball or Nesterov, on ``directions``.

    ``m <- momentum * m + d`` (the buffers start at zero, which gives SGD's ``m <- d`` on the first
    use exactly), then ``d + momentum * m`` with Nesterov, else ``m`` (heavy ball); ``directions``
    are left unchanged.  Without momentum the update is ``directions`` itself.
    """
    if momentum == 0.0:
        return directions
    ops.mul_(buffers, momentum)
    ops.add_(buffers, directions)
    if nesterov:
        return ops.add(directions, buffers, alpha=momentum)
    return buffers

"""Elementwise arithmetic on lists of tensors, as a plain loop or with the ``torch._foreach_*`` kernels.

The optimizers write their arithmetic once, against :class:`ListOps`; the two back-ends must agree
(tests compare whole trajectories and every state tensor in float64).
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

    def mul_(self, xs: list[Tensor], scalar: float) -> None:
        if self.foreach:
            torch._foreach_mul_(xs, scalar)
        else:
            for x in xs:
                x.mul_(scalar)

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
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

    def sub_from_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        """``x <- y - x``."""
        if self.foreach:
            torch._foreach_neg_(xs)
            torch._foreach_add_(xs, ys)
        else:
            for x, y in zip(xs, ys):
                x.neg_().add_(y)

    def sum_of_squares(self, xs: list[Tensor]) -> float:
        if not xs:
            return 0.0
        if self.foreach:
            norms = torch._foreach_norm(xs)
        else:
            norms = [x.norm() for x in xs]
        return float(sum(n.double() ** 2 for n in norms))

    def dot(self, xs: list[Tensor], ys: list[Tensor]) -> float:
        return float(sum(torch.dot(x.flatten().double(), y.flatten().double()) for x, y in zip(xs, ys)))

    def all_finite(self, xs: list[Tensor]) -> bool:
        # One reduction per tensor; a NaN or inf anywhere makes the sum non-finite.
        if not xs:
            return True
        return bool(torch.isfinite(torch.stack([x.sum().double() for x in xs]).sum()))


def nesterov_momentum(
    ops: ListOps,
    directions: list[Tensor],
    buffers: list[Tensor],
    momentum: float,
    nesterov: bool,
    first: bool,
) -> list[Tensor]:
    """Apply (Nesterov) momentum to ``directions`` in place, exactly as torch.optim.SGD does.

    ``m <- momentum * m + d`` (``m <- d`` on the first use), then ``d <- d + momentum * m`` with
    Nesterov, else ``d <- m``.  Returns the list holding the resulting directions.
    """
    if momentum == 0.0:
        return directions
    if first:
        ops.copy_(buffers, directions)
    else:
        ops.mul_(buffers, momentum)
        ops.add_(buffers, directions)
    if nesterov:
        ops.add_(directions, buffers, alpha=momentum)
        return directions
    return buffers

"""Reach the optimizer inside a framework's wrapper (accelerate, Lightning, and their kind)."""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer

__all__ = ["unwrap"]


def unwrap(optimizer: Any) -> Optimizer:
    """The deeprelax optimizer (or plain torch optimizer) inside framework wrappers.

    accelerate's ``AcceleratedOptimizer`` and Lightning's ``LightningOptimizer`` hold the real
    optimizer in ``.optimizer`` and do not forward ``inner_index``, ``grad_evals`` and the other
    counters.  This follows ``.optimizer`` until it reaches a
    :class:`~deeprelax.optim.RelaxedOptimizer`, or a ``torch.optim.Optimizer`` with nothing inside.

    Raises:
        ValueError: ``optimizer`` is neither a ``torch.optim.Optimizer`` nor a wrapper of one.

    Example:
        >>> opt = unwrap(trainer.optimizer)      # HF Trainer: an AcceleratedOptimizer
        >>> opt.grad_evals, opt.inner_index
    """
    from deeprelax.optim._engine import RelaxedOptimizer

    current, seen = optimizer, set()
    while not isinstance(current, RelaxedOptimizer):
        seen.add(id(current))
        inner = getattr(current, "optimizer", None)
        if inner is None or id(inner) in seen:
            if isinstance(current, Optimizer):
                return current
            raise ValueError(
                f"Invalid optimizer value: {type(optimizer).__name__} is not a torch.optim.Optimizer "
                "and wraps none in .optimizer"
            )
        current = inner
    return current

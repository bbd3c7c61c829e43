"""Scoping: the coupling schedule gamma_k = gamma * (1 + scoping)**k, optionally capped.

The coupling ``gamma`` is the paper's g = 1/t (t = the PDE time, the smoothing scale).  Scoping
grows it with the outer-step counter k, so the relaxed loss f_{1/g_k} slides back towards f
(PAPER.md §5, §6).  The counter lives in the optimizer's state (``optimizer.outer_steps``), so a
resumed run continues the same schedule.
"""

from __future__ import annotations

import math


def scoped_coupling(
    gamma: float, scoping: float, step: int, gamma_max: float | None = None
) -> float:
    """gamma_k = min(gamma * (1 + scoping)**step, gamma_max).

    Args:
        gamma: the initial coupling g_0 (``gamma`` keyword).
        scoping: the growth rate g_1 per outer step (``scoping`` keyword).
        step: the outer-step counter k.
        gamma_max: optional cap (Parle caps its couplings; PAPER.md §5.8).
    """
    try:
        value = gamma * (1.0 + scoping) ** step
    except OverflowError:  # a long run without a cap: the coupling is effectively infinite
        value = math.inf
    if gamma_max is not None:
        value = min(value, gamma_max)
    return value

"""One Lanczos step's orthogonalization, shared by the eigensolver and SLQ."""

from __future__ import annotations

import torch
from torch import Tensor


def lanczos_residual(w: Tensor, basis: Tensor, j: int, alpha: float, beta_prev: float) -> Tensor:
    """:math:`w = Hq_j` minus its components on :math:`q_0..q_j` (rows of ``basis``).

    The three-term recurrence removes the large components; one classical Gram-Schmidt pass against
    the whole basis then restores orthogonality lost to rounding, and a second pass runs only if
    the first removed more than half of the norm (Kahan's "twice is enough" test).
    """
    w = w - alpha * basis[j]
    if j > 0:
        w = w - beta_prev * basis[j - 1]
    before = float(torch.linalg.vector_norm(w))
    q = basis[: j + 1]
    w = w - q.T @ (q @ w)
    if float(torch.linalg.vector_norm(w)) < 0.5 * before:
        w = w - q.T @ (q @ w)
    return w

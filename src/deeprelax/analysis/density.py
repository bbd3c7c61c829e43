"""Eigenvalue density of the Hessian by stochastic Lanczos quadrature (SLQ).

For a unit probe :math:`v` (uniform on the sphere) and the spectral density
:math:`\\phi(t)=\\frac1d\\sum_i\\delta(t-\\lambda_i)`,
:math:`\\mathbb E\\,v^\\top g(H)v=\\frac1d\\operatorname{tr}g(H)=\\int g\\,d\\phi`.
``m`` Lanczos steps from :math:`v` give a tridiagonal :math:`T_m=S\\Theta S^\\top`; the Gauss rule
:math:`v^\\top g(H)v\\approx\\sum_j\\tau_j^2 g(\\theta_j)`, :math:`\\tau_j=S_{1j}`, is exact for
polynomials of degree :math:`\\le 2m-1`. With the Gaussian kernel
:math:`g_t(\\lambda)=\\mathcal N(t;\\lambda,\\sigma^2)` and ``num_probes`` probes,

.. math::  \\phi_\\sigma(t)\\approx\\frac1{n_v}\\sum_{l=1}^{n_v}\\sum_{j=1}^{m}\\tau_{lj}^2\\,
           \\mathcal N(t;\\theta_{lj},\\sigma^2),

an estimate of the broadened density :math:`\\phi_\\sigma=\\phi*\\mathcal N(0,\\sigma^2)` that
integrates to one. Lanczos here keeps the full basis and re-orthogonalizes fully every step (memory
``m * d`` numbers of the operator's dtype), so no spurious copies of converged Ritz values appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._functional import Batch, LossFn
from ._lanczos import lanczos_residual
from .hessian import HessianOperator

__all__ = ["SpectralDensity", "hessian_spectral_density", "lanczos", "gaussian_density"]


def lanczos(
    matvec: Callable[[Tensor], Tensor], v0: Tensor, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos iterations from ``v0`` with full re-orthogonalization.

    Returns ``(alpha, beta)``: the diagonal (m,) and off-diagonal (m-1,) of :math:`T_m`; ``m`` is
    smaller than ``steps`` if the Krylov space is exhausted (then the quadrature is exact).
    """
    q = v0 / torch.linalg.vector_norm(v0)
    basis = torch.empty((steps, q.numel()), dtype=q.dtype, device=q.device)
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(steps):
        basis[j] = q
        w = matvec(q)
        a = float(torch.dot(w, q))
        alphas.append(a)
        w = lanczos_residual(w, basis, j, a, betas[-1] if betas else 0.0)
        b = float(torch.linalg.vector_norm(w))
        if j == steps - 1 or b <= 1e-10 * max(1.0, max(abs(x) for x in alphas)):
            break
        betas.append(b)
        q = w / b
    return np.asarray(alphas), np.asarray(betas)


def gaussian_density(
    grid: np.ndarray, nodes: np.ndarray, weights: np.ndarray, sigma: float
) -> np.ndarray:
    """:math:`\\sum_j w_j\\,\\mathcal N(t;\\theta_j,\\sigma^2)` on ``grid``."""
    z = (np.asarray(grid)[:, None] - np.asarray(nodes)[None, :]) / sigma
    return (np.exp(-0.5 * z**2) @ np.asarray(weights)) / (sigma * np.sqrt(2 * np.pi))


@dataclass
class SpectralDensity:
    """SLQ result. ``grid`` and ``density`` (the broadened density on it, integrates to ~1 over a
    grid that covers the spectrum); ``nodes``/``weights``: per probe the Ritz values
    :math:`\\theta_{lj}` and Gauss weights :math:`\\tau_{lj}^2` (lists of arrays, weights summing to
    1 per probe); ``sigma`` the broadening; ``num_params`` d; ``num_hvps`` products used."""

    grid: np.ndarray
    density: np.ndarray
    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    sigma: float
    num_params: int
    num_hvps: int

    def trace(self) -> float:
        """SLQ estimate of :math:`\\operatorname{tr}H=d\\int t\\,d\\phi(t)` (exact per probe for g(t)=t)."""
        return float(self.num_params * np.mean([w @ n for n, w in zip(self.nodes, self.weights)]))

    def fraction_above(self, threshold: float) -> float:
        """Estimated fraction of eigenvalues :math:`>` ``threshold`` (from the Gauss weights, unbroadened)."""
        return float(np.mean([w[n > threshold].sum() for n, w in zip(self.nodes, self.weights)]))


def hessian_spectral_density(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    *,
    num_probes: int = 4,
    lanczos_steps: int = 80,
    sigma: float | None = None,
    grid: np.ndarray | None = None,
    num_grid: int = 1000,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    method: str = "rev_rev",
    seed: int = 0,
    operator: HessianOperator | None = None,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature estimate of the Hessian eigenvalue density (module docstring).

    Args:
        num_probes: independent Gaussian probes (normalized); the estimate's Monte-Carlo error at a
            point is about :math:`\\sqrt{2/(d\\,n_v)}` relative for spread-out spectra.
        lanczos_steps: Lanczos steps per probe (``num_probes * lanczos_steps`` products).
        sigma: Gaussian broadening; default 1 % of the span of all Ritz values.
        grid: where to evaluate; default ``num_grid`` points over the Ritz span padded by 5 sigma.
    """
    if not isinstance(num_probes, int) or num_probes < 1:
        raise ValueError(f"Invalid num_probes value: {num_probes}")
    if not isinstance(lanczos_steps, int) or lanczos_steps < 1:
        raise ValueError(f"Invalid lanczos_steps value: {lanczos_steps}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"Invalid sigma value: {sigma}")
    from scipy.linalg import eigh_tridiagonal

    op = operator or HessianOperator(
        model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode, method=method
    )
    steps = min(lanczos_steps, op.num_params)
    gen = torch.Generator().manual_seed(seed)
    nodes, weights, start = [], [], op.num_hvps
    for _ in range(num_probes):
        v = torch.randn(op.num_params, generator=gen, dtype=op.flat.dtype).to(op.flat.device)
        a, b = lanczos(op, v, steps)
        if len(a) == 1:
            theta, s = a.copy(), np.ones((1, 1))
        else:
            theta, s = eigh_tridiagonal(a, b)
        nodes.append(theta)
        weights.append(s[0] ** 2)
    lo = min(float(n.min()) for n in nodes)
    hi = max(float(n.max()) for n in nodes)
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else max(abs(hi), 1e-8) * 0.01 or 1e-8
    if grid is None:
        grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, num_grid)
    grid = np.asarray(grid, dtype=np.float64)
    density = np.mean([gaussian_density(grid, n, w, sigma) for n, w in zip(nodes, weights)], axis=0)
    return SpectralDensity(
        grid, density, nodes, weights, float(sigma), op.num_params, op.num_hvps - start
    )

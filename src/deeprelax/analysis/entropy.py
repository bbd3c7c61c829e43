"""Monte-Carlo estimate of local entropy and of its gradient at the current weights.

Conventions (PAPER.md §1-2, the optimizers' ``gamma`` keyword): ``gamma`` is the coupling
:math:`g=1/\\gamma` (PDE time :math:`\\gamma=1/g`), ``beta`` the inverse temperature
(the optimizers' Langevin ``noise`` :math:`\\varepsilon` corresponds to :math:`\\beta=\\varepsilon^{-2}`).
The local entropy, in the "smoothed loss" sign convention of Deep Relaxation, is

.. math::  f_\\gamma(x) = -\\tfrac1\\beta\\log\\,\\mathbb E_{z\\sim\\mathcal N(0,(\\beta g)^{-1}I)}
           \\big[e^{-\\beta f(x+z)}\\big],

and its gradient is :math:`\\nabla f_\\gamma(x)=g\\,(x-\\langle y\\rangle)` where
:math:`\\langle\\cdot\\rangle` is the mean under the Gibbs law
:math:`\\rho(y;x)\\propto\\exp(-\\beta f(y)-\\tfrac{\\beta g}2|x-y|^2)`.

Estimators:

* value: the Gaussian expectation above with ``num_samples`` exact samples (unbiased inside the
  log; standard error by the delta method, :math:`\\mathrm{sd}(w)/(\\beta\\bar w\\sqrt n)`).
  Reliable while :math:`\\beta\\,(f(x+z)-f(x))` varies by a few units at most across samples.
* gradient: ``num_chains`` independent unadjusted Langevin chains started at ``x``,
  :math:`y\\leftarrow y-\\eta\\,(\\nabla f(y)+g(y-x))+\\sqrt{2\\eta/\\beta}\\,\\xi`, each averaged after
  ``burn_in`` steps; the standard error per coordinate comes from the spread of the chain means.
  The discretization biases the Gibbs law by :math:`O(\\eta)` (not the mean, for a quadratic ``f``);
  stability needs :math:`\\eta<2/(\\lambda_{\\max}(\\nabla^2f)+g)`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._functional import Batch, FlatLoss, LossFn

__all__ = ["LocalEntropyEstimate", "local_entropy"]


@dataclass
class LocalEntropyEstimate:
    """Result of :func:`local_entropy`.

    ``value`` :math:`f_\\gamma(x)` and ``value_stderr``; ``loss`` :math:`f(x)`; ``displacement``
    :math:`x-\\langle y\\rangle` (flat) with per-coordinate ``displacement_stderr``; ``gradient``
    :math:`g(x-\\langle y\\rangle)`; ``displacement_norm`` and its delta-method stderr;
    ``displacement_sq_unbiased``: :math:`\\frac1{C(C-1)}\\sum_{c\\ne c'}(x-m_c)\\cdot(x-m_{c'})` over
    the chain means :math:`m_c`, unbiased for :math:`|x-\\langle y\\rangle|^2` when the chains are
    independent (the plain norm is inflated by Monte-Carlo noise in high dimension);
    ``num_grad_evals`` (Langevin steps, all chains) and ``num_loss_evals`` (value samples)."""

    value: float
    value_stderr: float
    loss: float
    displacement: Tensor
    displacement_stderr: Tensor
    gradient: Tensor
    displacement_norm: float
    displacement_norm_stderr: float
    displacement_sq_unbiased: float
    gamma: float
    beta: float
    num_grad_evals: int
    num_loss_evals: int


def _check(name: str, value: float, positive: bool = True) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        raise ValueError(f"Invalid {name} value: {value}")


def _gaussian_value(
    fl: FlatLoss, gamma: float, beta: float, n: int, gen: torch.Generator
) -> tuple[float, float]:
    std = 1.0 / math.sqrt(beta * gamma)
    logw = torch.empty(n, dtype=torch.float64)
    for i in range(n):
        z = torch.randn(fl.num_params, generator=gen, dtype=fl.dtype).to(fl.device)
        logw[i] = -beta * float(fl.loss(fl.x0 + std * z))
    m = float(logw.max())
    w = torch.exp(logw - m)  # weights relative to the largest; exact up to the common factor
    mean = float(w.mean())
    value = -(m + math.log(mean)) / beta
    stderr = float(w.std()) / (mean * math.sqrt(n) * beta)
    return value, stderr


def _check_estimator_args(
    gamma: float,
    beta: float,
    step_size: float,
    num_chains: int,
    steps: int,
    burn_in: int,
    num_samples: int,
) -> None:
    _check("gamma", gamma)
    _check("beta", beta)
    _check("step_size", step_size)
    if not isinstance(num_chains, int) or num_chains < 2:
        raise ValueError(f"Invalid num_chains value: {num_chains} (need an int >= 2)")
    if not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"Invalid burn_in value: {burn_in}")
    if not isinstance(steps, int) or steps <= burn_in:
        raise ValueError(f"Invalid steps value: {steps} (need an int > burn_in = {burn_in})")
    if not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(f"Invalid num_samples value: {num_samples} (need an int >= 2)")


def _langevin_chain_means(
    fl: FlatLoss,
    gamma: float,
    beta: float,
    step_size: float,
    num_chains: int,
    steps: int,
    burn_in: int,
    gen: torch.Generator,
) -> Tensor:
    """The post-burn-in mean of each of ``num_chains`` Langevin chains started at ``fl.x0``,
    stacked as (num_chains, d); the chains draw from ``gen`` one after the other."""
    x = fl.x0
    noise_scale = math.sqrt(2 * step_size / beta)
    chain_means = []
    for c in range(num_chains):
        y, total = x.clone(), torch.zeros_like(x)
        for s in range(steps):
            _, grad = fl.loss_and_grad(y)
            xi = torch.randn(fl.num_params, generator=gen, dtype=fl.dtype).to(fl.device)
            y = y - step_size * (grad + gamma * (y - x)) + noise_scale * xi
            if s >= burn_in:
                total += y
        if not torch.isfinite(total).all():
            raise FloatingPointError(
                f"Langevin chain {c} diverged; reduce step_size (now {step_size}) below "
                f"2 / (largest Hessian eigenvalue + gamma)"
            )
        chain_means.append(total / (steps - burn_in))
    return torch.stack(chain_means)


def local_entropy(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    gamma: float,
    *,
    beta: float = 1.0,
    num_chains: int = 4,
    steps: int = 100,
    burn_in: int = 20,
    step_size: float = 1e-3,
    num_samples: int = 64,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    seed: int = 0,
) -> LocalEntropyEstimate:
    """Estimate :math:`f_\\gamma(x)` and :math:`\\nabla f_\\gamma(x)` at the model's weights (module
    docstring). Cost: ``num_chains * steps`` gradients and ``num_samples`` losses over ``batches``.

    Args:
        gamma: coupling :math:`g>0` (the optimizers' ``gamma``); the PDE time is :math:`1/g`.
        beta: inverse temperature :math:`\\beta>0`.
        num_chains: independent Langevin chains (>= 2, for the standard error).
        steps, burn_in: Langevin steps per chain, of which the first ``burn_in`` are not averaged.
        step_size: Langevin step :math:`\\eta`.
        num_samples: Gaussian samples for the value (>= 2).
    """
    _check_estimator_args(gamma, beta, step_size, num_chains, steps, burn_in, num_samples)
    fl = FlatLoss(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode)
    gen = torch.Generator().manual_seed(seed)
    x = fl.x0
    means = _langevin_chain_means(fl, gamma, beta, step_size, num_chains, steps, burn_in, gen)
    displacement = x - means.mean(0)
    disp_se = means.std(0) / math.sqrt(num_chains)
    norm = float(displacement.norm())
    norm_se = float((displacement * disp_se).norm() / norm) if norm > 0 else float(disp_se.norm())
    per_chain = x - means
    total_dot = float(per_chain.sum(0).pow(2).sum() - per_chain.pow(2).sum())
    sq_unbiased = total_dot / (num_chains * (num_chains - 1))
    value, value_se = _gaussian_value(fl, gamma, beta, num_samples, gen)
    return LocalEntropyEstimate(
        value=value,
        value_stderr=value_se,
        loss=float(fl.loss()),
        displacement=displacement,
        displacement_stderr=disp_se,
        gradient=gamma * displacement,
        displacement_norm=norm,
        displacement_norm_stderr=norm_se,
        displacement_sq_unbiased=sq_unbiased,
        gamma=float(gamma),
        beta=float(beta),
        num_grad_evals=num_chains * steps,
        num_loss_evals=num_samples,
    )

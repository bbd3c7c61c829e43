"""Sharpness measures and 1-D interpolation between two weight vectors.

* :func:`epsilon_sharpness` (Keskar et al., 2017): the largest loss increase in a neighbourhood
  :math:`C_\\varepsilon` of ``x``, reported as :math:`100\\,(\\max_{z\\in C_\\varepsilon}f(x+z)-f(x))/(1+f(x))`.
  ``constraint="box"``: :math:`|z_i|\\le\\varepsilon(|x_i|+1)` (Keskar's box); ``"ball"``:
  :math:`\\|z\\|_2\\le\\varepsilon(\\|x\\|_2+1)`. The maximum is sought by projected ascent from a random
  start (sign steps in the box, normalized-gradient steps in the ball), keeping the best point
  seen, so the result is a lower bound on the true maximum (a local maximum in general).
* :func:`sam_sharpness` (Foret et al., SAM): :math:`f(x+\\rho\\,\\nabla f/\\|\\nabla f\\|)-f(x)`, one
  normalized ascent step.
* :func:`interpolate`: loss and error along :math:`x(\\alpha)=(1-\\alpha)x_a+\\alpha x_b`, batch-norm
  running statistics interpolated the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._functional import Batch, FlatLoss, LossFn, check_state_dict

__all__ = [
    "InterpolationResult",
    "SharpnessEstimate",
    "epsilon_sharpness",
    "interpolate",
    "sam_sharpness",
]


@dataclass
class SharpnessEstimate:
    """``loss`` f(x); ``max_loss`` the largest loss found; ``increase`` their difference;
    ``sharpness`` = 100 * increase / (1 + loss) (Keskar's normalization); ``perturbation`` the
    flat z reaching ``max_loss``; ``num_grad_evals`` gradients used."""

    loss: float
    max_loss: float
    increase: float
    sharpness: float
    perturbation: Tensor
    num_grad_evals: int


def _result(loss: float, max_loss: float, z: Tensor, n: int) -> SharpnessEstimate:
    inc = max_loss - loss
    return SharpnessEstimate(loss, max_loss, inc, 100.0 * inc / (1.0 + loss), z, n)


def epsilon_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    epsilon: float = 1e-3,
    *,
    constraint: str = "box",
    steps: int = 20,
    step_fraction: float = 0.25,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    seed: int = 0,
) -> SharpnessEstimate:
    """Keskar-style :math:`\\varepsilon`-sharpness by projected ascent (module docstring).

    Each of ``steps`` ascent steps moves ``step_fraction`` of the radius (per coordinate in the
    box) and costs one gradient.
    """
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"Invalid epsilon value: {epsilon}")
    if constraint not in ("box", "ball"):
        raise ValueError(f"Invalid constraint value: {constraint!r} (choose 'box' or 'ball')")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps value: {steps}")
    if not 0 < step_fraction <= 2:
        raise ValueError(f"Invalid step_fraction value: {step_fraction}")
    fl = FlatLoss(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode)
    x = fl.x0
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(fl.num_params, generator=gen, dtype=fl.dtype).to(fl.device)
    if constraint == "box":
        r = epsilon * (x.abs() + 1)
        z = (2 * u - 1) * r

        def ascend(z: Tensor, g: Tensor) -> Tensor:
            return torch.clamp(z + step_fraction * r * torch.sign(g), -r, r)
    else:
        radius = epsilon * (float(x.norm()) + 1)
        z = (2 * u - 1) * (0.5 * radius / float((2 * u - 1).norm()))

        def ascend(z: Tensor, g: Tensor) -> Tensor:
            z = z + step_fraction * radius * g / max(float(g.norm()), 1e-30)
            return z * min(1.0, radius / max(float(z.norm()), 1e-30))

    loss0 = float(fl.loss())
    best, best_z = -math.inf, z
    for _ in range(steps):
        value, g = fl.loss_and_grad(x + z)
        if float(value) > best:
            best, best_z = float(value), z
        z = ascend(z, g)
    last = float(fl.loss(x + z))
    if last > best:
        best, best_z = last, z
    return _result(loss0, best, best_z, steps)


def sam_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    rho: float = 0.05,
    *,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
) -> SharpnessEstimate:
    """SAM's :math:`\\rho`-sharpness :math:`f(x+\\rho\\hat g)-f(x)`, :math:`\\hat g=\\nabla f(x)/\\|\\nabla f(x)\\|`.

    ``sharpness`` is Keskar-normalized like :func:`epsilon_sharpness`; ``increase`` is SAM's.
    """
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"Invalid rho value: {rho}")
    fl = FlatLoss(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode)
    loss, g = fl.loss_and_grad()
    z = rho * g / max(float(g.norm()), 1e-30)
    return _result(float(loss), float(fl.loss(fl.x0 + z)), z, 1)


@dataclass
class InterpolationResult:
    """``alphas`` (n,), ``losses`` (n,), ``errors`` (n,) top-1 error fractions or ``None`` when the
    outputs are not class scores for integer targets."""

    alphas: np.ndarray
    losses: np.ndarray
    errors: np.ndarray | None


def _state_of(other: nn.Module | Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    return other.state_dict() if isinstance(other, nn.Module) else other


def interpolate(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    other: nn.Module | Mapping[str, Tensor],
    alphas: Sequence[float] | np.ndarray | None = None,
    *,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    source: str = "other",
) -> InterpolationResult:
    """Loss (and top-1 error) at :math:`(1-\\alpha)x_a+\\alpha x_b`, ``x_a`` = ``model``'s weights and
    buffers, ``x_b`` = ``other``'s (a module of the same architecture or its ``state_dict``).

    ``alphas`` default: 21 points on [0, 1]. Outside [0, 1] batch-norm running variances are
    extrapolated and can turn negative (the loss is then NaN). A state dict that does not fit
    ``model`` raises a ValueError naming ``source``.
    """
    check_state_dict(model, _state_of(other), source)
    state = _state_of(other)
    alphas = np.linspace(0.0, 1.0, 21) if alphas is None else np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"Invalid alphas value: {alphas}")
    fl = FlatLoss(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode)
    xb = torch.cat([state[n].detach().reshape(-1) for n in fl.names]).to(fl.x0)
    bufs_b = {n: state[n].detach().to(fl.device) for n in fl.buffers}
    losses, errors = [], []
    with torch.no_grad():
        for a in alphas:
            flat = (1 - a) * fl.x0 + a * xb
            bufs = {
                n: ((1 - a) * b + a * bufs_b[n].to(b.dtype)) if b.is_floating_point() else b
                for n, b in fl.buffers.items()
            }
            loss, wrong, classify = 0.0, 0, True
            for (inputs, targets), w in zip(fl.batches, fl.weights):
                out = fl.outputs(flat, inputs, bufs)
                loss += float(loss_fn(out, targets)) * w
                classify = classify and out.ndim == 2 and not targets.is_floating_point()
                if classify:
                    wrong += int((out.argmax(1) != targets).sum())
            losses.append(loss)
            errors.append(wrong / fl.num_samples if classify else math.nan)
    errs = np.asarray(errors) if not np.isnan(errors).any() else None
    return InterpolationResult(alphas, np.asarray(losses), errs)

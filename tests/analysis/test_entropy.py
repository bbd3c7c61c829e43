"""Local entropy by Monte Carlo vs the closed form of PAPER.md §2.7 on a quadratic."""

from __future__ import annotations

import math

import pytest
import torch

from deeprelax.analysis import local_entropy

from .conftest import DUMMY_BATCHES, Quadratic, loss_of_output, rotated_spd


def closed_form(A: torch.Tensor, x: torch.Tensor, g: float, beta: float):
    """f_gamma(x) = 1/2 x'A(I+tA)^{-1}x + log det(I+tA)/(2 beta), t = 1/g; x - <y> = (A+gI)^{-1}Ax."""
    d = A.shape[0]
    eye = torch.eye(d, dtype=torch.float64)
    t = 1.0 / g
    value = 0.5 * x @ A @ torch.linalg.solve(eye + t * A, x)
    value = value + torch.logdet(eye + t * A) / (2 * beta)
    return float(value), torch.linalg.solve(A + g * eye, A @ x)


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_quadratic_local_entropy_matches_closed_form(beta):
    A = rotated_spd([0.5, 1.0, 3.0], seed=1)
    x = torch.tensor([1.0, -0.8, 0.6], dtype=torch.float64)
    g = 2.0
    model = Quadratic(A, x)
    est = local_entropy(
        model,
        loss_of_output,
        DUMMY_BATCHES,
        gamma=g,
        beta=beta,
        num_chains=8,
        steps=500,
        burn_in=50,
        step_size=0.15,
        num_samples=3000,
        dtype=torch.float64,
        seed=3,
    )
    value, disp = closed_form(A, x, g, beta)
    # Both estimators are unbiased here (Gaussian value samples are exact; the Langevin
    # discretization keeps the mean of a Gaussian target), so 4 standard errors bound the error.
    assert abs(est.value - value) < 4 * est.value_stderr, (est.value, value, est.value_stderr)
    assert torch.all((est.displacement - disp).abs() < 4.5 * est.displacement_stderr)
    assert torch.allclose(est.gradient, g * est.displacement)
    # unbiased |x - <y>|^2: its spread is ~ 2 |x-<y>| * se(norm); 5 such errors allowed
    sq = float(disp @ disp)
    assert abs(est.displacement_sq_unbiased - sq) < 5 * 2 * est.displacement_norm_stderr * sq**0.5
    # the check is informative: 4.5 standard errors stay well below the smallest coordinate of
    # x - <y> (a sign error or a missing factor g would fail) and 4 below 10 % of the value
    assert est.value_stderr < 0.025 * abs(value)
    assert float(est.displacement_stderr.max()) < 0.15 * float(disp.abs().min())
    assert abs(est.loss - float(0.5 * x @ A @ x)) < 1e-12
    assert est.num_grad_evals == 8 * 500 and est.num_loss_evals == 3000


def test_large_coupling_recovers_loss_and_gradient():
    """g -> infinity: f_gamma -> f and g (x - <y>) -> grad f (PAPER.md §5.9)."""
    A = rotated_spd([1.0, 2.0], seed=2)
    x = torch.tensor([0.7, -0.4], dtype=torch.float64)
    g = 1e4
    est = local_entropy(
        Quadratic(A, x),
        loss_of_output,
        DUMMY_BATCHES,
        gamma=g,
        beta=1.0,
        num_chains=4,
        steps=300,
        burn_in=100,
        step_size=1e-4,
        num_samples=500,
        dtype=torch.float64,
    )
    value, disp = closed_form(A, x, g, 1.0)
    assert abs(est.value - value) < 4 * est.value_stderr
    assert abs(value - est.loss) < 1e-3
    assert torch.all((est.gradient - g * disp).abs() < 4.5 * g * est.displacement_stderr)


def test_bad_inputs():
    model = Quadratic(torch.eye(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    for kwargs, msg in [
        (dict(gamma=0.0), "Invalid gamma value: 0.0"),
        (dict(gamma=1.0, beta=-1.0), "Invalid beta value: -1.0"),
        (dict(gamma=1.0, num_chains=1), "Invalid num_chains value: 1"),
        (dict(gamma=1.0, steps=5, burn_in=5), "Invalid steps value: 5"),
        (dict(gamma=1.0, step_size=math.nan), "Invalid step_size value: nan"),
    ]:
        with pytest.raises(ValueError, match=msg):
            local_entropy(model, loss_of_output, DUMMY_BATCHES, **kwargs)
    with pytest.raises(ValueError, match="Invalid batches value: empty"):
        local_entropy(model, loss_of_output, [], gamma=1.0)
    with pytest.raises(FloatingPointError, match="diverged"):
        local_entropy(
            Quadratic(1e3 * torch.eye(2), torch.ones(2)),
            loss_of_output,
            DUMMY_BATCHES,
            gamma=1.0,
            step_size=1.0,
            steps=200,
            burn_in=0,
        )

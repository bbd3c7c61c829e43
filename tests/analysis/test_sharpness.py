"""Sharpness measures and interpolation against closed forms on quadratics and direct evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeprelax.analysis import epsilon_sharpness, interpolate, sam_sharpness

from .conftest import DUMMY_BATCHES, Quadratic, loss_of_output, rotated_spd, small_net


def test_box_sharpness_reaches_the_corner_of_a_diagonal_quadratic():
    a = torch.tensor([1.0, 2.0, 5.0, 0.5], dtype=torch.float64)
    x = torch.tensor([0.8, -0.5, 1.5, -2.0], dtype=torch.float64)
    eps = 0.1
    res = epsilon_sharpness(
        Quadratic(torch.diag(a), x), loss_of_output, DUMMY_BATCHES, eps, dtype=torch.float64
    )
    r = eps * (x.abs() + 1)  # |x_i| > r_i: the global maximum is the corner x_i + r_i sign(x_i)
    f0 = float(0.5 * (a * x**2).sum())
    fmax = float(0.5 * (a * (x.abs() + r) ** 2).sum())
    assert abs(res.max_loss - fmax) < 1e-12
    assert abs(res.sharpness - 100 * (fmax - f0) / (1 + f0)) < 1e-9
    assert torch.allclose(res.perturbation, r * torch.sign(x))


def test_ball_sharpness_at_a_minimum_is_half_eps2_lambda_max():
    A = rotated_spd([0.3, 1.0, 2.0, 4.0], seed=4)
    eps = 0.05
    res = epsilon_sharpness(
        Quadratic(A, torch.zeros(4, dtype=torch.float64)),
        loss_of_output,
        DUMMY_BATCHES,
        eps,
        constraint="ball",
        steps=40,
        step_fraction=1.0,
        dtype=torch.float64,
    )
    exact = 0.5 * eps**2 * 4.0  # radius eps * (|x| + 1) = eps at x = 0
    # On the sphere |z| = r, a step r g/|g| with g = Az, |Az| ~ lambda_1 r, multiplies z by
    # about I + A/lambda_1: the next component shrinks by (1 + 2/4)/2 = 0.75 per step, the loss
    # gap by 0.75^2 per step, far below 1e-6 after 40 steps.
    assert exact * (1 - 1e-6) < res.increase <= exact * (1 + 1e-12)
    assert abs(float(res.perturbation.norm()) - eps) < 1e-12


def test_sam_sharpness_closed_form():
    A = rotated_spd([0.5, 1.5, 3.0], seed=5)
    x = torch.tensor([0.3, -1.0, 0.7], dtype=torch.float64)
    rho = 0.2
    res = sam_sharpness(Quadratic(A, x), loss_of_output, DUMMY_BATCHES, rho, dtype=torch.float64)
    g = A @ x
    z = rho * g / g.norm()
    exact = float(0.5 * (x + z) @ A @ (x + z) - 0.5 * x @ A @ x)
    assert abs(res.increase - exact) < 1e-12
    assert res.num_grad_evals == 1


def _direct_loss_and_error(model, batches):
    model.eval()
    with torch.no_grad():
        x = torch.cat([b[0] for b in batches])
        y = torch.cat([b[1] for b in batches])
        out = model(x)
        return float(F.cross_entropy(out, y)), float((out.argmax(1) != y).double().mean())


def test_interpolation_matches_direct_evaluation():
    model_a, batches = small_net(seed=0, width=16)
    model_b, _ = small_net(seed=1, width=16)
    alphas = np.array([-0.5, 0.0, 0.3, 1.0, 1.5])
    res = interpolate(model_a, F.cross_entropy, batches, model_b, alphas, dtype=torch.float64)
    sa, sb = model_a.state_dict(), model_b.state_dict()
    for a, loss, err in zip(alphas, res.losses, res.errors):
        mixed = copy.deepcopy(model_a).double()
        mixed.load_state_dict(
            {
                k: (1 - a) * v.double() + a * sb[k].double() if v.is_floating_point() else v
                for k, v in sa.items()
            }
        )
        dbl = [(x.double(), y) for x, y in batches]
        exact_loss, exact_err = _direct_loss_and_error(mixed, dbl)
        assert abs(loss - exact_loss) < 1e-10 and abs(err - exact_err) < 1e-12
    assert res.losses[1] != res.losses[3]


def test_interpolation_rejects_another_model():
    model_a, batches = small_net(seed=0, width=16)
    other = nn.Sequential(nn.Linear(12, 4))
    with pytest.raises(ValueError, match=r"ckpt.pt does not match the model: missing keys"):
        interpolate(model_a, F.cross_entropy, batches, other.state_dict(), source="ckpt.pt")
    wider, _ = small_net(seed=0, width=20)
    with pytest.raises(ValueError, match=r"0.weight has shape \(20, 12\)"):
        interpolate(model_a, F.cross_entropy, batches, wider)


def test_bad_inputs():
    model = Quadratic(torch.eye(2), torch.ones(2))
    with pytest.raises(ValueError, match="Invalid epsilon value: 0"):
        epsilon_sharpness(model, loss_of_output, DUMMY_BATCHES, 0)
    with pytest.raises(ValueError, match="Invalid constraint value"):
        epsilon_sharpness(model, loss_of_output, DUMMY_BATCHES, 0.1, constraint="cube")
    with pytest.raises(ValueError, match="Invalid rho value: -1"):
        sam_sharpness(model, loss_of_output, DUMMY_BATCHES, -1)
    with pytest.raises(ValueError, match="Invalid batches value: empty"):
        sam_sharpness(model, loss_of_output, [], 0.1)

"""Closed forms on quadratics and on a separable cosine (PAPER.md §2.6, §2.7)."""

from __future__ import annotations

import math

import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

A = torch.tensor([[1.0, 0.3, 0.0], [0.3, 2.0, -0.4], [0.0, -0.4, 0.5]], dtype=torch.float64)
X0 = torch.tensor([1.0, -0.7, 0.4], dtype=torch.float64)
I3 = torch.eye(3, dtype=torch.float64)


def direction_of(make, f, x0=X0, repeats=1):
    """D = x - x_new for lr = 1 and no momentum, from the same x each time; returns (repeats, d)."""
    x = torch.nn.Parameter(x0.clone())
    opt = make([x])

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    out = []
    for _ in range(repeats):
        with torch.no_grad():
            x.copy_(x0)
        opt.step(closure)
        out.append((x0 - x.detach()).clone())
    return torch.stack(out)


def quad(x):
    return 0.5 * x @ A @ x


def test_prox_sgd_direction_is_x_minus_the_proximal_point():
    g = 2.0
    D = direction_of(
        lambda ps: ProxSGD(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=400,
            gamma=g,
            inner_lr=0.1,
            inner_momentum=0.0,
        ),
        quad,
    )[0]
    expected = X0 - torch.linalg.solve(A + g * I3, g * X0)
    torch.testing.assert_close(D, expected, rtol=1e-10, atol=1e-12)


def test_hj_fixed_point_is_the_hopf_lax_gradient():
    g = 2.0
    t = 1.0 / g
    D = direction_of(lambda ps: HJ(ps, lr=1.0, momentum=0.0, nesterov=False, L=300, gamma=g), quad)[
        0
    ]
    expected = A @ torch.linalg.solve(I3 + t * A, X0)
    torch.testing.assert_close(D, expected, rtol=1e-10, atol=1e-12)


def test_hj_direction_differs_from_the_plain_gradient():
    """The check above could fail: the relaxed gradient is not A x."""
    D = direction_of(
        lambda ps: HJ(ps, lr=1.0, momentum=0.0, nesterov=False, L=300, gamma=2.0), quad
    )[0]
    assert (D - A @ X0).abs().max() > 0.1


def test_heat_direction_has_the_mean_of_the_smoothed_gradient():
    """f = sum cos(x): grad (G_t * f)(x) = -sin(x) exp(-t/2) exactly."""
    t = 0.5
    torch.manual_seed(0)
    samples = direction_of(
        lambda ps: Heat(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=50,
            gamma=1.0 / t,
            generator=torch.Generator().manual_seed(0),
        ),
        lambda x: torch.cos(x).sum(),
        repeats=200,
    )
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    expected = -torch.sin(X0) * math.exp(-t / 2)
    assert ((mean - expected).abs() < 4 * se).all(), (mean, expected, se)
    unsmoothed = -torch.sin(X0)
    assert ((mean - unsmoothed).abs() > 4 * se).any()


def test_heat_direction_on_a_quadratic_has_mean_Ax():
    samples = direction_of(
        lambda ps: Heat(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=20,
            gamma=4.0,
            generator=torch.Generator().manual_seed(1),
        ),
        quad,
        repeats=100,
    )
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert ((mean - A @ X0).abs() < 4 * se).all()


def finite_L_mean(g, inner_lr, alpha, L):
    """E[x - mu_L] for the chain without inner momentum (PAPER.md §2.7)."""
    M = I3 - inner_lr * (A + g * I3)
    y_star = torch.linalg.solve(A + g * I3, g * X0)
    S = (1 - (1 - alpha) ** L) * I3
    Mi = I3.clone()
    for i in range(1, L + 1):
        Mi = Mi @ M
        S = S - alpha * (1 - alpha) ** (L - i) * Mi
    return S @ (X0 - y_star)


def test_entropy_sgd_mean_direction_matches_the_finite_L_closed_form():
    g, inner_lr, alpha, L = 1.0, 0.1, 0.25, 10
    samples = direction_of(
        lambda ps: EntropySGD(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=L,
            gamma=g,
            inner_lr=inner_lr,
            inner_momentum=0.0,
            noise=0.3,
            alpha=alpha,
            generator=torch.Generator().manual_seed(2),
        ),
        quad,
        repeats=400,
    )
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    expected = finite_L_mean(g, inner_lr, alpha, L)
    assert ((mean - expected).abs() < 4 * se).all(), (mean, expected, se)
    assert (se < 0.02).all()  # the noise is real but the test stays sharp


def test_entropy_sgd_mean_direction_with_inner_momentum_is_the_noise_free_run():
    """With momentum the inner map is affine in (y, m'): E[D] = the noise-free direction."""

    def make(noise, seed):
        return lambda ps: EntropySGD(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=8,
            gamma=1.0,
            inner_lr=0.05,
            noise=noise,
            generator=torch.Generator().manual_seed(seed),
        )

    noisy = direction_of(make(0.3, 3), quad, repeats=400)
    clean = direction_of(make(0.0, 3), quad)[0]
    mean, se = noisy.mean(0), noisy.std(0) / math.sqrt(len(noisy))
    assert ((mean - clean).abs() < 4 * se).all()


def test_entropy_sgd_long_noise_free_chain_tends_to_the_proximal_direction():
    """eps = 0, alpha = 1, L -> infinity: D = x - prox (PAPER.md §5.9), the same as ProxSGD's."""
    g = 2.0
    D = direction_of(
        lambda ps: EntropySGD(
            ps,
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=400,
            gamma=g,
            noise=0.0,
            alpha=1.0,
            inner_momentum=0.5,
        ),
        quad,
    )[0]
    expected = X0 - torch.linalg.solve(A + g * I3, g * X0)
    torch.testing.assert_close(D, expected, rtol=1e-10, atol=1e-12)

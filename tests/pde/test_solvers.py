"""Cross-check solvers: upwind FD, Fokker-Planck and particles against exact solutions."""

import math

import numpy as np
import pytest

from deeprelax.pde import cole_hopf, hopf_lax
from deeprelax.pde.solvers import fokker_planck, simulate_particles, upwind_hj


def _f(x):
    return x**2 + 1.5 * np.sin(2 * np.pi * x)


@pytest.mark.parametrize("beta, t", [(None, 0.05), (1.0, 0.1)])
def test_upwind_converges_to_exact(beta, t):
    """First-order scheme: the error against the exact grid solution falls as dx falls."""
    errs = []
    for n in (151, 301, 601):
        x = np.linspace(-3, 3, n)
        dx = x[1] - x[0]
        u = upwind_hj(_f(x), dx, t, beta)
        exact = hopf_lax(_f(x), dx, t) if beta is None else cole_hopf(_f(x), dx, t, beta)
        inner = np.abs(x) < 2
        errs.append(np.max(np.abs(u - exact)[inner]))
    assert errs[2] < errs[1] < errs[0]
    assert errs[2] < 0.6 * errs[0] / 2  # at least first order over a 4x refinement, with slack


def test_fokker_planck_mass_and_stationary_law():
    x = np.linspace(-3, 3, 301)
    dx = x[1] - x[0]
    u = 0.5 * x**2
    D = 0.5
    rho0 = np.exp(-((x - 1.5) ** 2) / 0.02)
    rho0 /= rho0.sum() * dx
    rho = fokker_planck(rho0, -np.gradient(u, dx), dx, D, 8.0)
    assert abs(rho.sum() * dx - 1) < 1e-12
    gibbs = np.exp(-u / D)
    gibbs /= gibbs.sum() * dx
    # the stationary law of dx = -u' ds + sqrt(2D) dW is exp(-u/D): first-order upwind error O(dx)
    assert np.max(np.abs(rho - gibbs)) < 0.05 * np.max(gibbs)


def test_fokker_planck_bad_input():
    with pytest.raises(ValueError, match="Invalid D value"):
        fokker_planck(np.ones(5), np.zeros(5), 0.1, 0.0, 1.0)
    with pytest.raises(ValueError, match="Invalid velocity value"):
        fokker_planck(np.ones(5), np.zeros(4), 0.1, 0.1, 1.0)


def test_particles_ornstein_uhlenbeck():
    """dx = -x ds + sqrt(2D) dW from x0 = 2: mean 2 e^-T, variance D (1 - e^-2T)."""
    rng = np.random.default_rng(0)
    n, D, T = 20000, 0.3, 1.0
    xs = simulate_particles(np.full(n, 2.0), lambda x, s: x, D, T, 1000, rng)
    se = math.sqrt(D / n)
    assert abs(xs.mean() - 2 * math.exp(-T)) < 4 * se + 2e-3  # MC + Euler O(ds) bias
    assert abs(xs.var() - D * (1 - math.exp(-2 * T))) < 0.03 * D

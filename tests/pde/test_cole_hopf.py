"""deeprelax.pde.cole_hopf against direct log-domain quadrature, closed forms and heat."""

import math

import numpy as np
import pytest

from deeprelax.pde import cole_hopf, cole_hopf_direct, cole_hopf_grad, cole_hopf_mean, heat

X = np.linspace(-3, 3, 2001)
DX = X[1] - X[0]
F = X**2 + 1.5 * np.sin(2 * np.pi * X)


@pytest.mark.parametrize(
    "beta, t",
    [(1.0, 0.2), (5.0, 0.3), (100.0, 0.1), (1000.0, 0.1), (3000.0, 0.05), (50.0, 5.0)],
)
def test_matches_direct_quadrature_everywhere(beta, t):
    """Every grid point, including where exp(-beta f) underflows (beta f up to 3e4)."""
    u = cole_hopf(F, DX, t, beta)
    ref = cole_hopf_direct(F, DX, t, beta)
    # the partition sum is certified to 1e-10 relative: |du| <= 1e-10 / beta (+ roundoff of log)
    err = np.abs(u - ref) * beta
    assert np.max(err) <= 1e-10 + 4e-16 * np.max(np.abs(ref * beta))
    if beta >= 100:
        assert np.max(beta * F) > 745  # the regime where exp(-beta f) underflows


def test_rough_landscape_matches_direct():
    rng = np.random.default_rng(0)
    f = np.cumsum(rng.normal(size=3000)) * 0.3  # rough, many wells and shocks
    u = cole_hopf(f, 0.01, 0.05, 200.0)
    ref = cole_hopf_direct(f, 0.01, 0.05, 200.0)
    assert np.max(np.abs(u - ref)) * 200.0 <= 1e-10 + 4e-16 * np.max(np.abs(ref)) * 200


def test_quadratic_closed_form_and_gradient():
    y = np.linspace(-8, 8, 8001)
    a, t, beta = 3.0, 0.3, 5.0
    g = 0.5 * a * y**2
    u = cole_hopf(g, y[1] - y[0], t, beta)
    exact = 0.5 * a * y**2 / (1 + t * a) + math.log(1 + t * a) / (2 * beta)
    inner = np.abs(y) < 4  # the Gibbs law stays inside the box
    assert np.max(np.abs(u - exact)[inner]) < 1e-9  # Riemann sums of Gaussians: spectral
    grad = cole_hopf_grad(g, y[1] - y[0], t, beta)
    # grad f_gamma = A (I + gamma A)^-1 x; <y> carries ~1e-10 * (box width) / t of error
    assert np.max(np.abs(grad - a * y / (1 + t * a))[inner]) < 1e-7


def test_gibbs_mean_matches_direct_quadrature():
    beta, t = 5.0, 0.3
    rows = np.arange(0, X.size, 97)
    mean = cole_hopf_mean(F, DX, t, beta, origin=X[0])
    logw = -beta * F[None, :] - beta * (X[rows, None] - X[None, :]) ** 2 / (2 * t)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    ref = (w @ X) / w.sum(axis=1)
    np.testing.assert_allclose(mean[rows], ref, atol=1e-8)


def test_2d_separable_equals_direct_2d():
    n1, n2 = 21, 17
    y1 = np.linspace(-2, 2, n1)
    y2 = np.linspace(-1.5, 1.5, n2)
    d = (y1[1] - y1[0], y2[1] - y2[0])
    Y1, Y2 = np.meshgrid(y1, y2, indexing="ij")
    f = Y1**2 + np.sin(3 * Y1 * Y2) * 4 + Y2**2
    beta, t = 300.0, 0.2
    u = cole_hopf(f, d, t, beta)
    ref = np.empty_like(f)
    for i in range(n1):
        for j in range(n2):
            z = -beta * f - beta * ((Y1 - y1[i]) ** 2 + (Y2 - y2[j]) ** 2) / (2 * t)
            m = z.max()
            s = m + math.log(np.exp(z - m).sum())
            ref[i, j] = (
                -(s + sum(math.log(h / math.sqrt(2 * math.pi * t / beta)) for h in d)) / beta
            )
    assert np.max(np.abs(u - ref)) * beta <= 3e-10


def test_heat_on_quadratic():
    y = np.linspace(-10, 10, 4001)
    v = heat(y**2, y[1] - y[0], 0.5)
    inner = np.abs(y) < 5
    np.testing.assert_allclose(v[inner], y[inner] ** 2 + 0.5, rtol=0, atol=1e-10)


def test_local_entropy_below_heat():
    u = cole_hopf(F, DX, 0.3, 5.0)
    v = heat(F, DX, 0.3 / 5.0)
    inner = np.abs(X) < 2
    assert np.all(u[inner] <= v[inner])


@pytest.mark.parametrize(
    "args, match",
    [
        ((F, DX, 0.3, 0.0), "Invalid beta value"),
        ((F, DX, 0.3, -1.0), "Invalid beta value"),
        ((F, DX, 0.0, 1.0), "Invalid t value"),
        ((F, -DX, 0.3, 1.0), "Invalid dx value"),
        ((np.array([1.0, np.nan]), DX, 0.3, 1.0), "Invalid f value"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        cole_hopf(*args)


def test_heat_bad_input():
    with pytest.raises(ValueError, match="Invalid t value"):
        heat(F, DX, -1.0)


@pytest.mark.parametrize("c", [1e-4, 1e-2, 0.5])
def test_batched_rows_match_direct(c):
    """The many-row path (2-D passes) against direct log-sum-exp on rough, multi-well rows."""
    from deeprelax.pde._logconv import log_gauss_conv_direct, log_gauss_conv_rows

    rng = np.random.default_rng(1)
    A = np.cumsum(rng.normal(size=(12, 600)), axis=1) * 30  # log-weights spanning thousands
    got = log_gauss_conv_rows(A, c)
    ref = np.array([log_gauss_conv_direct(a, c) for a in A])
    # certified 1e-10 relative on the sum = 1e-10 absolute on its log (+ roundoff of |log|)
    assert np.max(np.abs(got - ref)) <= 1e-10 + 4e-16 * np.max(np.abs(ref))


@pytest.mark.parametrize("seed", range(3))
def test_extreme_parameters_match_direct(seed):
    """Random t in [1e-6, 1e3], beta in [1e-6, 1e6], dx in [1e-4, 1]: kernels from far wider
    than the grid to narrower than one cell (where the tilt's rounding once broke accuracy)."""
    rng = np.random.default_rng(100 + seed)
    for k in range(12):
        n = int(rng.integers(2, 400))
        dx, t, beta = 10 ** rng.uniform(-4, 0), 10 ** rng.uniform(-6, 3), 10 ** rng.uniform(-6, 6)
        x = np.arange(n) * dx
        f = [
            rng.normal(size=n) * 10 ** rng.uniform(-3, 3),
            np.sin(x * rng.uniform(1, 50)) * rng.uniform(0, 100),
            np.full(n, rng.normal()),
            np.cumsum(rng.normal(size=n)),
        ][k % 4]
        u = cole_hopf(f, dx, t, beta)
        ref = cole_hopf_direct(f, dx, t, beta)
        assert np.max(np.abs(u - ref)) * beta <= 1e-10 + 8e-16 * np.max(np.abs(ref)) * beta, (
            n,
            dx,
            t,
            beta,
            k % 4,
        )

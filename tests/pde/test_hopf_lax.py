"""deeprelax.pde.hopf_lax against the O(N^2) brute force (an independent computation)."""

import numpy as np
import pytest

from deeprelax.pde import hopf_lax, hopf_lax_brute, hopf_lax_grad, prox_point


@pytest.mark.parametrize("seed", range(8))
def test_1d_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 600))
    dx = float(rng.uniform(1e-3, 0.1))
    t = float(10 ** rng.uniform(-4, 1))
    kind = seed % 4
    x = np.arange(n) * dx
    f = [
        rng.normal(size=n) * 5,
        np.sin(7 * x) + 0.3 * x,
        -(x**2) / t * rng.uniform(0, 2) + 1e-3 * rng.normal(size=n),  # concave: long bridges
        np.round(rng.normal(size=n) * 2),  # many exact ties
    ][kind]
    u, j = hopf_lax(f, dx, t, return_argmin=True)
    ref = hopf_lax_brute(f, dx, t)
    np.testing.assert_allclose(u, ref, rtol=1e-12, atol=0)
    # the returned index attains the value
    np.testing.assert_allclose(f[j] + ((np.arange(n) - j) * dx) ** 2 / (2 * t), u, rtol=1e-15)


@pytest.mark.parametrize("shape", [(2, 2), (17, 5), (33, 40), (3, 64)])
def test_2d_equals_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    f = rng.normal(size=shape) + np.add.outer(np.linspace(-1, 1, shape[0]) ** 2, np.zeros(shape[1]))
    dx = (0.07, 0.11)
    u, idx = hopf_lax(f, dx, 0.05, return_argmin=True)
    np.testing.assert_allclose(u, hopf_lax_brute(f, dx, 0.05), rtol=1e-12, atol=1e-15)
    i1, i2 = np.indices(shape)
    val = f[idx[0], idx[1]] + (((i1 - idx[0]) * dx[0]) ** 2 + ((i2 - idx[1]) * dx[1]) ** 2) / 0.1
    np.testing.assert_allclose(val, u, rtol=1e-13)


def test_moreau_properties_and_gradient():
    x = np.linspace(-3, 3, 3001)
    dx = x[1] - x[0]
    f = x**2 + 1.5 * np.sin(2 * np.pi * x)
    t = 0.1
    u = hopf_lax(f, dx, t)
    assert np.all(u <= f)  # y = x is a candidate
    assert np.argmin(u) == np.argmin(f) and u.min() == f.min()
    y = prox_point(f, dx, t, origin=x[0])
    g = hopf_lax_grad(f, dx, t)
    np.testing.assert_allclose(g, (x - y) / t, atol=1e-10)  # linspace vs origin + k dx rounding
    # grad u = f'(y*) where y* is interior: grid error at most one step of y*
    inner = (y > -2.9) & (y < 2.9)
    fp = 2 * y + 3 * np.pi * np.cos(2 * np.pi * y)
    assert np.max(np.abs(g - fp)[inner]) <= (1 / t + 2 + 6 * np.pi**2) * dx


def test_quadratic_closed_form():
    x = np.linspace(-4, 4, 8001)
    a, t = 3.0, 0.3
    u = hopf_lax(0.5 * a * x**2, x[1] - x[0], t)
    exact = 0.5 * a * x**2 / (1 + t * a)
    inner = np.abs(x) < 2  # prox stays inside the box
    # the grid minimum is within (a + 1/t) dx^2 / 8 of the continuous one
    assert np.max(np.abs(u - exact)[inner]) <= (a + 1 / t) * (x[1] - x[0]) ** 2 / 8 + 1e-14


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(f=[1.0, np.nan, 2.0], dx=0.1, t=1.0), "Invalid f value"),
        (dict(f=[1.0, np.inf], dx=0.1, t=1.0), "Invalid f value"),
        (dict(f=np.zeros((2, 2, 2)), dx=0.1, t=1.0), "Invalid f value"),
        (dict(f=[1.0], dx=0.1, t=1.0), "Invalid f value"),
        (dict(f=[1.0, 2.0], dx=0.1, t=0.0), "Invalid t value"),
        (dict(f=[1.0, 2.0], dx=0.1, t=-1.0), "Invalid t value"),
        (dict(f=[1.0, 2.0], dx=0.0, t=1.0), "Invalid dx value"),
        (dict(f=np.zeros((3, 3)), dx=(0.1, 0.1, 0.1), t=1.0), "Invalid dx value"),
        (dict(f="abc", dx=0.1, t=1.0), "Invalid f value"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hopf_lax(**kwargs)

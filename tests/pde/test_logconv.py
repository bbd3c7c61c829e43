"""The blocked log-domain Gaussian convolution against direct log-sum-exp, on rough landscapes.

Every grid point is compared, for landscape classes where exp(a) spans thousands of nats (random
walks, many narrow wells, white noise) and kernels from under one grid step to wider than the
grid, so both block sums (matrix product for narrow kernels, FFT for wide ones) are exercised.
"""

import numpy as np
import pytest

from deeprelax.pde._logconv import _Plan, log_gauss_conv_direct, log_gauss_conv_rows

N = 3000


def _landscape(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Log-weights a = -beta f with beta (max f - min f) = 1e4."""
    if kind == "walk":
        f = np.cumsum(rng.normal(size=n))
    elif kind == "wells":  # 150 narrow wells (width 2 points) of random depth on a plateau
        centres = rng.choice(n, 150, replace=False)
        dist = np.abs(np.arange(n)[:, None] - centres[None, :])
        f = 1.0 - np.max(rng.uniform(0.3, 1.0, 150) * np.exp(-((dist / 2.0) ** 2)), axis=1)
    elif kind == "noise":
        f = rng.random(n)
    else:  # smooth, one broad basin with ripples
        x = np.linspace(-3, 3, n)
        f = x**2 + 1.5 * np.sin(2 * np.pi * x)
    return -1e4 * (f - f.min()) / np.ptp(f)


def _check(a: np.ndarray, c: float) -> None:
    got = log_gauss_conv_rows(a[None, :], c)[0]
    ref = log_gauss_conv_direct(a, c)
    # the sum to 1e-10 relative is its log to 1e-10 absolute (+ rounding of |log| ~ 1e4)
    assert np.max(np.abs(got - ref)) <= 1e-10 + 4e-16 * np.max(np.abs(ref))


@pytest.mark.parametrize("kind", ["walk", "wells", "noise", "smooth"])
@pytest.mark.parametrize("sigma", [0.7, 3.0, 20.0, 300.0, 5000.0])
def test_rough_classes_every_point(kind, sigma):
    rng = np.random.default_rng(7)
    _check(_landscape(kind, N, rng), 1.0 / (2.0 * sigma**2))


def test_both_block_sums_are_exercised():
    assert _Plan(1.0 / (2 * 20.0**2), N).fft is None  # matrix product
    assert _Plan(1.0 / (2 * 300.0**2), N).fft is not None  # FFT


def test_two_equal_far_wells_both_counted():
    """Half way between two equally deep wells, each carries half of the sum (log 2 apart)."""
    a = np.full(4001, -5000.0)
    a[[500, 3500]] = 0.0
    c = 1.0 / (2 * 400.0**2)
    got = log_gauss_conv_rows(a[None, :], c)[0]
    assert abs(got[2000] - (np.log(2.0) - c * 1500.0**2)) < 1e-10
    _check(a, c)


def test_far_deep_well_dominates_through_the_tail():
    """A well 3000 points away and 3000 nats deeper wins over the local plateau."""
    a = np.zeros(6000)
    a[5500] = 3000.0
    _check(a, 1.0 / (2 * 60.0**2))


def test_wide_kernel_many_rows_sampled():
    rng = np.random.default_rng(3)
    n = 60000
    a = _landscape("walk", n, rng)
    c = 1.0 / (2 * 2000.0**2)
    got = log_gauss_conv_rows(a[None, :], c)[0]
    rows = np.unique(np.concatenate([rng.choice(n, 150, replace=False), [0, n - 1]]))
    ref = log_gauss_conv_direct(a, c, rows)
    assert np.max(np.abs(got[rows] - ref)) <= 1e-10 + 4e-16 * np.max(np.abs(ref))


def test_batched_rows_of_different_roughness():
    """2-D passes: rows of one batch with ranges from 0 to 1e4 nats and a constant row."""
    rng = np.random.default_rng(5)
    A = np.stack(
        [_landscape(k, 900, rng) * s for k in ("walk", "wells", "noise") for s in (1e-4, 1.0)]
        + [np.full(900, 3.0)]
    )
    c = 1.0 / (2 * 15.0**2)
    got = log_gauss_conv_rows(A, c)
    ref = np.array([log_gauss_conv_direct(a, c) for a in A])
    assert np.max(np.abs(got - ref)) <= 1e-10 + 4e-16 * np.max(np.abs(ref))


@pytest.mark.parametrize("sigma", [50.0, 300.0, 600.0])
def test_fft_block_sum_relative_accuracy(sigma):
    """The FFT block sum, worst case for its absolute error: one weight at a block end, so z at
    the far end is e^-9 of max z; also weights spread over 700 nats. Relative error <= 1e-11
    (e^9 times a few eps: the bound the method is built on)."""
    plan = _Plan(1.0 / (2 * sigma**2), 10**7)
    W = plan.W
    rng = np.random.default_rng(0)
    v = np.stack([np.eye(W)[0], np.exp(-700 * rng.random(W)), rng.random(W)])
    v /= v.max(axis=1, keepdims=True)
    d = np.arange(W, dtype=np.float64)
    ref = v @ np.exp(-plan.c * (d[:, None] - d[None, :]) ** 2)  # positive sums: ~W eps relative
    assert plan.fft is not None
    assert np.max(np.abs(plan.apply(v) - ref) / ref) <= 1e-11

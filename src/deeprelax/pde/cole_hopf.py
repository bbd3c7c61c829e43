"""Viscous Hamilton-Jacobi equation by the Cole-Hopf transform, and heat smoothing, on a grid.

    u_t = -1/2 |grad u|^2 + beta^-1 / 2  Laplace u,   u(x, 0) = f(x)        (PAPER.md §2.2)

With v = exp(-beta u), v_t = beta^-1/2 Laplace v, so

    u(x, t) = -beta^-1 log (G_{t/beta} * exp(-beta f))(x),    G_s(z) = (2 pi s)^{-d/2} e^{-|z|^2/(2s)},

i.e. the local entropy f_gamma of PAPER.md §2.1 at gamma = t. The Gibbs law of y given x is
rho(y; x) ~ exp(-beta f(y) - beta |x - y|^2 / (2 t)) and grad u = (x - <y>) / t (§2.3).

Discretization and boundary: the integral is the Riemann sum over the grid points, so the grid's
box is the whole domain (exp(-beta f) = 0, i.e. f = +infinity, outside). This is exactly the
"direct log-domain quadrature" the fast method is checked against. Near an edge, u is the
relaxation of the restricted f; it agrees with the relaxation on R^d where the Gibbs law of y
keeps away from the edge.

The sums run in the log domain (no overflow or underflow for beta f in the thousands) by tilted
block sums (deeprelax.pde._logconv): relative error of the partition sum <= 1e-10 at every grid
point, by construction, and as fast on rough, high-beta landscapes as on smooth ones. 2-D is
separable (one 1-D log-domain pass per axis).
"""

from __future__ import annotations

import math

import numpy as np

from deeprelax.pde._grid import as_field, as_spacing, next_fast_len, positive
from deeprelax.pde._logconv import log_gauss_conv_direct, log_gauss_conv_rows


def _log_partition(a: np.ndarray, cs: tuple[float, ...]) -> np.ndarray:
    """log sum_y exp(a(y) - sum_k c_k (x_k - y_k)^2) on the grid (1-D or 2-D, separable)."""
    if a.ndim == 1:
        return log_gauss_conv_rows(a[None, :], cs[0])[0]
    inner = log_gauss_conv_rows(a, cs[1])  # along axis 1, for every row
    return np.ascontiguousarray(log_gauss_conv_rows(np.ascontiguousarray(inner.T), cs[0]).T)


def _setup(f, dx, t, beta):
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    beta = positive(beta, "beta")
    cs = tuple(beta * h * h / (2.0 * t) for h in steps)
    # Riemann weight dx G: log(dx / sqrt(2 pi t / beta)) per axis
    logw = sum(math.log(h) - 0.5 * math.log(2.0 * math.pi * t / beta) for h in steps)
    return arr, steps, t, beta, cs, logw


def cole_hopf(f: np.ndarray, dx: float | tuple[float, float], t: float, beta: float) -> np.ndarray:
    """Viscous HJ solution (local entropy) u(x, t) = -beta^-1 log(G_{t/beta} * e^{-beta f})(x).

    Args:
        f: grid values (1-D or 2-D), finite.
        dx: spacing, a float or one per axis.
        t: time t > 0 (the smoothing scale gamma).
        beta: inverse temperature beta > 0.

    Returns:
        u with the shape of f. Relative error of the partition sum <= 1e-10 against direct
        log-domain quadrature at every grid point (so |error of u| <= 1e-10 / beta).
    """
    arr, steps, t, beta, cs, logw = _setup(f, dx, t, beta)
    return -(_log_partition(-beta * arr, cs) + logw) / beta


def cole_hopf_mean(
    f: np.ndarray,
    dx: float | tuple[float, float],
    t: float,
    beta: float,
    origin: float | tuple = 0.0,
) -> np.ndarray:
    """Gibbs mean <y> at every grid point (shape of f, or (2, n1, n2) in 2-D).

    Computed as exp(log-partition with weight (k + 1) - log-partition) per axis, so all sums
    stay positive; absolute error about 1e-10 (n dx) per axis.
    """
    arr, steps, t, beta, cs, _ = _setup(f, dx, t, beta)
    a = -beta * arr
    org = np.broadcast_to(np.asarray(origin, dtype=np.float64), (arr.ndim,))
    logz = _log_partition(a, cs)
    out = []
    for k in range(arr.ndim):
        shape = [1] * arr.ndim
        shape[k] = arr.shape[k]
        idx = np.arange(arr.shape[k], dtype=np.float64).reshape(shape)
        lz1 = _log_partition(a + np.log1p(idx), cs)
        mean_idx = np.exp(lz1 - logz) - 1.0
        out.append(org[k] + steps[k] * mean_idx)
    return out[0] if arr.ndim == 1 else np.stack(out)


def cole_hopf_grad(
    f: np.ndarray, dx: float | tuple[float, float], t: float, beta: float
) -> np.ndarray:
    """grad u(x, t) = (x - <y>) / t (PAPER.md §2.3), shape of f (or (2, n1, n2))."""
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    mean = cole_hopf_mean(arr, steps, t, beta)
    if arr.ndim == 1:
        return (np.arange(arr.size) * steps[0] - mean) / t
    grids = np.indices(arr.shape).astype(np.float64)
    return np.stack([(grids[k] * steps[k] - mean[k]) / t for k in range(2)])


def cole_hopf_direct(f: np.ndarray, dx: float, t: float, beta: float, rows=None) -> np.ndarray:
    """1-D reference: direct log-domain quadrature, O(N) per point (all points or ``rows``)."""
    arr, steps, t, beta, cs, logw = _setup(f, dx, t, beta)
    if arr.ndim != 1:
        raise ValueError(f"Invalid f value: cole_hopf_direct is 1-D only, got shape {arr.shape}")
    return -(log_gauss_conv_direct(-beta * arr, cs[0], rows) + logw) / beta


def heat(f: np.ndarray, dx: float | tuple[float, float], t: float) -> np.ndarray:
    """Heat smoothing (G_t * f)(x): the solution at time t of v_t = 1/2 Laplace v, v(0) = f.

    Riemann sum over the grid (the box is the domain: near an edge the kernel's missing mass
    pulls the value toward 0; accurate where 6 sqrt(t) of margin is inside the grid). Note the
    variance is t: the paper's heat-smoothed loss at temperature beta^-1 is heat(f, dx, t / beta).
    FFT convolution, separable in 2-D; absolute error ~ 1e-15 max|f|.
    """
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    out = arr
    for axis in range(arr.ndim):
        out = _gauss_axis(out, steps[axis], t, axis)
    return out


def _gauss_axis(v: np.ndarray, h: float, t: float, axis: int) -> np.ndarray:
    n = v.shape[axis]
    d = np.arange(-(n - 1), n, dtype=np.float64) * h
    ker = h * np.exp(-(d**2) / (2.0 * t)) / math.sqrt(2.0 * math.pi * t)
    nfft = next_fast_len(n + ker.size - 1)
    V = np.fft.rfft(v, nfft, axis=axis)
    shape = [1] * v.ndim
    shape[axis] = -1
    K = np.fft.rfft(ker, nfft).reshape(shape)
    full = np.fft.irfft(V * K, nfft, axis=axis)
    return np.take(full, np.arange(n - 1, 2 * n - 1), axis=axis)

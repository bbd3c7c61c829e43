"""Claims 4-6, 12: the non-viscous relaxation: Hopf-Lax equals the Moreau envelope, the
viscous solution tends to it as beta grows, its semi-concavity bound, and the fixed point
p = f'(x - t p) that HJ iterates."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deeprelax.pde.hopf_lax import hopf_lax

from ._setup import DY, POINTS, SUP_D2F, YGRID, Claim, T, d2f, df, f, local_entropy
from .viscous import hessian_gibbs


def _hl_fine(x, t):
    """Hopf-Lax at arbitrary x by brute force on the fine quadrature grid."""
    x = np.atleast_1d(x)
    vals = f(YGRID)[None, :] + (x[:, None] - YGRID[None, :]) ** 2 / (2 * t)
    j = np.argmin(vals, axis=1)
    return vals[np.arange(x.size), j], YGRID[j]


def claim_4() -> Claim:
    """Hopf-Lax = Moreau envelope: grid solver = brute force, u <= f, same minimizers,
    grad u = (x - y*)/t = f'(y*), and the non-viscous PDE at a smooth point."""
    fy = f(YGRID)
    u, j = hopf_lax(fy, DY, T, return_argmin=True)
    idx = np.rint((POINTS - YGRID[0]) / DY).astype(int)
    brute, ystar = _hl_fine(POINTS, T)
    d_brute = float(np.max(np.abs(u[idx] - brute) / np.abs(brute)))
    above = float(np.max(u - fy))
    same_min = (np.argmin(u) == np.argmin(fy)) and abs(u.min() - fy.min()) == 0.0
    g = (POINTS - ystar) / T
    dgap = float(np.max(np.abs(g - df(ystar))))
    tol_grad = (1 / T + SUP_D2F) * DY  # y* is exact only to one grid step
    # non-viscous PDE residual at x = 1.7 (smooth there): u_t + u_x^2/2 with grid step 3 dy
    k, s = idx[3], 3
    h = s * DY
    ut = (hopf_lax(fy, DY, T + h)[k] - hopf_lax(fy, DY, T - h)[k]) / (2 * h)
    ux = (u[k + s] - u[k - s]) / (2 * h)
    res = abs(ut + 0.5 * ux**2)
    delta = (SUP_D2F + 1 / T) * DY**2 / 8  # grid min vs continuous min
    tol_res = (2 * delta / h) * (1 + abs(ux)) + (1 / T + SUP_D2F) * h**2 * 10
    ok = d_brute <= 1e-12 and above <= 0 and same_min and dgap <= tol_grad and res <= tol_res
    return Claim(
        4,
        "Hopf-Lax = Moreau envelope; u <= f; same minimizers; grad u = (x-y*)/t = f'(y*)",
        f"grid vs brute {d_brute:.0e}; max(u-f) = {above:.1e}; same argmin: {same_min}; "
        f"|(x-y*)/t - f'(y*)| = {dgap:.1e} (grid bound {tol_grad:.1e}); "
        f"PDE residual at 1.7 = {res:.1e} (bound {tol_res:.1e})",
        0.0 if ok else 1.0,
        0.0,
        "grid bounds: y* exact to dy, value to (sup f''+1/t) dy^2/8",
    )


def claim_5() -> Claim:
    """Viscous -> Hopf-Lax as beta -> infinity (Laplace: u_beta - u_HL ~ log(1+t f''(y*))/(2 beta))."""
    x = np.array([1.7])
    u_hl, ystar = _hl_fine(x, T)
    vals = [float(local_entropy(x, T, b)[0]) for b in (10.0, 100.0, 1000.0)]
    errs = [v - float(u_hl[0]) for v in vals]
    laplace = 0.5 * math.log(1 + T * float(d2f(ystar)[0]))
    # relative gap of beta * error to the Laplace constant; it must shrink with beta
    rel = [abs(b * e - laplace) / abs(laplace) for b, e in zip((10, 100, 1000), errs)]
    return Claim(
        5,
        "viscous -> non-viscous (Hopf-Lax) as beta -> infinity",
        f"u at x=1.7: {vals[0]:.3f} -> {vals[1]:.3f} -> {vals[2]:.4f} vs HL {u_hl[0]:.4f}; "
        f"beta*(u - u_HL) -> {1000 * errs[2]:.3f} vs Laplace {laplace:.3f}",
        rel[2] if rel[2] < rel[1] < rel[0] else np.inf,
        0.05,
        "next Laplace term is O(1/beta) relative: 5% at beta = 1000 allows 50/beta",
    )


def claim_6() -> Claim:
    """Semi-concavity: grad^2 u <= C/(1+Ct) when f'' <= C (viscous and non-viscous)."""
    xs = np.linspace(-2, 2, 81)
    hmax = float(np.max(hessian_gibbs(xs)))
    bound = SUP_D2F / (1 + SUP_D2F * T)
    u = hopf_lax(f(YGRID), DY, T)
    # on the grid u is a minimum of parabolas of curvature 1/t: second differences <= 1/t exactly
    d1 = (u[2:] - 2 * u[1:-1] + u[:-2]) / DY**2
    semi = float(np.max(d1)) - 1 / T
    # the C/(1+Ct) bound for the grid solution, at a step s where the grid error
    # delta = (C + 1/t) dy^2 / 8 of the values costs at most 4 delta / s^2
    k = 40
    s_ = k * DY
    d2 = (u[2 * k :] - 2 * u[k:-k] + u[: -2 * k]) / s_**2
    sel = np.abs(YGRID[k:-k]) <= 2
    hl_max = float(np.max(d2[sel]))
    slack = 4 * (SUP_D2F + 1 / T) * DY**2 / 8 / s_**2
    err = max(hmax - bound, hl_max - bound - slack, semi - 1e-6)
    return Claim(
        6,
        "grad^2 u <= C/(1+Ct) for f'' <= C (C = sup f'' = 61.2)",
        f"viscous max over 81 points = {hmax:.3f} <= {bound:.3f}; Hopf-Lax: second "
        f"differences at step {s_:.3f} max {hl_max:.3f} <= {bound:.3f} + grid slack "
        f"{slack:.3f}, and <= 1/t on the grid (max - 1/t = {semi:.1e})",
        err,
        0.0,
        "quadrature Hessian accurate to ~1e-8; grid Hopf-Lax values within (C+1/t) dy^2/8",
    )


def fixed_point(x, t, grad: Callable, iters=200, damping=0.25):
    p = grad(x)
    for _ in range(iters):
        p = (1 - damping) * p + damping * grad(x - t * p)
    return p


def claim_12() -> Claim:
    """HJ fixed point p = f'(x - t p) -> (x - prox)/t inside its stability region."""
    t = 0.05
    xs = POINTS
    p = fixed_point(xs, t, df)
    resid = float(np.max(np.abs(p - df(xs - t * p))))
    u, j = hopf_lax(f(YGRID), DY, t, return_argmin=True)
    idx = np.rint((xs - YGRID[0]) / DY).astype(int)
    g_hl = (xs - YGRID[j[idx]]) / t
    gap = float(np.max(np.abs(p - g_hl)))
    tol_gap = DY / t + 1e-9  # y* on the grid is exact to one step

    # stability of the damped map on quadratics f = lam y^2/2 (p* = lam x / (1 + t lam)):
    # contraction iff -1 < t lam < 7; 200 iterations must shrink (or grow) the initial error
    def shrinks(tl):
        lam = tl / t
        pstar = lam / (1 + tl)
        return abs(fixed_point(1.0, t, lambda y: lam * y) - pstar) < abs(lam - pstar)

    stable = [shrinks(a) for a in (6.5, -0.9)]
    unstable = [not shrinks(a) for a in (7.5, -1.1)]
    ok = resid <= 1e-12 and gap <= tol_gap and all(stable) and all(unstable)
    return Claim(
        12,
        "fixed point p = f'(x - t p) -> Hopf-Lax gradient (t = 0.05, damping 0.25)",
        f"residual {resid:.0e}; vs (x - y*)/t on the grid {gap:.1e} (bound dy/t = {tol_gap:.0e}); "
        f"stable at t*lam = 6.5, -0.9: {all(stable)}; diverges at 7.5, -1.1: {all(unstable)}",
        0.0 if ok else 1.0,
        0.0,
        "damped map p -> 0.75 p + 0.25 f'(x - t p) is a contraction iff -1 < t lam < 7",
    )

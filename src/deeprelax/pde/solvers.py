"""Cross-check solvers: explicit upwind finite differences for both HJ equations, a Fokker-Planck
solver and particle (SDE) simulation, all 1-D (numpy only).

These are independent of the exact grid formulas in hopf_lax.py / cole_hopf.py and are used to
check them (PAPER.md §9 recipe).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from deeprelax.pde._grid import as_field, positive


def upwind_hj(
    f: np.ndarray, dx: float, t: float, beta: float | None = None, cfl: float = 0.4
) -> np.ndarray:
    """Explicit upwind scheme for u_t = -1/2 u_x^2 (+ u_xx / (2 beta)), u(0) = f, up to time t.

    Hamiltonian term (PAPER.md §9): u_x^2 ~ (min(0, min(u_{i-1} - u_i, u_{i+1} - u_i) / dx))^2,
    the Godunov flux of H(p) = p^2/2; Laplacian by central differences; Neumann boundary
    (mirror ghost points). Time step: cfl * min(dx / max|u_x|, beta dx^2). ``beta=None`` is the
    non-viscous equation. First order in dx: use it as a cross-check, not as the solver.
    """
    u = as_field(f).copy()
    if u.ndim != 1:
        raise ValueError(f"Invalid f value: upwind_hj is 1-D, got shape {u.shape}")
    dx = positive(dx, "dx")
    t = positive(t, "t")
    if beta is not None:
        beta = positive(beta, "beta")
    s = 0.0
    while s < t:
        g = np.concatenate(([u[1]], u, [u[-2]]))  # Neumann: mirror
        left = g[:-2] - u
        right = g[2:] - u
        grad2 = (np.minimum(0.0, np.minimum(left, right)) / dx) ** 2
        rate = -0.5 * grad2
        vmax = math.sqrt(float(grad2.max())) + 1e-12
        dt = cfl * dx / vmax
        if beta is not None:
            rate = rate + (left + right) / (2.0 * beta * dx * dx)
            dt = min(dt, cfl * beta * dx * dx)
        dt = min(dt, t - s)
        u = u + dt * rate
        s += dt
    return u


def fokker_planck(
    rho0: np.ndarray,
    velocity: np.ndarray | Callable[[float], np.ndarray],
    dx: float,
    D: float,
    T: float,
    cfl: float = 0.4,
) -> np.ndarray:
    """Density of dx = v ds + sqrt(2 D) dW:  rho_s = -(rho v)_x + D rho_xx, up to time T.

    For the relaxed flows of PAPER.md §2.8, v = -grad u. Finite volumes with upwind fluxes at
    the cell faces (face velocity = mean of the cell velocities), central diffusion, zero flux
    at the two ends (mass is conserved exactly). ``velocity`` is an array of cell values or a
    callable s -> array (a drift that changes in time, e.g. the Figure-1 stages).
    """
    rho = as_field(rho0, "rho0").copy()
    if rho.ndim != 1:
        raise ValueError(f"Invalid rho0 value: fokker_planck is 1-D, got shape {rho.shape}")
    if np.any(rho < 0):
        raise ValueError("Invalid rho0 value: negative density")
    dx = positive(dx, "dx")
    D = positive(D, "D")
    T = positive(T, "T")
    if callable(velocity):
        vel = velocity
    else:
        fixed = np.asarray(velocity, dtype=np.float64)
        vel = lambda s: fixed  # noqa: E731
    v0 = np.asarray(vel(0.0), dtype=np.float64)
    if v0.shape != rho.shape:
        raise ValueError(f"Invalid velocity value: shape {v0.shape} != rho0 shape {rho.shape}")
    s = 0.0
    while s < T:
        v = np.asarray(vel(s), dtype=np.float64)
        vf = 0.5 * (v[:-1] + v[1:])  # faces i+1/2
        dt = cfl * min(dx / (np.max(np.abs(vf)) + 1e-12), dx * dx / (2.0 * D))
        dt = min(dt, T - s)
        flux = np.where(vf > 0, vf * rho[:-1], vf * rho[1:]) - D * (rho[1:] - rho[:-1]) / dx
        div = np.zeros_like(rho)
        div[:-1] += flux
        div[1:] -= flux
        rho = rho - dt * div / dx
        s += dt
    return rho


def simulate_particles(
    x0: np.ndarray,
    grad: Callable[[np.ndarray, float], np.ndarray],
    D: float,
    T: float,
    steps: int,
    rng: np.random.Generator,
    bounds: tuple[float, float] | None = None,
) -> np.ndarray:
    """Euler-Maruyama for dx = -grad(x, s) ds + sqrt(2 D) dW; returns the particles at time T.

    ``bounds`` clips the particles to a box after each step (the grid's domain).
    """
    x = np.array(x0, dtype=np.float64)
    T = positive(T, "T")
    if D < 0 or not math.isfinite(D):
        raise ValueError(f"Invalid D value: {D}")
    if int(steps) < 1:
        raise ValueError(f"Invalid steps value: {steps}")
    ds = T / int(steps)
    amp = math.sqrt(2.0 * D * ds)
    for k in range(int(steps)):
        x = x - ds * grad(x, k * ds)
        if D > 0:
            x = x + amp * rng.standard_normal(x.shape)
        if bounds is not None:
            np.clip(x, bounds[0], bounds[1], out=x)
    return x


def interp_grad(xgrid: np.ndarray, g: np.ndarray) -> Callable[[np.ndarray, float], np.ndarray]:
    """A time-independent drift from grid values of grad u, by linear interpolation."""
    return lambda x, s: np.interp(x, xgrid, g)

"""Non-viscous Hamilton-Jacobi equation: the Hopf-Lax formula on a grid.

    u_t = -1/2 |grad u|^2,  u(x, 0) = f(x)   is solved by
    u(x, t) = min_y f(y) + |x - y|^2 / (2 t)        (the Moreau envelope of f with parameter t),

and the minimizer y*(x) = prox_{t f}(x) gives grad u(x, t) = (x - y*) / t = grad f(y*)
(PAPER.md §2.5).

Boundary: the minimum runs over the grid points only, i.e. f is +infinity outside the grid's
box. Where the unconstrained proximal point of x would leave the box, u is the envelope of the
restricted f (larger than the envelope of f on R^d); away from such points the two agree.

Cost: O(N log N) array work per axis (lower convex hull of (y, f(y) + y^2 / (2t)) built by a
vectorized divide and conquer, queried by binary search), separable in 2-D:
min over (y1, y2) = min over y1 of [min over y2 of f + |x2 - y2|^2/(2t)] + |x1 - y1|^2/(2t).
"""

from __future__ import annotations

import numpy as np

from deeprelax.pde._envelope import moreau_rows
from deeprelax.pde._grid import as_field, as_spacing, positive


def hopf_lax(
    f: np.ndarray, dx: float | tuple[float, float], t: float, *, return_argmin: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Hopf-Lax solution u(x, t) = min_y f(y) + |x - y|^2 / (2 t) over the grid.

    Args:
        f: grid values of f, a 1-D or 2-D array (axis k has spacing dx[k]).
        dx: grid spacing, a float or one per axis.
        t: time t > 0 (t = 1/gamma in optimizer terms).
        return_argmin: also return the integer grid index of the proximal point y*:
            shape (n,) in 1-D, (2, n1, n2) in 2-D (row index, column index).

    Returns:
        u with the shape of f (and the index array when asked).

    The result equals the O(N^2) brute force minimum up to rounding (ties resolved to one of
    the minimizers). Proximal coordinates are ``origin + argmin * dx``.
    """
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    if arr.ndim == 1:
        u, j = moreau_rows(arr[None, :], steps[0], t)
        return (u[0], j[0]) if return_argmin else u[0]
    # along axis 1 (for every row y1), then along axis 0
    u1, j2 = moreau_rows(arr, steps[1], t)
    uT, j1T = moreau_rows(np.ascontiguousarray(u1.T), steps[0], t)
    u = uT.T
    if not return_argmin:
        return np.ascontiguousarray(u)
    j1 = j1T.T
    cols = np.arange(arr.shape[1])[None, :]
    idx = np.stack([j1, j2[j1, cols]])
    return np.ascontiguousarray(u), idx


def prox_point(
    f: np.ndarray, dx: float | tuple[float, float], t: float, origin: float | tuple = 0.0
) -> np.ndarray:
    """Coordinates of y* = prox_{t f}(x) at every grid point (shape of f, or (2, n1, n2))."""
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    _, idx = hopf_lax(arr, steps, t, return_argmin=True)
    org = np.broadcast_to(np.asarray(origin, dtype=np.float64), (arr.ndim,))
    if arr.ndim == 1:
        return org[0] + idx * steps[0]
    return np.stack([org[k] + idx[k] * steps[k] for k in range(2)])


def hopf_lax_grad(f: np.ndarray, dx: float | tuple[float, float], t: float) -> np.ndarray:
    """grad u(x, t) = (x - y*) / t, from the grid proximal point (shape of f, or (2, n1, n2)).

    Exact where u is differentiable and the prox is interior, up to the grid resolution of
    y* (error <= dx / t per axis); at shocks (several minimizers) it picks one of them.
    """
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    _, idx = hopf_lax(arr, steps, t, return_argmin=True)
    if arr.ndim == 1:
        return (np.arange(arr.size) - idx) * steps[0] / t
    grids = np.indices(arr.shape)
    return np.stack([(grids[k] - idx[k]) * steps[k] / t for k in range(2)])


def hopf_lax_brute(f: np.ndarray, dx: float | tuple[float, float], t: float) -> np.ndarray:
    """The O(N^2) reference: min over all grid points y (chunked; use on small grids)."""
    arr = as_field(f)
    steps = as_spacing(dx, arr.ndim)
    t = positive(t, "t")
    if arr.ndim == 1:
        n = arr.size
        j = np.arange(n)
        out = np.empty(n)
        for s in range(0, n, 512):
            i = np.arange(s, min(n, s + 512))
            out[s : s + i.size] = np.min(
                arr[None, :] + ((i[:, None] - j[None, :]) * steps[0]) ** 2 / (2 * t), axis=1
            )
        return out
    n1, n2 = arr.shape
    y1, y2 = np.indices(arr.shape)
    fv = arr.ravel()
    out = np.empty(arr.shape)
    for i1 in range(n1):
        for i2 in range(n2):
            d = ((i1 - y1) * steps[0]) ** 2 + ((i2 - y2) * steps[1]) ** 2
            out[i1, i2] = np.min(fv + d.ravel() / (2 * t))
    return out

"""Exact lower envelope of parabolas on a uniform grid, vectorized (numpy only).

For each row ``r`` of ``G`` (shape (B, n)) we need, for every grid index i,

    min_j  G[r, j] + (h / 2) (i - j)^2 .

Expanding the square, i is a query slope on the points P_j = (j, G_j + h j^2 / 2): the minimizer is
the vertex of the lower convex hull of {P_j} whose two edge slopes bracket h i. The hull of points
sorted by abscissa is built by divide and conquer, all blocks of one level merged at once: two
neighbouring hulls are joined by their lower common tangent (the "bridge"), found by a nested
binary search that is vectorized across all pairs. Cost O(N log N) array work with O(log^2 N)
numpy calls per level; no Python loop over points. Slopes are compared through divided
differences of G plus the exact integer term h (a + b) / 2, so the large quadratic h j^2 / 2
never enters a subtraction.

The hull only selects candidates; the returned value is evaluated directly as f_j + (x_i - x_j)^2
/ (2 t) for the selected j and its hull neighbours, so it equals the brute-force minimum up to
ties between candidates whose values differ by rounding.
"""

from __future__ import annotations

import numpy as np


def _local_prune(
    row: np.ndarray, col: np.ndarray, val: np.ndarray, h: float, one_row: bool = False
) -> np.ndarray:
    """Mask of points not above the chord of their two neighbours (same row)."""
    keep = np.ones(col.size, dtype=bool)
    if col.size < 3:
        return keep
    dcol = np.diff(col)
    slope = np.diff(val) / dcol
    # slope(a,b) > slope(b,c)  <=>  d1 - d2 > h (col_c - col_a) / 2
    bad = (slope[:-1] - slope[1:]) > 0.5 * h * (dcol[:-1] + dcol[1:])
    if not one_row:
        bad &= (row[:-2] == row[1:-1]) & (row[1:-1] == row[2:])
    keep[1:-1] = ~bad
    return keep


def lower_hull_mask(G: np.ndarray, h: float) -> np.ndarray:
    """Boolean mask of the lower convex hull vertices of (j, G[r, j] + h j^2 / 2), per row."""
    B, n = G.shape
    G = np.ascontiguousarray(G, dtype=np.float64)
    row = np.repeat(np.arange(B, dtype=np.int64), n)
    col = np.tile(np.arange(n, dtype=np.int64), B)
    val = G.ravel()
    # local pruning removes most non-vertices cheaply; it stalls on long cascades, which the
    # divide and conquer below handles
    for _ in range(8):
        keep = _local_prune(row, col, val, h, B == 1)
        removed = col.size - int(np.count_nonzero(keep))
        row, col, val = row[keep], col[keep], val[keep]
        if removed < 0.02 * col.size:
            break
    # what is left is a chain of convex runs (a locally convex polyline over sorted abscissae is
    # convex): split before every remaining local violation and merge runs pairwise
    viol = ~_local_prune(row, col, val, h, B == 1)
    newrun = viol.copy()
    newrun[0] = True
    newrun[1:] |= row[1:] != row[:-1]
    run = np.cumsum(newrun) - 1
    first_run = np.zeros(B, dtype=np.int64)
    starts_row = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
    first_run[row[starts_row]] = run[starts_row]
    run_in_row = run - first_run[row]
    nruns = int(run_in_row.max()) + 1 if run.size else 1
    level = 0
    while (1 << level) < nruns:
        nb = -(-nruns // (1 << level))
        grp = row * nb + (run_in_row >> level)
        bnd = np.flatnonzero(np.concatenate(([True], grp[1:] != grp[:-1], [True])))
        gstart, gid = bnd[:-1], grp[bnd[:-1]]
        # pairs (group 2m, group 2m+1) of the same row that both exist
        is_left = (gid % nb) % 2 == 0
        has_right = np.zeros(gid.size, dtype=bool)
        has_right[:-1] = (gid[1:] == gid[:-1] + 1) & (gid[1:] // nb == gid[:-1] // nb)
        k = np.flatnonzero(is_left & has_right)
        if k.size:
            sA, eA, eB = gstart[k], bnd[k + 1], bnd[k + 2]
            p_star, q_star = _bridges(col, val, sA, eA, eA, eB, h)
            kill = np.bincount(p_star + 1, minlength=col.size + 1)
            kill -= np.bincount(q_star, minlength=col.size + 1)
            keep = np.cumsum(kill[:-1]) == 0
            if not np.all(keep):
                row, col, val, run_in_row = row[keep], col[keep], val[keep], run_in_row[keep]
        level += 1
    mask = np.zeros((B, n), dtype=bool)
    mask[row, col] = True
    return mask


def _first_true(lo: np.ndarray, hi: np.ndarray, pred, near_hi: bool) -> np.ndarray:
    """Vectorized search of the first index in [lo, hi] where the monotone ``pred`` holds.

    ``pred(pos, idx)`` is evaluated on positions for the pairs ``idx``; pred(hi) is taken as
    true. The search gallops from the end where the answer is expected (the bridge is usually
    next to the junction of the two hulls), then bisects.
    """
    lo = lo.copy()
    hi = hi.copy()
    step = np.ones_like(lo)
    galloping = lo < hi
    while np.any(galloping):
        idx = np.flatnonzero(galloping)
        if near_hi:
            probe = np.maximum(hi[idx] - step[idx], lo[idx])
        else:
            probe = np.minimum(lo[idx] + step[idx] - 1, hi[idx])
        ok = pred(probe, idx)
        if near_hi:
            hi[idx[ok]] = probe[ok]
            lo[idx[~ok]] = probe[~ok] + 1
            stop = ~ok | (probe == lo[idx])
        else:
            hi[idx[ok]] = probe[ok]
            lo[idx[~ok]] = probe[~ok] + 1
            stop = ok | (lo[idx] >= hi[idx])
        step[idx] *= 2
        galloping[idx[stop]] = False
        galloping &= lo < hi
    while True:
        active = lo < hi
        if not np.any(active):
            return lo
        idx = np.flatnonzero(active)
        mid = (lo[idx] + hi[idx]) // 2
        ok = pred(mid, idx)
        hi[idx[ok]] = mid[ok]
        lo[idx[~ok]] = mid[~ok] + 1


def _bridges(col, val, sA, eA, sB, eB, h):
    """Lower common tangents between the convex hulls at positions [sA, eA) (left) and [sB, eB).

    Alternating tangents: from the junction, b <- tangent point on the right hull seen from a,
    a <- tangent point on the left hull seen from b, until neither moves. Each replacement
    lowers the line, a only moves left and b only right, and the fixed point is the bridge.
    """
    last_pos = col.size - 1

    def dd(a, b):
        return (val[b] - val[a]) / (col[b] - col[a])

    def tangent_right(a, lo, hi):
        # first q in [lo, hi] with slope(a, B_q) <= slope(B_q, B_q+1); q = hi always true
        def pred(q, idx):
            last = q >= hi[idx]
            nq = np.where(last, q, np.minimum(q + 1, last_pos))
            aa = a[idx]
            lhs = dd(aa, q) - np.where(last, 0.0, dd(q, np.where(last, aa, nq)))
            return last | (lhs <= 0.5 * h * (col[nq] - col[aa]))

        return _first_true(lo, hi, pred, near_hi=False)

    def tangent_left(b, lo, hi):
        # first p in [lo, hi] with slope(A_p, A_p+1) > slope(A_p, b); p = hi always true
        def pred(p, idx):
            last = p >= hi[idx]
            np_ = np.where(last, p, np.minimum(p + 1, last_pos))
            bb = b[idx]
            lhs = np.where(last, 0.0, dd(p, np.where(last, bb, np_))) - dd(p, bb)
            return last | (lhs > 0.5 * h * (col[bb] - col[np_]))

        return _first_true(lo, hi, pred, near_hi=True)

    a = eA - 1
    b = sB.copy()
    active = np.ones(a.size, dtype=bool)
    while np.any(active):
        idx = np.flatnonzero(active)
        nb = tangent_right(a[idx], b[idx], eB[idx] - 1)
        na = tangent_left(nb, sA[idx], a[idx])
        moved = (nb != b[idx]) | (na != a[idx])
        b[idx] = nb
        a[idx] = na
        active[idx[~moved]] = False
    return a, b


def moreau_rows(G: np.ndarray, dx: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row r: u[r, i] = min_j G[r, j] + ((i - j) dx)^2 / (2 t), and the minimizing j.

    Exact on the grid: the hull selects the candidate vertex, then it and its two hull
    neighbours are evaluated with the same formula as the brute force.
    """
    B, n = G.shape
    h = dx * dx / t
    G = np.ascontiguousarray(G, dtype=np.float64)
    mask = lower_hull_mask(G, h)
    vr, vc = np.nonzero(mask)  # hull vertices, row-major: sorted by row, then column
    nv = np.bincount(vr, minlength=B)
    vstart = np.concatenate(([0], np.cumsum(nv)[:-1]))
    # edge k of a row joins vertices k and k+1; vertex k is the minimizer for the queries h i in
    # (edge_{k-1}, edge_k]: k(i) = number of edges with edge < h i, counted by a cumulative sum
    same = vr[1:] == vr[:-1]
    a, b = vc[:-1][same], vc[1:][same]
    ga, gb = G[vr[:-1][same], a], G[vr[1:][same], b]
    edge = (gb - ga) / (b - a) + 0.5 * h * (a + b)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.floor(edge / h) + 1.0
    q = np.clip(np.nan_to_num(q, nan=n, posinf=n, neginf=0), 0, n).astype(np.int64)
    counts = np.bincount(vr[:-1][same] * (n + 1) + q, minlength=B * (n + 1)).reshape(B, n + 1)
    k = np.cumsum(counts, axis=1)[:, :n]
    Gf = G.ravel()
    off = (np.arange(B, dtype=np.int64) * n)[:, None]
    i = np.arange(n, dtype=np.int64)[None, :]
    base = vstart[:, None]
    last = (nv - 1)[:, None]
    two_t = 2.0 * t  # the brute force's own arithmetic, so equal candidates give equal values

    def value(j):
        d = (i - j) * dx
        return Gf[off + j] + d * d / two_t

    best_j = vc[base + k]
    best = value(best_j)
    # the floor above can be off by one at ties: compare with both hull neighbours
    for kk in (np.maximum(k - 1, 0), np.minimum(k + 1, last)):
        j = vc[base + kk]
        val = value(j)
        better = val < best
        best = np.where(better, val, best)
        best_j = np.where(better, j, best_j)
    return best, best_j

"""Log-domain Gaussian convolution on a uniform grid, accurate to a relative tolerance.

For each row we need   L_i = log sum_j exp(a_j - c (i - j)^2),   i, j = 0..n-1,
where a can span thousands (beta f in the thousands) so that exp(a) under/overflows.

Method (numpy only): cut rows and columns into blocks of W points, c (W - 1)^2 <= 9 (the kernel
varies by at most e^9 across a block), and sum the contribution of every significant pair
(row block R, column block C = R - k) separately. With D = k W, p, q the offsets inside R and C,

    a_j - c (i - j)^2 = [a_j + 2 c D q] - c D^2 - 2 c D p - c (p - q)^2,

so after an exponential tilt by 2 c D every pair is the *same* small matrix-vector product
z_p = sum_q v_q exp(-c (p - q)^2) with weights v_q = exp(a_j + 2 c D q - shift) <= 1, one of
them 1. Hence e^{-c (W-1)^2} sum v <= z_p <= sum v for every row of the pair: each pair is summed
to a relative accuracy set by the arithmetic, not by the dynamic range of a:

* narrow kernels (W <= 128): one matrix product for all pairs at once; sums of positive terms,
  relative error <= (W + 2) eps per pair (W may exceed the e^9 rule there: only underflow matters,
  and c (W - 1)^2 <= 600 keeps every kernel entry a normal float);
* wide kernels: one batched FFT for all pairs; its absolute error, measured <= 1e-15 max z, is at
  most e^9 times that relative to z_p (2e-12 in the worst case, tested).

Pairs that cannot matter are never formed. A lower bound L0 <= L comes first, from the block's
own pair and those holding the best block maximum for its first and last row; a pair is then
dropped when its upper bound shift - c D^2 - 2 c D p + log W stays below L0_p - 40 at every row p
of the block (a cheap block-level test first, the per-row test on the survivors). Everything
dropped from a row weighs less than (2K + 1) e^-40 < 1e-11 of its sum (K < 10^6 offsets).
Contributions are combined per row by log-sum-exp. All of it is array work over all blocks of a
chunk at once: the Python loop runs over chunks of about 2^15 points, never over blocks or wells.
Kernels narrower than a grid step on a small range of a (every term within 16 points of its row)
take a direct banded sum instead.
"""

from __future__ import annotations

import math

import numpy as np

from deeprelax.pde._grid import next_fast_len

_KERNEL_SPAN = 9.0  # c (W - 1)^2: the kernel's range inside a block, e^9
_GEMM_MAX = 128  # widest block summed by a matrix product; wider blocks use the FFT
_GEMM_MIN = 64  # narrow kernels: blocks at least this wide (fewer pairs) ...
_NORMAL_SPAN = 600.0  # ... while c (W - 1)^2 <= 600 keeps exp(-c (p - q)^2) a normal float
_DROP = 40.0  # each dropped pair weighs < e^-40 of its row's sum
_CHUNK = 1 << 15  # points per chunk of row blocks (its arrays stay in cache)
_PAIRS = 1 << 21  # floats per batch of pairs
_BANDED_REACH = 16  # below this reach (in points) the direct banded sum is cheapest


class _Plan:
    """Block width W and the kernel exp(-c (p - q)^2), p, q < W, as a matrix or its FFT."""

    def __init__(self, c: float, n: int):
        self.c = c
        w = min(n, int(math.sqrt(_KERNEL_SPAN / c)) + 1)
        w = -(-n // -(-n // w))  # as many blocks, evenly filled
        if w <= _GEMM_MAX:
            w = max(w, min(n, _GEMM_MIN, int(math.sqrt(_NORMAL_SPAN / c)) + 1))
            self.fft = None
            d = np.arange(w, dtype=np.float64)
            self.kmat = np.exp(-c * (d[:, None] - d[None, :]) ** 2)
        else:
            # circular convolution of length >= 2W - 1 leaves the W outputs we keep unaliased
            nfft = next_fast_len(2 * w - 1)
            e = np.arange(nfft, dtype=np.float64)
            e = np.minimum(e, nfft - e)
            ker = np.where(e <= w - 1, np.exp(-c * e**2), 0.0)
            self.fft = (nfft, np.fft.rfft(ker))
        self.W = w
        self.q = np.arange(w, dtype=np.float64)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """z[r, p] = sum_q v[r, q] exp(-c (p - q)^2) for every row r of v (shape (P, W))."""
        if self.fft is None:
            return v @ self.kmat
        nfft, khat = self.fft
        return np.fft.irfft(np.fft.rfft(v, nfft, axis=1) * khat, nfft, axis=1)[:, : self.W]


def log_gauss_conv_rows(A: np.ndarray, c: float) -> np.ndarray:
    """L[r, i] = log sum_j exp(A[r, j] - c (i - j)^2), relative error of the sum <= 1e-10."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    B, n = A.shape
    # L_i >= a_i, so a column farther than this from its row weighs < e^-T of the row's sum
    span = float(np.max(A.max(axis=1) - A.min(axis=1)))
    if math.sqrt((span + _DROP + 10.0) / c) <= _BANDED_REACH:
        return _banded(A, c, int(math.ceil(math.sqrt((span + _DROP + 10.0) / c))))
    plan = _Plan(c, n)
    W = plan.W
    nb = -(-n // W)
    blk = np.full((B, nb * W), -np.inf)
    blk[:, :n] = A
    blk = blk.reshape(B * nb, W)
    bmax = blk.max(axis=1)
    barg = np.argmax(blk, axis=1) + (np.arange(B * nb) % nb) * W  # column of the max, in its row
    ctx = (blk, bmax, barg, nb, n, float(bmax.max()))
    out = np.empty(B * nb * W)
    step = max(1, _CHUNK // W)
    for g0 in range(0, B * nb, step):
        g = np.arange(g0, min(B * nb, g0 + step))
        out[g0 * W : (g0 + g.size) * W] = _chunk(g, plan, ctx).ravel()
    return out.reshape(B, nb * W)[:, :n]


def _reach(plan: _Plan, excess: float) -> int:
    """Largest block offset |k| whose pairs can come within T of a bound ``excess`` below max a."""
    c, W = plan.c, plan.W
    slack = c * (W - 1) ** 2 + math.log(W) + _DROP + 1.0
    return int((W - 1 + math.sqrt(max(0.0, excess + slack) / c)) // W) + 1


def _offsets(b: np.ndarray, K: int, nb: int):
    """Offsets -K..K and the mask of those whose column block b - k exists."""
    ks = np.arange(-K, K + 1)
    src = b[:, None] - ks[None, :]
    return ks, (src >= 0) & (src < nb)


def _chunk(g: np.ndarray, plan: _Plan, ctx) -> np.ndarray:
    """L for the rows of blocks g (flat block indices), shape (g.size, W)."""
    blk, bmax, barg, nb, n, amax = ctx
    c, W = plan.c, plan.W
    # the own block bounds L below on the whole block; its reach bounds every later reach
    K0 = min(nb - 1, _reach(plan, amax - float((bmax[g] - c * (W - 1) ** 2).min())))
    if g.size > 1 and g.size * (2 * K0 + 1) > _PAIRS:
        half = g.size // 2
        return np.concatenate((_chunk(g[:half], plan, ctx), _chunk(g[half:], plan, ctx)))
    L0, taken = _lower_bound(g, K0, plan, ctx)
    # every other pair whose upper bound reaches L0 - T somewhere on the block
    b = g % nb
    floor = L0.min(axis=1)
    K = min(K0, _reach(plan, amax - float(floor.min())))
    ks, valid = _offsets(b, K, nb)
    for k in taken:
        valid &= ks[None, :] != k[:, None]
    dmin = np.maximum(0.0, np.abs(ks) * W - (W - 1.0))
    ub = bmax[np.where(valid, g[:, None] - ks[None, :], g[:, None])] - c * dmin[None, :] ** 2
    ub += c * (W - 1) ** 2 + math.log(W)
    ci, kj = np.nonzero(valid & (ub >= floor[:, None] - _DROP))
    parts_g, parts_v = [], []
    step = max(1, _PAIRS // W)
    for s in range(0, ci.size, step):
        rows, kk = ci[s : s + step], ks[kj[s : s + step]]
        w, shift, lam = _tilted(blk, g[rows], kk, plan)
        bound = (shift - c * (W * kk) ** 2 + math.log(W))[:, None] - lam[:, None] * plan.q
        keep = np.any(bound >= L0[rows] - _DROP, axis=1)
        if np.any(keep):
            parts_g.append(g[rows[keep]])
            parts_v.append(_finish(w[keep], shift[keep], lam[keep], kk[keep], plan))
    if parts_g:
        ids, L2 = _combine(np.concatenate(parts_g), np.concatenate(parts_v))
        at = np.searchsorted(g, ids)
        L0[at] = np.logaddexp(L0[at], L2)
    return L0


def _lower_bound(g: np.ndarray, K0: int, plan: _Plan, ctx):
    """L0 <= L from the own pair and those holding the best block maximum for the block's first
    and last row (exact sums of those pairs), and the offsets taken, each of shape (g.size,)."""
    blk, bmax, barg, nb, n, _ = ctx
    c, W = plan.c, plan.W
    b = g % nb
    ks, valid = _offsets(b, K0, nb)
    src = np.where(valid, g[:, None] - ks[None, :], g[:, None])
    best = []
    for row in (b * W, np.minimum(b * W + W - 1, n - 1)):
        score = np.where(valid, bmax[src] - c * (row[:, None] - barg[src]) ** 2, -np.inf)
        best.append(ks[np.argmax(score, axis=1)])
    k1, k2 = best
    i1, i2 = np.flatnonzero(k1 != 0), np.flatnonzero((k2 != 0) & (k2 != k1))
    g_lo = np.concatenate((g, g[i1], g[i2]))
    k_lo = np.concatenate((np.zeros(g.size, dtype=np.int64), k1[i1], k2[i2]))
    _, L0 = _combine(g_lo, _pair_logs(blk, g_lo, k_lo, plan))  # every block of g is present
    return L0, (np.zeros_like(k1), k1, k2)


def _tilted(blk, g, k, plan):
    """Tilted log-weights a_j + 2 c D q of column block g - k, their maximum, and 2 c D."""
    lam = (2.0 * plan.c * plan.W) * k.astype(np.float64)
    w = blk[g - k]
    w += np.multiply.outer(lam, plan.q)
    return w, w.max(axis=1), lam


def _finish(w, shift, lam, k, plan) -> np.ndarray:
    """log of each pair's contribution to the rows of its block, shape (P, W); overwrites w."""
    w -= shift[:, None]
    z = plan.apply(np.exp(w, out=w))
    # z >= e^-(c (W - 1)^2) sum v > 0 exactly; the max only guards the FFT's rounding
    np.log(np.maximum(z, 1e-300, out=z), out=z)
    z += (shift - plan.c * (plan.W * k.astype(np.float64)) ** 2)[:, None]
    z -= np.multiply.outer(lam, plan.q)
    return z


def _pair_logs(blk, g, k, plan) -> np.ndarray:
    w, shift, lam = _tilted(blk, g, k, plan)
    return _finish(w, shift, lam, k, plan)


def _combine(pg: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The blocks present in pg (sorted) and, per block, log-sum-exp over its pairs' vals."""
    order = np.argsort(pg, kind="stable")
    pg = pg[order]
    first = np.concatenate(([True], pg[1:] != pg[:-1]))
    starts = np.flatnonzero(first)
    blockpos = np.cumsum(first) - 1  # which block of the chunk each pair feeds
    rank = np.arange(pg.size) - starts[blockpos]  # its place among that block's pairs
    by_rank = [order[rank == r] for r in range(int(rank.max()) + 1)]
    pos = [blockpos[rank == r] for r in range(len(by_rank))]
    mx = vals[by_rank[0]]  # every block present has a rank-0 pair, in block order
    for r in range(1, len(by_rank)):
        mx[pos[r]] = np.maximum(mx[pos[r]], vals[by_rank[r]])
    tot = np.exp(vals[by_rank[0]] - mx)
    for r in range(1, len(by_rank)):
        tot[pos[r]] += np.exp(vals[by_rank[r]] - mx[pos[r]])
    return pg[starts], mx + np.log(tot)


def _banded(A: np.ndarray, c: float, K: int) -> np.ndarray:
    """Direct log-sum-exp over offsets |i - j| <= K (exact up to the dropped terms)."""
    B, n = A.shape
    K = min(K, n - 1)
    offs = np.arange(-K, K + 1)
    out = np.empty((B, n))
    step = max(1, 4_000_000 // (n * offs.size))
    for r0 in range(0, B, step):
        a = A[r0 : r0 + step]
        pad = np.full((a.shape[0], n + 2 * K), -np.inf)
        pad[:, K : K + n] = a
        # z[r, i, k] = a[r, i - offs[k]] - c offs[k]^2
        idx = np.arange(n)[:, None] - offs[None, :] + K
        z = pad[:, idx] - c * (offs.astype(np.float64) ** 2)[None, None, :]
        zm = z.max(axis=2, keepdims=True)
        out[r0 : r0 + step] = zm[:, :, 0] + np.log(np.exp(z - zm).sum(axis=2))
    return out


def log_gauss_conv_direct(a: np.ndarray, c: float, rows: np.ndarray | None = None) -> np.ndarray:
    """Reference: direct log-sum-exp over all columns (O(n) per row; chunked)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.size
    rows = np.arange(n) if rows is None else np.asarray(rows)
    j = np.arange(n)
    out = np.empty(rows.size)
    step = max(1, 2_000_000 // max(n, 1))
    for s in range(0, rows.size, step):
        i = rows[s : s + step]
        z = a[None, :] - c * (i[:, None] - j[None, :]).astype(np.float64) ** 2
        zm = z.max(axis=1, keepdims=True)
        out[s : s + i.size] = zm[:, 0] + np.log(np.exp(z - zm).sum(axis=1))
    return out

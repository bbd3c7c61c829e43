"""Speed of deeprelax.pde's exact solvers against the O(N^2) references, measured in one run.

    .venv/bin/python benchmarks/pde_speed.py [--quick]

* hopf_lax vs the brute-force minimum over all grid points (hopf_lax_brute);
* cole_hopf vs direct log-domain quadrature (log-sum-exp over all grid points).

The references are O(N^2) (O(N^2) per axis pair in 2-D): they are run where that takes seconds,
and their time is extrapolated as c N^2 (fitted at the largest size run) beyond; extrapolated
ratios are marked "~". Accuracy is checked against the reference at every grid point where it ran,
and on 400 sampled rows (including all rows where exp(-beta f) underflows among them) at 1e6.
Test function: f = x^2 + 1.5 sin(2 pi x) on [-3, 3] (2-D: f(x1) + f(x2)/2 + cos(x1 x2)),
t = 0.1, beta = 100 (beta f reaches 1050, so exp(-beta f) underflows near the edges).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from deeprelax.pde import cole_hopf, cole_hopf_direct, hopf_lax, hopf_lax_brute
from deeprelax.pde._logconv import log_gauss_conv_direct

T, BETA = 0.1, 100.0


def f1(x):
    return x**2 + 1.5 * np.sin(2 * np.pi * x)


def timed(fn, *args, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_1d(sizes, brute_max):
    print("\n1-D: N, hopf_lax s, brute s, ratio brute/fast, max rel diff | "
          "cole_hopf s, direct s, ratio, max rel err of u, max |err| of beta u")
    c_hl = c_ch = None
    for n in sizes:
        x = np.linspace(-3, 3, n)
        dx = x[1] - x[0]
        f = f1(x)
        t_hl, u = timed(hopf_lax, f, dx, T, repeat=2 if n <= 10**5 else 1)
        t_ch, v = timed(cole_hopf, f, dx, T, BETA, repeat=2 if n <= 10**5 else 1)
        if n <= brute_max:
            t_b, ub = timed(hopf_lax_brute, f, dx, T)
            c_hl = t_b / n**2
            d_hl = float(np.max(np.abs(u - ub) / np.abs(ub)))
            t_d, vd = timed(cole_hopf_direct, f, dx, T, BETA)
            c_ch = t_d / n**2
            rows = np.arange(n)
            mark = ""
        else:
            t_b, t_d, mark = c_hl * n**2, c_ch * n**2, "~"
            rng = np.random.default_rng(0)
            rows = np.unique(np.concatenate([rng.choice(n, 300, replace=False),
                                             np.linspace(0, n - 1, 100).astype(int)]))
            ub = np.array([np.min(f + ((i - np.arange(n)) * dx) ** 2 / (2 * T)) for i in rows[:40]])
            d_hl = float(np.max(np.abs(u[rows[:40]] - ub) / np.abs(ub)))
            vd = np.full(n, np.nan)
            vd[rows] = cole_hopf_direct(f, dx, T, BETA, rows)
        err_u = float(np.max(np.abs(v[rows] - vd[rows]) / np.abs(vd[rows])))
        err_bu = float(np.max(np.abs(v[rows] - vd[rows]))) * BETA
        under = int(np.sum(BETA * f > 745))
        print(f"{n:>9d}  {t_hl:8.3f}  {mark}{t_b:10.3g}  {mark}{t_b / t_hl:9.3g}  {d_hl:8.1e} | "
              f"{t_ch:8.3f}  {mark}{t_d:10.3g}  {mark}{t_d / t_ch:9.3g}  {err_u:8.1e}  {err_bu:8.1e}"
              f"  ({'all' if not mark else len(rows)} rows checked, {under} with exp(-beta f) = 0)")


def bench_2d(sizes, brute_max):
    print("\n2-D: n x n, hopf_lax s, brute s, ratio, max rel diff | cole_hopf s, direct s, ratio, "
          "max |err| of beta u")
    c_hl = c_ch = None
    for n in sizes:
        x = np.linspace(-3, 3, n)
        dx = x[1] - x[0]
        X1, X2 = np.meshgrid(x, x, indexing="ij")
        F = f1(X1) + 0.5 * f1(X2) + np.cos(X1 * X2)
        t_hl, u = timed(hopf_lax, F, dx, T)
        t_ch, v = timed(cole_hopf, F, dx, T, BETA)
        if n <= brute_max:
            t_b, ub = timed(hopf_lax_brute, F, dx, T)
            c_hl = t_b / n**4
            d_hl = f"{float(np.max(np.abs(u - ub) / np.abs(ub))):8.1e}"
            t0 = time.perf_counter()
            vd = _direct_2d(F, dx)
            t_d = time.perf_counter() - t0
            c_ch = t_d / n**4
            err = f"{float(np.max(np.abs(v - vd))) * BETA:8.1e}"
            mark = ""
        else:
            t_b, t_d, mark = c_hl * n**4, c_ch * n**4, "~"
            d_hl = err = "     n/a"
        print(f"{n:>5d}^2  {t_hl:8.3f}  {mark}{t_b:10.3g}  {mark}{t_b / t_hl:9.3g}  {d_hl} | "
              f"{t_ch:8.3f}  {mark}{t_d:10.3g}  {mark}{t_d / t_ch:9.3g}  {err}")


def _direct_2d(F, dx):
    n = F.shape[0]
    c = BETA * dx * dx / (2 * T)
    a = -BETA * F.ravel()
    i1, i2 = np.indices(F.shape)
    i1, i2 = i1.ravel(), i2.ravel()
    out = np.empty(n * n)
    for k in range(n * n):
        z = a - c * ((i1 - i1[k]) ** 2 + (i2 - i2[k]) ** 2)
        m = z.max()
        out[k] = m + np.log(np.exp(z - m).sum())
    logw = 2 * (np.log(dx) - 0.5 * np.log(2 * np.pi * T / BETA))
    return -(out.reshape(F.shape) + logw) / BETA


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    args = ap.parse_args()
    print(f"deeprelax.pde speed; {os.cpu_count()} CPUs visible, load average "
          f"{os.getloadavg()[0]:.1f} at start")
    if args.quick:
        bench_1d([1000, 4000, 100000], 4000)
        bench_2d([32, 128], 32)
    else:
        bench_1d([1000, 4000, 16000, 100000, 1000000], 16000)
        bench_2d([32, 64, 256, 1024, 2048], 64)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    _ = log_gauss_conv_direct  # reference used by cole_hopf_direct


if __name__ == "__main__":
    main()

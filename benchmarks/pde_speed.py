"""Speed and accuracy of deeprelax.pde's exact solvers, smooth and rough landscapes, in one run.

    .venv/bin/python benchmarks/pde_speed.py [--quick]

1. Landscape classes at 10^6 points (10^5 with --quick): smooth, the random walk plus sine of a
   rough loss, random walk / narrow wells / white noise scaled to beta (max f - min f) = 1e4, each
   with Gaussian kernels of 3, 20, 300 and 10^5 grid steps (standard deviation sqrt(t / beta)).
   Per class and kernel: cole_hopf's time, its worst relative error of the partition sum against
   direct log-domain quadrature (O(N) per row) on 300 rows (random, evenly spaced, and the 25
   highest points of f, where exp(-beta f) underflows), and the time's ratio to the smooth class.
   The same classes for hopf_lax (the Moreau envelope of beta f with t = sigma^2, against the
   brute-force minimum on 40 rows) and heat (G_{sigma^2} * f against the direct Riemann sum on 40
   rows, error relative to max |f|).
2. 2-D, 2048^2 (256^2 with --quick): the smooth test function and rough classes, cole_hopf time and
   its error against 2-D direct quadrature at 30 sampled points.
3. Scaling in N on the smooth test function against the O(N^2) references (hopf_lax_brute,
   cole_hopf_direct): run where that takes seconds, extrapolated as c N^2 beyond (marked "~").

Times are wall-clock and process CPU time (one thread: set OMP_NUM_THREADS=1); on a shared machine
the CPU time is the one to compare, and every ratio uses it. The load average is printed.
Test function: f = x^2 + 1.5 sin(2 pi x) on [-3, 3] (2-D: f(x1) + f(x2)/2 + cos(x1 x2)),
t = 0.1, beta = 100 (beta f reaches 1050, so exp(-beta f) underflows near the edges).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from deeprelax.pde import cole_hopf, cole_hopf_direct, heat, hopf_lax, hopf_lax_brute

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
    print(
        "\n1-D: N, hopf_lax s, brute s, ratio brute/fast, max rel diff | "
        "cole_hopf s, direct s, ratio, max rel err of u, max |err| of beta u"
    )
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
            rows = np.unique(
                np.concatenate(
                    [rng.choice(n, 300, replace=False), np.linspace(0, n - 1, 100).astype(int)]
                )
            )
            ub = np.array([np.min(f + ((i - np.arange(n)) * dx) ** 2 / (2 * T)) for i in rows[:40]])
            d_hl = float(np.max(np.abs(u[rows[:40]] - ub) / np.abs(ub)))
            vd = np.full(n, np.nan)
            vd[rows] = cole_hopf_direct(f, dx, T, BETA, rows)
        err_u = float(np.max(np.abs(v[rows] - vd[rows]) / np.abs(vd[rows])))
        err_bu = float(np.max(np.abs(v[rows] - vd[rows]))) * BETA
        under = int(np.sum(BETA * f > 745))
        print(
            f"{n:>9d}  {t_hl:8.3f}  {mark}{t_b:10.3g}  {mark}{t_b / t_hl:9.3g}  {d_hl:8.1e} | "
            f"{t_ch:8.3f}  {mark}{t_d:10.3g}  {mark}{t_d / t_ch:9.3g}  {err_u:8.1e}  {err_bu:8.1e}"
            f"  ({'all' if not mark else len(rows)} rows checked, {under} with exp(-beta f) = 0)"
        )


def bench_2d(sizes, brute_max):
    print(
        "\n2-D: n x n, hopf_lax s, brute s, ratio, max rel diff | cole_hopf s, direct s, ratio, "
        "max |err| of beta u"
    )
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
        print(
            f"{n:>5d}^2  {t_hl:8.3f}  {mark}{t_b:10.3g}  {mark}{t_b / t_hl:9.3g}  {d_hl} | "
            f"{t_ch:8.3f}  {mark}{t_d:10.3g}  {mark}{t_d / t_ch:9.3g}  {err}"
        )


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


SIGMAS = (3.0, 20.0, 300.0, 1e5)  # kernel standard deviations, in grid steps


def landscapes(n: int) -> dict:
    """name -> (f, beta): the smooth test function and rough classes (dx = 1)."""
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=n))
    centres = np.sort(rng.choice(n, n // 50, replace=False))  # a narrow well every 50 points
    k = np.clip(np.searchsorted(centres, np.arange(n)), 1, centres.size - 1)
    near = np.where(np.arange(n) - centres[k - 1] < centres[k] - np.arange(n), k - 1, k)
    depth = rng.uniform(0.3, 1.0, centres.size)[near]
    wells = 1.0 - depth * np.exp(-(((np.arange(n) - centres[near]) / 2.0) ** 2))
    x = np.linspace(-3, 3, n)
    rough = walk * 0.3 + 3 * np.sin(np.linspace(0, 17, n))  # a rough loss: beta f ~ 1e3 .. 1e4
    return {
        "smooth x^2+1.5sin": (f1(x) - f1(x).min(), BETA),
        "walk+sine, beta 10": (rough - rough.min(), 10.0),
        "walk, bf 1e4": ((walk - walk.min()) / np.ptp(walk), 1e4),
        "narrow wells, bf 1e4": (wells - wells.min(), 1e4 / np.ptp(wells)),
        "white noise, bf 1e4": (rng.random(n), 1e4),
    }


def check_rows(f, count, rng):
    n = f.size
    top = np.argsort(f)[-25:]  # the highest points: exp(-beta f) underflows there
    rand = rng.choice(n, max(0, count - 75), replace=False)
    return np.unique(np.concatenate([rand, np.linspace(0, n - 1, 50).astype(int), top]))


def cpu_timed(fn, *args):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0, out


def bench_classes(n):
    print(
        f"\nLandscape classes, N = {n}; cole_hopf: wall s, CPU s, ratio of CPU to the smooth "
        "class, worst relative error of the partition sum (300 rows checked)"
    )
    rng = np.random.default_rng(1)
    lands = landscapes(n)
    for sigma in SIGMAS:
        base = None
        for name, (f, beta) in lands.items():
            t = beta * sigma**2  # sqrt(t / beta) = sigma grid steps
            wall, cpu, u = cpu_timed(cole_hopf, f, 1.0, t, beta)
            base = cpu if base is None else base
            rows = check_rows(f, 300, rng)
            err = float(np.max(np.abs(u[rows] - cole_hopf_direct(f, 1.0, t, beta, rows)))) * beta
            print(
                f"  sigma {sigma:>6g}  {name:22s} bf range {beta * np.ptp(f):7.3g}  "
                f"{wall:6.3f}  {cpu:6.3f}  x{cpu / base:5.2f}  {err:8.1e}"
                f"  ({int(np.sum(beta * f > 745))} points with exp(-beta f) = 0)"
            )


def bench_classes_hl_heat(n):
    print(
        f"\nSame classes, N = {n}: hopf_lax(beta f, 1, sigma^2) CPU s, ratio to smooth, max rel "
        "diff vs brute (40 rows) | heat(f, 1, sigma^2) CPU s, ratio, max err / max|f| (40 rows)"
    )
    rng = np.random.default_rng(2)
    j = np.arange(n)
    for sigma in SIGMAS:
        base = None
        for name, (f, beta) in landscapes(n).items():
            g = beta * f
            _, c_hl, u = cpu_timed(hopf_lax, g, 1.0, sigma**2)
            _, c_h, v = cpu_timed(heat, f, 1.0, sigma**2)
            base = (c_hl, c_h) if base is None else base
            rows = check_rows(f, 90, rng)[::2][:40]
            d2 = (rows[:, None] - j[None, :]).astype(np.float64) ** 2
            ub = np.min(g[None, :] + d2 / (2 * sigma**2), axis=1)
            vb = np.exp(-d2 / (2 * sigma**2)) @ f / np.sqrt(2 * np.pi * sigma**2)
            e_hl = float(np.max(np.abs(u[rows] - ub) / np.maximum(np.abs(ub), 1e-300)))
            e_h = float(np.max(np.abs(v[rows] - vb))) / float(np.max(np.abs(f)))
            print(
                f"  sigma {sigma:>6g}  {name:22s} {c_hl:6.3f}  x{c_hl / base[0]:5.2f}  "
                f"{e_hl:8.1e} | {c_h:6.3f}  x{c_h / base[1]:5.2f}  {e_h:8.1e}"
            )


def bench_2d_classes(n):
    print(
        f"\n2-D classes, {n}^2: cole_hopf wall s, CPU s, ratio to smooth, worst relative error "
        "of the partition sum at 30 points (2-D direct quadrature) | hopf_lax(f, dx, t) CPU s, "
        "ratio, max |diff| / max |f| vs brute force at the same points"
    )
    rng = np.random.default_rng(3)
    x = np.linspace(-3, 3, n)
    dx = x[1] - x[0]
    X1, X2 = np.meshgrid(x, x, indexing="ij")
    smooth = f1(X1) + 0.5 * f1(X2) + np.cos(X1 * X2)
    walk = np.cumsum(np.cumsum(rng.normal(size=(n, n)), 0), 1) / n
    noise = rng.random((n, n))
    cases = [
        ("smooth (test function)", smooth, BETA, T),
        ("smooth + 2-D walk", smooth + walk * 0.3, BETA, T),
        ("2-D walk, bf 1e4, s 3", walk, 1e4 / np.ptp(walk), 1e4 / np.ptp(walk) * (3 * dx) ** 2),
        ("noise, bf 1e4, s 20", noise, 1e4, 1e4 * (20 * dx) ** 2),
    ]
    base = None
    for name, F, beta, t in cases:
        wall, cpu, u = cpu_timed(cole_hopf, F, dx, t, beta)
        _, c_hl, h = cpu_timed(hopf_lax, F, dx, t)
        base = (cpu, c_hl) if base is None else base
        pts = rng.choice(n * n, 30, replace=False)
        ref = _direct_2d_points(F, dx, t, beta, pts)
        err = float(np.max(np.abs(u.ravel()[pts] - ref))) * beta
        i1, i2 = np.divmod(pts, n)
        hb = np.array(
            [
                np.min(F + (((x - x[p]) ** 2)[:, None] + ((x - x[q]) ** 2)[None, :]) / (2 * t))
                for p, q in zip(i1, i2)
            ]
        )
        e_hl = float(np.max(np.abs(h.ravel()[pts] - hb))) / float(np.max(np.abs(F)))
        print(
            f"  {name:24s} sigma {np.sqrt(t / beta) / dx:6.3g} steps  {wall:6.3f}  {cpu:6.3f}  "
            f"x{cpu / base[0]:5.2f}  {err:8.1e} | {c_hl:6.3f}  x{c_hl / base[1]:5.2f}  {e_hl:8.1e}"
        )


def _direct_2d_points(F, dx, t, beta, pts):
    n1, n2 = F.shape
    c = beta * dx * dx / (2 * t)
    a = -beta * F
    i1, i2 = np.divmod(pts, n2)
    k1, k2 = np.arange(n1)[:, None], np.arange(n2)[None, :]
    out = np.empty(pts.size)
    for m in range(pts.size):
        z = a - c * ((k1 - i1[m]) ** 2 + (k2 - i2[m]) ** 2)
        zm = z.max()
        out[m] = zm + np.log(np.exp(z - zm).sum())
    logw = 2 * (np.log(dx) - 0.5 * np.log(2 * np.pi * t / beta))
    return -(out + logw) / beta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    args = ap.parse_args()
    print(
        f"deeprelax.pde speed; {os.cpu_count()} CPUs visible, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {os.getloadavg()[0]:.1f} "
        "at start"
    )
    n_cls, n_2d = (10**5, 256) if args.quick else (10**6, 2048)
    bench_classes(n_cls)
    bench_classes_hl_heat(n_cls)
    bench_2d_classes(n_2d)
    if args.quick:
        bench_1d([1000, 4000, 100000], 4000)
        bench_2d([32, 128], 32)
    else:
        bench_1d([1000, 4000, 16000, 100000, 1000000], 16000)
        bench_2d([32, 64, 256, 1024, 2048], 64)
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()

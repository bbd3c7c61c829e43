"""`deeprelax verify` and `deeprelax figure {smoothing,landscape}`: the PDE toolkit's commands.

``verify`` runs PAPER.md §11's checkable claims (deeprelax.pde.claims) and prints each with its
measured error; it needs numpy only. ``figure smoothing`` draws the paper's Figure 1 (§9);
``figure landscape`` a 2-D non-convex function with its relaxations and optimizer trajectories
(needs torch for deeprelax.optim).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check the paper's claims numerically (PAPER.md §11)",
        description="Run every numerically checkable claim of the paper and print its error.",
    )
    p.add_argument("--only", type=int, nargs="*", help="claim numbers to run (default: all)")
    p.set_defaults(func=run_verify)

    fig = subparsers.add_parser(
        "figure",
        help="draw the PDE figures (smoothing = paper's Figure 1, landscape = 2-D)",
        description="Regenerate a figure as PNG in --out.",
    )
    fig.add_argument("name", choices=("smoothing", "landscape"))
    fig.add_argument("--out", required=True, help="output directory")
    fig.add_argument("--seed", type=int, default=42)
    fig.set_defaults(func=run_figure)


def run_verify(args: argparse.Namespace) -> int:
    from deeprelax.pde import claims

    wanted = set(args.only or range(1, len(claims.ALL) + 1))
    bad = sorted(wanted - set(range(1, len(claims.ALL) + 1)))
    if bad:
        raise ValueError(f"Invalid --only value: {bad} (claims are 1..{len(claims.ALL)})")
    failures = 0
    start = time.process_time()
    for fn in claims.ALL:
        number = int(fn.__name__.split("_")[1])
        if number not in wanted:
            continue
        c = fn()
        status = "PASS" if c.passed else "FAIL"
        failures += not c.passed
        print(f"[{status}] claim {c.number:2d}: {c.name}")
        print(f"           {c.measured}")
        print(f"           error {c.error:.3g} <= tol {c.tol:.3g}  ({c.note})")
        sys.stdout.flush()
    print(f"{len(wanted) - failures}/{len(wanted)} claims pass "
          f"({time.process_time() - start:.1f} s CPU)")
    return 1 if failures else 0


def run_figure(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.name == "smoothing":
        path = figure_smoothing(out, seed=args.seed)
    else:
        path = figure_landscape(out, seed=args.seed)
    print(f"wrote {path}")
    return 0


# -- Figure 1 ---------------------------------------------------------------------------------


def smoothing_data(seed: int = 42) -> dict:
    """PAPER.md §9: f, viscous u(T=0.2, beta=1), Hopf-Lax u(T=0.1) and Fokker-Planck densities."""
    from deeprelax.pde import cole_hopf, hopf_lax
    from deeprelax.pde.claims import figure1_function
    from deeprelax.pde.solvers import fokker_planck

    x, fx = figure1_function(500, with_noise=True, seed=seed)
    dx = x[1] - x[0]
    Tv, Th = 0.2, 0.1
    uv = cole_hopf(fx, dx, Tv, 1.0)
    uh = hopf_lax(fx, dx, Th)
    sigma = 0.1
    rho0 = np.exp(-((x - 2.5) ** 2) / (2 * sigma**2)) * (np.abs(x - 2.5) <= 3 * sigma)
    rho0 /= rho0.sum() * dx
    taus = [1.0 - 0.1 * k for k in range(10)]

    def staged(velocities):
        return lambda s: velocities[min(9, int(s))]

    vel_v = [-np.gradient(cole_hopf(fx, dx, Tv * s, 1.0), dx) for s in taus]
    vel_h = [-np.gradient(hopf_lax(fx, dx, Th * s), dx) for s in taus]
    vel_f = [-np.gradient(fx, dx)] * 10
    dens = {
        "sgd": fokker_planck(rho0, staged(vel_f), dx, 0.2, 10.0),
        "viscous": fokker_planck(rho0, staged(vel_v), dx, 0.1, 10.0),
        "hopf_lax": fokker_planck(rho0, staged(vel_h), dx, 0.1, 10.0),
    }
    return dict(x=x, f=fx, viscous=uv, hopf_lax=uh, rho0=rho0, densities=dens)


def figure_smoothing(out: Path, seed: int = 42) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = smoothing_data(seed)
    x, fx = d["x"], d["f"]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    base = fx.min() - 1
    scale = 4.0 / max(np.max(v) for v in [d["rho0"], *d["densities"].values()])
    for rho, color, label in (
        (d["rho0"], "0.8", "initial density"),
        (d["densities"]["sgd"], "0.45", "SGD (u = f, D = 0.2)"),
        (d["densities"]["viscous"], "tab:red", "viscous HJ flow (D = 0.1)"),
        (d["densities"]["hopf_lax"], "tab:blue", "Hopf-Lax flow (D = 0.1)"),
    ):
        ax.fill_between(x, base, base + scale * rho, color=color, alpha=0.45, label=label)
    ax.plot(x, fx, "k", lw=1.2, label="f")
    ax.plot(x, d["viscous"], "tab:red", lw=1.6, label="viscous HJ u(x, 0.2), beta = 1")
    ax.plot(x, d["hopf_lax"], "tab:blue", lw=1.6, label="non-viscous HJ u(x, 0.1)")
    ax.set_xlim(-3, 3)
    ax.set_xlabel("x")
    ax.set_title("Deep Relaxation Figure 1: smoothing and the densities at time 10")
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    path = out / "smoothing.png"
    fig.savefig(path)
    plt.close(fig)
    for name, rho in d["densities"].items():
        mean = float(np.sum(x * rho) / np.sum(rho))
        fmean = float(np.sum(fx * rho) / np.sum(rho))
        print(f"{name:9s} terminal density: mean x = {mean:+.2f}, mean f = {fmean:+.2f}")
    return path


# -- 2-D landscape ----------------------------------------------------------------------------


def landscape_f(X, Y, lib=np):
    """A 2-D non-convex landscape: a wide bowl, ripples, and a sharp deep well."""
    return (
        0.5 * (X**2 + 0.5 * Y**2)
        + 0.6 * lib.sin(3 * X) * lib.cos(3 * Y)
        - 1.2 * lib.exp(-((X - 1.0) ** 2 + (Y + 0.8) ** 2) / 0.02)
    )


def figure_landscape(out: Path, seed: int = 42) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deeprelax.pde import cole_hopf, cole_hopf_grad, hopf_lax, hopf_lax_grad

    n = 257
    xs = np.linspace(-3, 3, n)
    dx = xs[1] - xs[0]
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    F = landscape_f(X, Y)
    t, beta = 0.5, 10.0
    U = cole_hopf(F, dx, t, beta)
    H = hopf_lax(F, dx, t)
    GU = cole_hopf_grad(F, dx, t, beta)
    GH = hopf_lax_grad(F, dx, t)
    runs, checks = _optimizer_runs(xs, GU, GH, t, beta, seed)
    checks.append(entropy_sgd_direction_check(xs, GU, t, beta, (2.3, 1.2), reps=20, seed=seed))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), dpi=90, sharey=True)
    colors = {"SGD": "k", "EntropySGD": "tab:red", "HJ": "tab:blue"}
    for ax, Z, title in (
        (axes[0], F, "f"),
        (axes[1], U, f"viscous HJ (local entropy), t={t}, beta={beta:g}"),
        (axes[2], H, f"Hopf-Lax (Moreau envelope), t={t}"),
    ):
        ax.contourf(X, Y, Z, levels=30, cmap="viridis")
        ax.contour(X, Y, Z, levels=15, colors="w", linewidths=0.3)
        for name, path in runs.items():
            ax.plot(path[:, 0], path[:, 1], "-", color=colors[name], lw=1.2, label=name)
            ax.plot(path[-1, 0], path[-1, 1], "o", color=colors[name], ms=4)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("x1")
    axes[0].set_ylabel("x2")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path = out / "landscape.png"
    fig.savefig(path)
    plt.close(fig)
    for line in checks:
        print(line)
    return path


def _entropy_sgd(x, t, beta, gen, lr):
    from deeprelax.optim import EntropySGD

    gamma = 1.0 / t
    # Langevin temperature eps^2 = 1/beta: the chain's Gibbs law is the one the grid solves
    return EntropySGD([x], lr=lr, momentum=0.0, nesterov=False, L=400, gamma=gamma,
                      inner_lr=0.01, inner_momentum=0.0, noise=1.0 / math.sqrt(beta),
                      alpha=0.01, generator=gen)


def entropy_sgd_direction_check(xs, GU, t, beta, point, reps=20, seed=0) -> str:
    """Mean and standard error of ``reps`` independent one-step EntropySGD directions
    g (x - mu) at ``point`` against the exact grad u (viscous HJ) of the grid solution."""
    import torch

    est = []
    for r in range(reps):
        x = torch.nn.Parameter(torch.tensor(point, dtype=torch.float64))
        opt = _entropy_sgd(x, t, beta, torch.Generator().manual_seed(seed * 1000 + r), lr=1.0)

        def closure(opt=opt, x=x):
            opt.zero_grad()
            loss = landscape_f(x[0], x[1], torch)
            loss.backward()
            return loss

        opt.step(closure)
        est.append((np.asarray(point) - x.detach().numpy()) / t)  # lr 1: D = x - mu, g = 1/t
    est = np.array(est)
    mean, se = est.mean(axis=0), est.std(axis=0, ddof=1) / math.sqrt(reps)
    exact = _interp2(xs, GU, np.asarray(point))
    cos = float(mean @ exact / (np.linalg.norm(mean) * np.linalg.norm(exact)))
    return (
        f"EntropySGD at {point}: mean of {reps} one-step directions {np.round(mean, 3)} "
        f"+- {np.round(se, 3)} (se) vs exact grad u {np.round(exact, 3)} (cosine {cos:.3f}, "
        f"relative error {np.linalg.norm(mean - exact) / np.linalg.norm(exact):.2f})"
    )


def _interp2(xs, G, p):
    """Bilinear interpolation of a (2, n, n) gradient field at point p."""
    dx = xs[1] - xs[0]
    u = (np.asarray(p) - xs[0]) / dx
    i = np.clip(np.floor(u).astype(int), 0, xs.size - 2)
    a = u - i
    g = (
        G[:, i[0], i[1]] * (1 - a[0]) * (1 - a[1])
        + G[:, i[0] + 1, i[1]] * a[0] * (1 - a[1])
        + G[:, i[0], i[1] + 1] * (1 - a[0]) * a[1]
        + G[:, i[0] + 1, i[1] + 1] * a[0] * a[1]
    )
    return g


def _optimizer_runs(xs, GU, GH, t, beta, seed, names=("SGD", "EntropySGD", "HJ"), steps=120):
    """SGD, EntropySGD and HJ from deeprelax.optim on landscape_f as a torch parameter.

    Returns the paths and, for the relaxed optimizers' first 3 steps, lines comparing the
    direction the step used with the exact grad u interpolated from the grid solution."""
    import torch

    from deeprelax.optim import HJ

    start = (2.3, 1.2)
    gamma = 1.0 / t
    runs, checks = {}, []
    for name in names:
        torch.manual_seed(seed)
        x = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        gen = torch.Generator().manual_seed(seed)
        if name == "SGD":
            opt = torch.optim.SGD([x], lr=0.05)
        elif name == "EntropySGD":
            opt = _entropy_sgd(x, t, beta, gen, lr=0.05 * gamma)
        else:
            opt = HJ([x], lr=0.05, momentum=0.0, nesterov=False, L=30, gamma=gamma)

        def closure(opt=opt, x=x):
            opt.zero_grad()
            loss = landscape_f(x[0], x[1], torch)
            loss.backward()
            return loss

        path = [x.detach().numpy().copy()]
        for _ in range(steps):
            p0 = x.detach().numpy().copy()
            opt.step(closure)
            path.append(x.detach().numpy().copy())
            if name != "SGD" and _ < 3:
                est = (p0 - path[-1]) / opt.param_groups[0]["lr"]
                if name == "EntropySGD":
                    est = est * gamma  # D = x - mu, and grad u = g (x - mu)
                exact = _interp2(xs, GU if name == "EntropySGD" else GH, p0)
                cos = float(est @ exact / (np.linalg.norm(est) * np.linalg.norm(exact)))
                checks.append(
                    f"{name:10s} step {_}: estimated direction {np.round(est, 3)} vs exact "
                    f"grad u {np.round(exact, 3)} (cosine {cos:.3f}, relative error "
                    f"{np.linalg.norm(est - exact) / np.linalg.norm(exact):.2f})"
                )
        runs[name] = np.array(path)
    return runs, checks

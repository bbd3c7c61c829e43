"""A 2-D non-convex landscape, its viscous and non-viscous relaxations on a grid, and the paths of
SGD, EntropySGD and HJ (from :mod:`deeprelax.optim`) on it, with the check that the relaxed
optimizers' directions match the exact grad u of the grid solutions. Needs torch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._pyplot import pyplot

__all__ = [
    "entropy_sgd_direction_check",
    "figure_landscape",
    "interp2",
    "landscape_f",
    "optimizer_runs",
]


def landscape_f(X, Y, lib=np):
    """A 2-D non-convex landscape: a wide bowl, ripples, and a sharp deep well."""
    return (
        0.5 * (X**2 + 0.5 * Y**2)
        + 0.6 * lib.sin(3 * X) * lib.cos(3 * Y)
        - 1.2 * lib.exp(-((X - 1.0) ** 2 + (Y + 0.8) ** 2) / 0.02)
    )


def figure_landscape(out: Path, seed: int = 42) -> tuple[Path, list[str]]:
    """Draw ``out/landscape.png`` (f, its two relaxations, SGD/EntropySGD/HJ paths on each); returns
    the path and the lines comparing the optimizers' directions with the exact grad u."""
    plt = pyplot()
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
    runs, checks = optimizer_runs(xs, GU, GH, t, beta, seed)
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
    return path, checks


def _entropy_sgd(x, t, beta, gen, lr):
    from deeprelax.optim import EntropySGD

    gamma = 1.0 / t
    # Langevin temperature eps^2 = 1/beta: the chain's Gibbs law is the one the grid solves
    return EntropySGD(
        [x],
        lr=lr,
        momentum=0.0,
        nesterov=False,
        L=400,
        gamma=gamma,
        inner_lr=0.01,
        inner_momentum=0.0,
        noise=1.0 / math.sqrt(beta),
        alpha=0.01,
        generator=gen,
    )


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
    exact = interp2(xs, GU, np.asarray(point))
    cos = float(mean @ exact / (np.linalg.norm(mean) * np.linalg.norm(exact)))
    return (
        f"EntropySGD at {point}: mean of {reps} one-step directions {np.round(mean, 3)} "
        f"+- {np.round(se, 3)} (se) vs exact grad u {np.round(exact, 3)} (cosine {cos:.3f}, "
        f"relative error {np.linalg.norm(mean - exact) / np.linalg.norm(exact):.2f})"
    )


def interp2(xs, G, p):
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


def optimizer_runs(xs, GU, GH, t, beta, seed, names=("SGD", "EntropySGD", "HJ"), steps=120):
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
                exact = interp2(xs, GU if name == "EntropySGD" else GH, p0)
                cos = float(est @ exact / (np.linalg.norm(est) * np.linalg.norm(exact)))
                checks.append(
                    f"{name:10s} step {_}: estimated direction {np.round(est, 3)} vs exact "
                    f"grad u {np.round(exact, 3)} (cosine {cos:.3f}, relative error "
                    f"{np.linalg.norm(est - exact) / np.linalg.norm(exact):.2f})"
                )
        runs[name] = np.array(path)
    return runs, checks

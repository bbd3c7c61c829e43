"""The paper's Figure 1 (PAPER.md §9): a rough 1-D function, its viscous (Cole–Hopf) and
non-viscous (Hopf–Lax) relaxations, and the Fokker–Planck densities of the three flows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._pyplot import pyplot

__all__ = ["figure_smoothing", "smoothing_data"]


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


def figure_smoothing(out: Path, seed: int = 42) -> tuple[Path, list[str]]:
    """Draw Figure 1 as ``out/smoothing.png``; returns the path and one line per terminal density
    (its mean x and mean f)."""
    plt = pyplot()
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
    lines = []
    for name, rho in d["densities"].items():
        mean = float(np.sum(x * rho) / np.sum(rho))
        fmean = float(np.sum(fx * rho) / np.sum(rho))
        lines.append(f"{name:9s} terminal density: mean x = {mean:+.2f}, mean f = {fmean:+.2f}")
    return path, lines

"""The PDE figures: `deeprelax figure smoothing` through the CLI, and the landscape figure's
direction checks from deeprelax.figures.landscape."""

import pytest

from deeprelax.cli import main


@pytest.mark.slow
def test_figure_smoothing(tmp_path, capsys):
    assert main(["figure", "smoothing", "--out", str(tmp_path)]) == 0
    png = tmp_path / "smoothing.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    # Figure 1's message: the relaxed densities end lower than SGD's
    means = {
        ln.split()[0]: float(ln.split("mean f =")[1]) for ln in out.splitlines() if "mean f" in ln
    }
    assert means["viscous"] < means["sgd"] - 1 and means["hopf_lax"] < means["sgd"] - 1


def test_optimizer_directions_match_exact_relaxed_gradients():
    """HJ's fixed point and EntropySGD's g (x - mu) against grad u of the grid solutions."""
    import numpy as np

    from deeprelax.figures.landscape import (
        entropy_sgd_direction_check,
        landscape_f,
        optimizer_runs,
    )
    from deeprelax.pde import cole_hopf_grad, hopf_lax_grad

    xs = np.linspace(-3, 3, 129)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    F = landscape_f(X, Y)
    t, beta = 0.5, 10.0
    GH = hopf_lax_grad(F, xs[1] - xs[0], t)
    _, checks = optimizer_runs(xs, None, GH, t, beta, seed=0, names=("HJ",), steps=3)
    rel = [float(ln.split("relative error ")[1].rstrip(")")) for ln in checks]
    # the damped fixed point converges here; the grid gradient is exact to dx / t = 0.09
    assert len(rel) == 3 and max(rel) < 0.1
    GU = cole_hopf_grad(F, xs[1] - xs[0], t, beta)
    line = entropy_sgd_direction_check(xs, GU, t, beta, (2.3, 1.2), reps=20, seed=0)
    cos = float(line.split("cosine ")[1].split(",")[0])
    rel_e = float(line.split("relative error ")[1].rstrip(")"))
    # mean of 20 finite Langevin chains: angular MC error ~0.1 rad (se / |mean|), so cos > 0.9 is
    # ~4 se; the length is short (mu starts at x) but must be the right order
    assert cos > 0.9 and rel_e < 0.6, line

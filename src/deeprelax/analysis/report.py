"""The analysis report: every diagnostic of this package on one model, as one JSON-ready dict.

:func:`analysis_report` runs, on the loss over fixed ``batches``: the top (and optionally bottom)
Hessian eigenvalues, the SLQ spectral density, the Hutchinson trace, Monte-Carlo local entropy,
epsilon- and SAM-sharpness and, given a second model, the loss/error interpolation between the
two. ``deeprelax analyze`` writes it as ``analysis.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .density import hessian_spectral_density
from .entropy import local_entropy
from .hessian import HessianOperator, hutchinson_trace, top_hessian_eigenvalues
from .sharpness import epsilon_sharpness, interpolate, sam_sharpness

__all__ = ["AnalysisSettings", "analysis_report"]

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class AnalysisSettings:
    """The knobs of :func:`analysis_report` (the defaults are ``deeprelax analyze``'s).

    Args:
        k: top eigenvalues. bottom: smallest algebraic eigenvalues (0: skip).
        solver: ``"lanczos"`` or ``"arpack"`` for the extreme eigenvalues; tol: its tolerance.
        probes, lanczos_steps: SLQ probes and Lanczos steps per probe.
        trace_probes: Hutchinson probes.
        gamma, beta: local-entropy coupling and inverse temperature; chains, langevin_steps,
            langevin_lr: the Langevin sampler; entropy_samples: Gaussian samples of the value.
        epsilon: epsilon-sharpness box; rho: SAM radius. seed: probe and chain seed.
    """

    k: int = 10
    bottom: int = 0
    solver: str = "lanczos"
    tol: float = 1e-3
    probes: int = 3
    lanczos_steps: int = 60
    trace_probes: int = 20
    gamma: float = 100.0
    beta: float = 10.0
    chains: int = 2
    langevin_steps: int = 30
    langevin_lr: float = 5e-3
    entropy_samples: int = 200
    epsilon: float = 1e-3
    rho: float = 0.05
    seed: int = 0

    def check(self) -> None:
        """``ValueError`` naming the first setting out of range."""
        if self.bottom < 0:
            raise ValueError(f"Invalid --bottom value: {self.bottom}")
        for name in ("k", "probes", "lanczos_steps", "gamma", "beta"):
            if not getattr(self, name) > 0:
                flag = name.replace("_", "-")
                raise ValueError(f"Invalid --{flag} value: {getattr(self, name)}")


def analysis_report(
    model: nn.Module,
    loss_fn: Callable,
    batches: Batches,
    settings: AnalysisSettings,
    *,
    other: nn.Module | None = None,
    test_batches: Batches | None = None,
    other_source: str = "other",
) -> dict[str, Any]:
    """Every diagnostic on ``loss_fn`` over ``batches`` at ``model`` (a classifier in eval mode);
    with ``other`` also the interpolation towards it over ``batches`` and ``test_batches``.

    Keys: ``num_params``, ``loss``, ``error``, ``grad_norm``, ``top_eigenvalues`` (and
    ``bottom_eigenvalues``), ``density``, ``trace``, ``local_entropy``, ``sharpness``,
    ``interpolation`` (with ``other``) and ``timings`` (seconds per diagnostic).
    """
    settings.check()
    d = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for flag, k in (("k", settings.k), ("bottom", settings.bottom)):
        if k >= d:
            raise ValueError(f"Invalid --{flag} value: {k} (the model has {d} parameters)")
    timings: dict[str, float] = {}
    op = HessianOperator(model, loss_fn, batches)
    loss, grad = op.flat.loss_and_grad()
    report: dict[str, Any] = {
        "num_params": d,
        "loss": float(loss),
        "error": _error(model, batches),
        "grad_norm": float(grad.norm()),
    }
    report.update(_spectrum(settings, model, loss_fn, batches, op, timings))
    op.release()
    report.update(_entropy_and_sharpness(settings, model, loss_fn, batches, timings))
    if other is not None:
        report["interpolation"] = _interpolation(
            model, loss_fn, other, batches, test_batches or batches, other_source
        )
    report["timings"] = timings
    return report


def _error(model: nn.Module, batches: Batches) -> float:
    with torch.no_grad():
        wrong = sum(int((model(a).argmax(1) != b).sum()) for a, b in batches)
    return wrong / sum(len(b) for _, b in batches)


def _timed(timings: dict[str, float], key: str, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    timings[key] = time.perf_counter() - t0
    return out


def _spectrum(s: AnalysisSettings, model, loss_fn, batches, op, timings) -> dict[str, Any]:
    """Top (and bottom) eigenvalues, SLQ density and Hutchinson trace, all on one operator."""
    kw = {"operator": op, "seed": s.seed}
    eig = {"tol": s.tol, "solver": s.solver, **kw}
    top = _timed(timings, "top_eigenvalues_s", top_hessian_eigenvalues, model, loss_fn,
                 batches, k=s.k, **eig)  # fmt: skip
    out: dict[str, Any] = {
        "top_eigenvalues": top.eigenvalues.tolist(),
        "top_eigenvalues_hvps": top.num_hvps,
        "top_eigenvalues_solver": f"{s.solver}, tol {s.tol:g}",
    }
    if s.bottom:
        low = _timed(timings, "bottom_eigenvalues_s", top_hessian_eigenvalues, model,
                     loss_fn, batches, k=s.bottom, which="SA", **eig)  # fmt: skip
        out["bottom_eigenvalues"] = low.eigenvalues.tolist()
        out["bottom_eigenvalues_hvps"] = low.num_hvps
    sd = _timed(timings, "density_s", hessian_spectral_density, model, loss_fn, batches,
                num_probes=s.probes, lanczos_steps=s.lanczos_steps, **kw)  # fmt: skip
    thresholds = [float(top.eigenvalues[-1]) * f for f in (0.01, 0.1)] + [0.1, 1.0, 10.0]
    out["density"] = {
        "grid": sd.grid.tolist(),
        "density": sd.density.tolist(),
        "sigma": sd.sigma,
        "ritz_values": [n.tolist() for n in sd.nodes],
        "ritz_weights": [w.tolist() for w in sd.weights],
        "fraction_above": {f"{t:.4g}": sd.fraction_above(t) for t in thresholds},
        "count_above_in_top_k": {
            f"{t:.4g}": int((top.eigenvalues > t).sum()) for t in (0.1, 1.0, 10.0)
        },
        "trace_slq": sd.trace(),
        "hvps": sd.num_hvps,
    }
    tr = _timed(timings, "trace_s", hutchinson_trace, model, loss_fn, batches,
                num_probes=s.trace_probes, **kw)  # fmt: skip
    out["trace"] = {"estimate": tr.trace, "stderr": tr.stderr, "probes": s.trace_probes}
    return out


def _entropy_and_sharpness(s: AnalysisSettings, model, loss_fn, batches, timings) -> dict:
    le = _timed(timings, "local_entropy_s", local_entropy, model, loss_fn, batches,
                gamma=s.gamma, beta=s.beta, num_chains=s.chains, steps=s.langevin_steps,
                burn_in=s.langevin_steps // 3, step_size=s.langevin_lr,
                num_samples=s.entropy_samples, seed=s.seed)  # fmt: skip
    eps = epsilon_sharpness(model, loss_fn, batches, s.epsilon, steps=10, seed=s.seed)
    sam = sam_sharpness(model, loss_fn, batches, s.rho)
    return {
        "local_entropy": {
            "gamma": s.gamma,
            "beta": s.beta,
            "value": le.value,
            "value_stderr": le.value_stderr,
            "value_minus_loss": le.value - le.loss,
            "displacement_norm": le.displacement_norm,
            "displacement_norm_stderr": le.displacement_norm_stderr,
            "displacement_sq_unbiased": le.displacement_sq_unbiased,
            "grad_evals": le.num_grad_evals,
        },
        "sharpness": {
            "epsilon": s.epsilon,
            "epsilon_sharpness": eps.sharpness,
            "epsilon_increase": eps.increase,
            "rho": s.rho,
            "sam_increase": sam.increase,
        },
    }


def _interpolation(model, loss_fn, other, batches, test, source: str) -> dict[str, Any]:
    alphas = np.linspace(0.0, 1.0, 21)  # extrapolated BN running variances can turn negative
    itr = interpolate(model, loss_fn, batches, other, alphas, source=source)
    ite = interpolate(model, loss_fn, test, other, alphas, source=source)
    return {
        "other": source,
        "alphas": alphas.tolist(),
        "train_loss": itr.losses.tolist(),
        "train_error": None if itr.errors is None else itr.errors.tolist(),
        "test_loss": ite.losses.tolist(),
        "test_error": None if ite.errors is None else ite.errors.tolist(),
    }

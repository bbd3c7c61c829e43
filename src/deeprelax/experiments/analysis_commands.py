"""``deeprelax analyze CHECKPOINT --out DIR``: landscape diagnostics of a trained network.

Loads a trainer checkpoint (``deeprelax-checkpoint-v1``), rebuilds the model with
``build_model(config["model"])``, draws ``--batches`` x ``--batch-size`` training examples
(seeded) and runs :mod:`deeprelax.analysis` on the loss over them (cross-entropy, batch norm in
eval mode, dropout off): top-k Hessian eigenvalues, SLQ density, Hutchinson trace, local entropy,
epsilon- and SAM-sharpness, and with ``--other`` the loss/error interpolation between the two
checkpoints. Writes ``DIR/analysis.json`` and ``DIR/density.png``, ``DIR/top_eigenvalues.png``,
``DIR/interpolation.png`` (with ``--other``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deeprelax import analysis
from deeprelax.analysis import plots

from .checkpoint import load_checkpoint
from .data import load_dataset
from .models import build_model

__all__ = ["analyze_checkpoint", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="Hessian spectrum, local entropy, sharpness of a checkpoint",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("checkpoint", help="a checkpoint.pt written by `deeprelax train`")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--other", help="second checkpoint of the same model: loss interpolation")
    p.add_argument("--k", type=int, default=10, help="top eigenvalues (default 10)")
    p.add_argument(
        "--bottom",
        type=int,
        default=0,
        help="also the smallest algebraic eigenvalues (default 0: skip; slow inside the bulk)",
    )
    p.add_argument(
        "--solver",
        choices=("lanczos", "arpack"),
        default="lanczos",
        help="top-k eigensolver (default lanczos: same products, less overhead at d ~ 2M)",
    )
    p.add_argument("--tol", type=float, default=1e-3, help="eigensolver tolerance (1e-3)")
    p.add_argument("--batches", type=int, default=4, help="batches of training data (default 4)")
    p.add_argument("--batch-size", type=int, default=250, help="examples per batch (default 250)")
    p.add_argument("--probes", type=int, default=3, help="SLQ probes (default 3)")
    p.add_argument("--lanczos-steps", type=int, default=60, help="SLQ steps per probe (default 60)")
    p.add_argument("--trace-probes", type=int, default=20, help="Hutchinson probes (default 20)")
    p.add_argument("--gamma", type=float, default=100.0, help="local-entropy coupling g (100)")
    p.add_argument("--beta", type=float, default=10.0, help="local-entropy inverse temperature")
    p.add_argument("--chains", type=int, default=2, help="Langevin chains (default 2)")
    p.add_argument("--langevin-steps", type=int, default=30, help="steps per chain (default 30)")
    p.add_argument("--langevin-lr", type=float, default=5e-3, help="Langevin step (default 5e-3)")
    p.add_argument("--entropy-samples", type=int, default=200, help="Gaussian samples (200)")
    p.add_argument("--epsilon", type=float, default=1e-3, help="epsilon-sharpness box (1e-3)")
    p.add_argument("--rho", type=float, default=0.05, help="SAM radius (default 0.05)")
    p.add_argument("--seed", type=int, default=0, help="data subset and probe seed (default 0)")
    p.add_argument("--data-dir", help="folder with MNIST IDX files or CIFAR-10 python batches")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=cmd_analyze)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if not value > 0:
            raise ValueError(f"Invalid --{name.replace('_', '-')} value: {value}")


def _load_model(path: str | Path, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    ckpt = load_checkpoint(path)
    config = ckpt["config"]
    if "model" not in config or "dataset" not in config:
        raise ValueError(f"{path}: checkpoint config lacks 'model' or 'dataset'")
    model = build_model(config["model"])
    analysis.check_state_dict(model, ckpt["model_state"], source=str(path))
    model.load_state_dict(ckpt["model_state"])
    return model.to(device).eval(), config


def _batches(x: torch.Tensor, y: torch.Tensor, n: int, size: int, seed: int, device) -> list:
    if n * size > len(x):
        raise ValueError(f"Invalid --batches value: {n} x {size} exceeds the {len(x)} examples")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: n * size]
    return [(x[i].to(device), y[i].to(device)) for i in idx.split(size)]


def _error(model: torch.nn.Module, batches: list) -> float:
    with torch.no_grad():
        wrong = sum(int((model(a).argmax(1) != b).sum()) for a, b in batches)
    return wrong / sum(len(b) for _, b in batches)


def analyze_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Run every diagnostic (module docstring); returns the dict written to analysis.json."""
    if args.bottom < 0:
        raise ValueError(f"Invalid --bottom value: {args.bottom}")
    _positive(args, "k", "batches", "batch_size", "probes", "lanczos_steps", "gamma", "beta")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, config = _load_model(args.checkpoint, device)
    other = other_config = None
    if args.other:
        other, other_config = _load_model(args.other, device)
        if other_config["model"] != config["model"]:
            raise ValueError(
                f"{args.other}: a checkpoint of model {other_config['model']!r}, "
                f"but {args.checkpoint} is of {config['model']!r}"
            )
    (x_tr, y_tr), (x_te, y_te) = load_dataset(config["dataset"], data_dir=args.data_dir)
    batches = _batches(x_tr, y_tr, args.batches, args.batch_size, args.seed, device)
    d = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for flag, k in (("k", args.k), ("bottom", args.bottom)):
        if k >= d:
            raise ValueError(f"Invalid --{flag} value: {k} (the model has {d} parameters)")
    timings: dict[str, float] = {}
    op = analysis.HessianOperator(model, F.cross_entropy, batches)
    loss, grad = op.flat.loss_and_grad()
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "config": config,
        "num_params": d,
        "num_examples": args.batches * args.batch_size,
        "data": f"{args.batches} x {args.batch_size} training examples (seed {args.seed})",
        "loss": float(loss),
        "error": _error(model, batches),
        "grad_norm": float(grad.norm()),
    }
    report.update(_spectrum(args, model, batches, op, timings))
    op.release()
    report.update(_entropy_and_sharpness(args, model, batches, timings))
    if other is not None:
        test = _batches(x_te, y_te, 1, min(len(x_te), args.batches * args.batch_size), 0, device)
        report["interpolation"] = _interpolation(args, model, other, batches, test)
        report["interpolation"]["other_optim"] = other_config.get("optim")
    report["timings"] = timings
    return report


def _timed(timings: dict[str, float], key: str, fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    timings[key] = time.perf_counter() - t0
    return out


def _spectrum(args, model, batches, op, timings: dict[str, float]) -> dict[str, Any]:
    """Top (and bottom) eigenvalues, SLQ density and Hutchinson trace, all on one operator."""
    ce, kw = F.cross_entropy, {"operator": op, "seed": args.seed}
    eig = {"tol": args.tol, "solver": args.solver, **kw}
    top = _timed(timings, "top_eigenvalues_s", analysis.top_hessian_eigenvalues, model, ce,
                 batches, k=args.k, **eig)  # fmt: skip
    out: dict[str, Any] = {
        "top_eigenvalues": top.eigenvalues.tolist(),
        "top_eigenvalues_hvps": top.num_hvps,
        "top_eigenvalues_solver": f"{args.solver}, tol {args.tol:g}",
    }
    if args.bottom:
        low = _timed(timings, "bottom_eigenvalues_s", analysis.top_hessian_eigenvalues, model,
                     ce, batches, k=args.bottom, which="SA", **eig)  # fmt: skip
        out["bottom_eigenvalues"] = low.eigenvalues.tolist()
        out["bottom_eigenvalues_hvps"] = low.num_hvps
    sd = _timed(timings, "density_s", analysis.hessian_spectral_density, model, ce, batches,
                num_probes=args.probes, lanczos_steps=args.lanczos_steps, **kw)  # fmt: skip
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
    tr = _timed(timings, "trace_s", analysis.hutchinson_trace, model, ce, batches,
                num_probes=args.trace_probes, **kw)  # fmt: skip
    out["trace"] = {"estimate": tr.trace, "stderr": tr.stderr, "probes": args.trace_probes}
    return out


def _entropy_and_sharpness(args, model, batches, timings: dict[str, float]) -> dict[str, Any]:
    ce = F.cross_entropy
    le = _timed(timings, "local_entropy_s", analysis.local_entropy, model, ce, batches,
                gamma=args.gamma, beta=args.beta, num_chains=args.chains,
                steps=args.langevin_steps, burn_in=args.langevin_steps // 3,
                step_size=args.langevin_lr, num_samples=args.entropy_samples,
                seed=args.seed)  # fmt: skip
    eps = analysis.epsilon_sharpness(model, ce, batches, args.epsilon, steps=10, seed=args.seed)
    sam = analysis.sam_sharpness(model, ce, batches, args.rho)
    return {
        "local_entropy": {
            "gamma": args.gamma,
            "beta": args.beta,
            "value": le.value,
            "value_stderr": le.value_stderr,
            "value_minus_loss": le.value - le.loss,
            "displacement_norm": le.displacement_norm,
            "displacement_norm_stderr": le.displacement_norm_stderr,
            "displacement_sq_unbiased": le.displacement_sq_unbiased,
            "grad_evals": le.num_grad_evals,
        },
        "sharpness": {
            "epsilon": args.epsilon,
            "epsilon_sharpness": eps.sharpness,
            "epsilon_increase": eps.increase,
            "rho": args.rho,
            "sam_increase": sam.increase,
        },
    }


def _interpolation(args, model, other, batches, test) -> dict[str, Any]:
    alphas = np.linspace(0.0, 1.0, 21)  # extrapolated BN running variances can turn negative
    itr = analysis.interpolate(model, F.cross_entropy, batches, other, alphas, source=args.other)
    ite = analysis.interpolate(model, F.cross_entropy, test, other, alphas, source=args.other)
    return {
        "other": str(args.other),
        "alphas": alphas.tolist(),
        "train_loss": itr.losses.tolist(),
        "train_error": None if itr.errors is None else itr.errors.tolist(),
        "test_loss": ite.losses.tolist(),
        "test_error": None if ite.errors is None else ite.errors.tolist(),
    }


def _write(report: dict[str, Any], out: Path, name: str, other_name: str | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "analysis.json", "w") as fh:
        json.dump(report, fh, indent=1, default=float)
    dens = report["density"]
    plots.plot_density({name: (dens["grid"], dens["density"])}, out / "density.png")
    plots.plot_top_eigenvalues({name: report["top_eigenvalues"]}, out / "top_eigenvalues.png")
    if "interpolation" in report:
        it = report["interpolation"]
        plots.plot_interpolation(
            it["alphas"],
            {
                "train": (it["train_loss"], it["train_error"]),
                "test": (it["test_loss"], it["test_error"]),
            },
            out / "interpolation.png",
            labels=(name, other_name or "other"),
        )


def cmd_analyze(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    report = analyze_checkpoint(args)
    name = f"{report['config'].get('model')}/{report['config'].get('optim', '?')}"
    other_name = report.get("interpolation", {}).get("other_optim")
    out = Path(args.out)
    _write(report, out, name, other_name)
    top = report["top_eigenvalues"]
    le = report["local_entropy"]
    print(
        f"{args.checkpoint}: loss {report['loss']:.4g}, top eigenvalue {top[0]:.4g} "
        f"({report['top_eigenvalues_hvps']} HVPs), trace {report['trace']['estimate']:.4g} "
        f"+- {report['trace']['stderr']:.2g}, local entropy - loss {le['value_minus_loss']:.4g} "
        f"+- {le['value_stderr']:.2g}; wrote {out / 'analysis.json'}"
    )
    if not math.isfinite(report["loss"]):
        raise FloatingPointError(f"{args.checkpoint}: the loss is not finite")
    return 0

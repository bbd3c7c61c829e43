"""``deeprelax analyze CHECKPOINT --out DIR``: landscape diagnostics of a trained network
(:func:`deeprelax.experiments.analyze.analyze_checkpoint`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = ["register"]

_DESCRIPTION = (
    "Loads a trainer checkpoint (``deeprelax-checkpoint-v1``), rebuilds the model with\n"
    '``build_model(config["model"])``, draws ``--batches`` x ``--batch-size`` training examples\n'
    "(seeded) and runs :mod:`deeprelax.analysis` on the loss over them (cross-entropy, batch norm in\n"
    "eval mode, dropout off): top-k Hessian eigenvalues, SLQ density, Hutchinson trace, local entropy,\n"
    "epsilon- and SAM-sharpness, and with ``--other`` the loss/error interpolation between the two\n"
    "checkpoints. Writes ``DIR/analysis.json`` and ``DIR/density.png``, ``DIR/top_eigenvalues.png``,\n"
    "``DIR/interpolation.png`` (with ``--other``)."
)

#: the flags that are fields of deeprelax.analysis.AnalysisSettings
_SETTINGS = (
    "k", "bottom", "solver", "tol", "probes", "lanczos_steps", "trace_probes", "gamma", "beta",
    "chains", "langevin_steps", "langevin_lr", "entropy_samples", "epsilon", "rho", "seed",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="Hessian spectrum, local entropy, sharpness of a checkpoint",
        description=_DESCRIPTION,
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


def cmd_analyze(args: argparse.Namespace) -> int:
    import torch

    from deeprelax.analysis import AnalysisSettings
    from deeprelax.experiments.analyze import analyze_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    report = analyze_checkpoint(
        args.checkpoint,
        out,
        AnalysisSettings(**{name: getattr(args, name) for name in _SETTINGS}),
        other=args.other,
        batches=args.batches,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        device=args.device,
    )
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

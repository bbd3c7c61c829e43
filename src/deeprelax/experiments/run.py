"""One training run from a plain configuration: the run entry point of ``deeprelax train``,
``reproduce`` and the grid's jobs.

:func:`train` (the command line's call) and :func:`run_experiment` build the model, the optimizer
(:mod:`~deeprelax.experiments.optimizers`) and the trainer from a :class:`RunSpec`, then train.
Elastic-SGD and Parle (:data:`REPLICA_METHODS`) run as this process's replica of a torchrun job
with :class:`~deeprelax.experiments.replica.ReplicaTrainer`; alone, they train one replica.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import load_dataset
from .models import MODEL_DATASETS, MODELS, build_model
from .optimizers import build_optimizer, replica_hyper
from .protocol import LRSchedule, TrainConfig
from .trainer import Trainer

__all__ = [
    "NOISE_SEED_OFFSET",
    "REPLICA_METHODS",
    "RunSpec",
    "build_run",
    "is_finished",
    "resolve_device",
    "run_experiment",
    "train",
]

Split = tuple[torch.Tensor, torch.Tensor]
ModelFactory = Callable[[str], nn.Module]
ClosureHook = Callable[[Trainer], None]

#: offset between the minibatch-sampler seed and the optimizer-noise seed (separate streams)
NOISE_SEED_OFFSET = 10_007
#: methods trained one replica per process (launch with torchrun; alone, one replica)
REPLICA_METHODS = ("elastic-sgd", "parle")


@dataclass
class RunSpec:
    """Everything that defines a run's trajectory (saved in checkpoints and summary.json).

    ``lr_schedule`` is a string for :meth:`LRSchedule.parse` (in effective epochs); ``hyper`` the
    optimizer's keyword arguments (``lr`` is overwritten by the schedule at every step).
    """

    model: str
    dataset: str
    optim: str
    budget: float
    seed: int = 0
    lr_schedule: str = "0:0.1"
    hyper: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 128
    eval_every: float = 1.0
    bn_refresh_batches: int | None = None
    test_subset: int | None = None
    telemetry: bool = False

    def config(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"Invalid device value: {device!r}") from exc


def is_finished(out_dir: str | Path) -> bool:
    """True when ``out_dir/summary.json`` says the run reached its budget."""
    path = Path(out_dir) / "summary.json"
    try:
        return json.loads(path.read_text()).get("status") == "finished"
    except (OSError, ValueError):
        return False


def run_experiment(
    spec: RunSpec,
    out_dir: str | Path | None,
    *,
    resume: bool | None = None,
    until: float | None = None,
    quiet: bool = False,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "auto",
    data: tuple[Split, Split] | None = None,
    stop_at: float | None = None,
    shard: bool = False,
    refuse_existing: bool = False,
    model_factory: ModelFactory | None = None,
    closure_hook: ClosureHook | None = None,
) -> dict[str, Any]:
    """Build model, data and optimizer from ``spec`` and train into ``out_dir``; returns the summary.

    Seeds: see :func:`build_run`. ``until`` / ``stop_at``: pause (resumable) at the first
    evaluation past that many effective epochs / that ``time.time()`` (``stop_at``: not for
    replica runs, whose ranks must agree on when to stop). ``resume``: continue from
    ``out_dir/checkpoint.pt``; None: only after a torchrun restart (``TORCHELASTIC_RESTART_COUNT``
    > 0). ``refuse_existing``: a fresh run refuses an ``out_dir`` that holds a checkpoint.
    ``data``: ``((x_train, y_train), (x_test, y_test))`` instead of loading ``spec.dataset``;
    ``model_factory(spec.model)``: the model instead of :func:`~deeprelax.experiments.models.build_model`;
    ``closure_hook``: see :class:`~deeprelax.experiments.trainer.Trainer`.

    :data:`REPLICA_METHODS` train as this process's replica of the torchrun job (without
    torchrun's environment, a single replica: Elastic-SGD = SGD, Parle = Entropy-SGD), ``shard``:
    each replica samples from its own contiguous 1/n of the training set. Their defaults are
    written into the run configuration (:func:`~deeprelax.experiments.optimizers.replica_hyper`);
    the summary is the same on every rank.
    """
    _check_spec(spec, model_factory)
    options = dict(until=until, quiet=quiet, data_dir=data_dir, cache_dir=cache_dir)
    hooks = dict(model_factory=model_factory, closure_hook=closure_hook)
    if spec.optim in REPLICA_METHODS:
        if stop_at is not None:
            raise ValueError(f"Invalid stop_at value: {stop_at} (replica runs pause at until only)")
        return _run_replica(
            spec, out_dir, resume, device, data, shard, refuse_existing, **options, **hooks
        )
    if shard:
        raise ValueError(f"Invalid shard value: True (only for {', '.join(REPLICA_METHODS)})")
    if refuse_existing and not resume and out_dir is not None:
        _refuse_existing(out_dir)
    dev = resolve_device(device)
    model, optimizer, train, test, config = build_run(
        spec, dev, data, stop_at=stop_at, model_factory=model_factory, **options
    )
    trainer = Trainer(model, optimizer, train, test, config, out_dir, spec.config(),
                      closure_hook=closure_hook)  # fmt: skip
    return trainer.run(resume=bool(resume))


def _run_replica(
    spec: RunSpec,
    out_dir: str | Path | None,
    resume: bool | None,
    device: str,
    data: tuple[Split, Split] | None,
    shard: bool,
    refuse_existing: bool,
    *,
    data_dir: str | None,
    cache_dir: str | None,
    model_factory: ModelFactory | None,
    closure_hook: ClosureHook | None,
    **options: Any,
) -> dict[str, Any]:
    from deeprelax.optim.replica import check_agreement

    from .distributed import init_distributed, is_restart
    from .replica import ReplicaTrainer

    ctx = init_distributed(device)
    try:
        if resume is None:
            resume = is_restart()
        if refuse_existing and not resume and out_dir is not None:
            _refuse_existing(out_dir, ctx.rank, ctx.world_size)
        if data is None:
            data = load_dataset(spec.dataset, data_dir, cache_dir)
        batches = math.ceil(data[0][0].shape[0] / spec.batch_size)
        spec = dataclasses.replace(spec, hyper=replica_hyper(spec.optim, spec.hyper, batches))
        check_agreement(
            {"spec": spec.config(), "shard": shard, "until": options["until"],
             "torch": torch.__version__},
            what="run configuration",
        )  # fmt: skip
        options["quiet"] = options["quiet"] or ctx.rank != 0
        model, optimizer, train, test, config = build_run(
            spec, ctx.device, data, replica=ctx.rank, model_factory=model_factory, **options
        )
        run_config = dict(spec.config(), replicas=ctx.world_size, shard=shard)
        trainer = ReplicaTrainer(model, optimizer, train, test, config, out_dir, run_config,
                                 shard=shard, closure_hook=closure_hook)  # fmt: skip
        return trainer.run(resume=bool(resume))
    finally:
        ctx.close()


def build_run(
    spec: RunSpec,
    device: torch.device,
    data: tuple[Split, Split] | None = None,
    *,
    replica: int | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    model_factory: ModelFactory | None = None,
    until: float | None = None,
    quiet: bool = False,
    stop_at: float | None = None,
) -> tuple[nn.Module, torch.optim.Optimizer, Split, Split, TrainConfig]:
    """The model, optimizer, data (on ``device``) and trainer settings of ``spec``.

    Seeds: ``torch.manual_seed(seed)`` before building the model (the initialization, the same
    on every replica); dropout then draws from the same global stream, whose state is
    checkpointed (replica ``a`` of a replica run first reseeds it with
    ``seed + 20011 + a * 1000003``); the minibatch sampler uses ``seed`` (replica ``a``: ``seed +
    a * 1000003``) and the optimizer noise ``seed + 10007`` (``+ a * 1000003``). The data is
    loaded after the optimizer is built, so that bad hyper-parameters fail before a slow load.
    """
    schedule = LRSchedule.parse(spec.lr_schedule)
    torch.manual_seed(spec.seed)
    model = (model_factory or build_model)(spec.model).to(device)
    noise_seed = spec.seed + NOISE_SEED_OFFSET
    if replica is not None:
        from .replica import DROPOUT_SEED_OFFSET, REPLICA_SEED_STRIDE

        torch.manual_seed(spec.seed + DROPOUT_SEED_OFFSET + REPLICA_SEED_STRIDE * replica)
        noise_seed += REPLICA_SEED_STRIDE * replica
    noise = torch.Generator(device=device).manual_seed(noise_seed)
    hyper = dict(spec.hyper, lr=schedule(0.0))
    optimizer = build_optimizer(spec.optim, model.parameters(), hyper, noise, spec.telemetry)
    train, test = data if data is not None else load_dataset(spec.dataset, data_dir, cache_dir)
    train = (train[0].to(device), train[1].to(device))
    test = (test[0].to(device), test[1].to(device))
    config = TrainConfig(
        budget=spec.budget,
        lr_schedule=schedule,
        batch_size=spec.batch_size,
        eval_every=spec.eval_every,
        bn_refresh_batches=spec.bn_refresh_batches,
        test_subset=spec.test_subset,
        seed=spec.seed,
        until=until,
        quiet=quiet,
        stop_at=stop_at,
    )
    return model, optimizer, train, test, config


def _check_spec(spec: RunSpec, model_factory: ModelFactory | None) -> None:
    if spec.model in MODEL_DATASETS and MODEL_DATASETS[spec.model] != spec.dataset:
        raise ValueError(
            f"Invalid dataset value: {spec.dataset!r} (model {spec.model} is built for "
            f"{MODEL_DATASETS[spec.model]})"
        )
    if model_factory is None and spec.model not in MODELS:
        raise ValueError(f"Invalid model value: {spec.model!r} (choose from {', '.join(MODELS)})")


def _refuse_existing(out_dir: str | Path, rank: int = 0, world: int = 1) -> None:
    path = Path(out_dir) / "checkpoint.pt"
    exists = path.exists() if rank == 0 else None
    if world > 1:  # rank 0's answer, so that every rank raises or none does
        from .distributed import broadcast

        exists = broadcast(exists, rank, world)
    if exists:
        raise ValueError(
            f"{path} exists; pass --resume to continue that run or choose another --out"
        )


def train(
    out: str | Path,
    *,
    model: str,
    optim: str,
    budget: float,
    dataset: str | None = None,
    lr: float = 0.1,
    lr_schedule: str | None = None,
    hyper: dict[str, Any] | None = None,
    shard: bool = False,
    resume: bool = False,
    quiet: bool = False,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "auto",
    data: tuple[Split, Split] | None = None,
    model_factory: ModelFactory | None = None,
    closure_hook: ClosureHook | None = None,
    **spec_fields: Any,
) -> dict[str, Any]:
    """The run entry point of ``deeprelax train``: one run of ``model`` with ``optim`` into
    ``out``; returns its summary.

    ``dataset`` defaults to the model's; ``lr_schedule`` (for :meth:`LRSchedule.parse`) overrides
    ``lr``; ``hyper``: the optimizer's keywords (None: the default); ``spec_fields``: the
    other :class:`RunSpec` fields; ``data``, ``model_factory``, ``closure_hook``: as in
    :func:`run_experiment`. A fresh run refuses an existing checkpoint unless ``resume``;
    :data:`REPLICA_METHODS` also resume after a torchrun restart.
    """
    if model_factory is None and model not in MODEL_DATASETS:
        raise ValueError(
            f"Invalid model value: {model!r} (choose from {', '.join(MODEL_DATASETS)})"
        )
    if shard and optim not in REPLICA_METHODS:
        raise ValueError(f"Invalid shard value: True (only for {', '.join(REPLICA_METHODS)})")
    if dataset is None and model not in MODEL_DATASETS:
        raise ValueError(f"Invalid dataset value: None (model {model} has no default data set)")
    if not lr_schedule and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"Invalid lr value: {lr} (must be finite and >= 0)")
    spec = RunSpec(
        model=model,
        dataset=dataset or MODEL_DATASETS[model],
        optim=optim,
        budget=budget,
        lr_schedule=str(LRSchedule.parse(lr_schedule if lr_schedule else lr)),
        hyper={k: v for k, v in (hyper or {}).items() if v is not None},
        **spec_fields,
    )
    return run_experiment(
        spec, Path(out), resume=True if resume else None, shard=shard, refuse_existing=True,
        quiet=quiet, data_dir=data_dir, cache_dir=cache_dir, device=device, data=data,
        model_factory=model_factory, closure_hook=closure_hook,
    )  # fmt: skip

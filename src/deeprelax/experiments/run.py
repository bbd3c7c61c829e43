"""One training run from a plain configuration: what ``deeprelax train`` and ``reproduce`` call."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .data import load_dataset
from .models import MODEL_DATASETS, build_model
from .optimizers import build_optimizer
from .trainer import LRSchedule, TrainConfig, Trainer

__all__ = [
    "REPLICA_METHODS",
    "RunSpec",
    "is_finished",
    "resolve_device",
    "run_experiment",
    "train",
]

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
    out_dir: str | Path,
    *,
    resume: bool = False,
    until: float | None = None,
    quiet: bool = False,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "auto",
    data: tuple | None = None,
    stop_at: float | None = None,
) -> dict[str, Any]:
    """Build model, data and optimizer from ``spec`` and train into ``out_dir``; returns the summary.

    Seeds: ``torch.manual_seed(seed)`` before building the model (initialization; dropout then
    draws from the same global stream, whose state is checkpointed), the minibatch sampler uses
    ``seed`` and the optimizer noise ``seed + 10007``. ``until`` / ``stop_at``: pause (resumable)
    at the first evaluation past that many effective epochs / that ``time.time()``.
    """
    if spec.model in MODEL_DATASETS and MODEL_DATASETS[spec.model] != spec.dataset:
        raise ValueError(
            f"Invalid dataset value: {spec.dataset!r} (model {spec.model} is built for "
            f"{MODEL_DATASETS[spec.model]})"
        )
    dev = resolve_device(device)
    schedule = LRSchedule.parse(spec.lr_schedule)
    torch.manual_seed(spec.seed)
    model = build_model(spec.model).to(dev)
    hyper = dict(spec.hyper)
    hyper["lr"] = schedule(0.0)
    noise = torch.Generator(device=dev).manual_seed(spec.seed + NOISE_SEED_OFFSET)
    optimizer = build_optimizer(spec.optim, model.parameters(), hyper, noise, spec.telemetry)
    # data after the optimizer, so that bad hyper-parameters fail before a slow load
    train, test = data if data is not None else load_dataset(spec.dataset, data_dir, cache_dir)
    train = (train[0].to(dev), train[1].to(dev))
    test = (test[0].to(dev), test[1].to(dev))
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
    trainer = Trainer(model, optimizer, train, test, config, out_dir, run_config=spec.config())
    return trainer.run(resume=resume)


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
    **spec_fields: Any,
) -> dict[str, Any]:
    """The run entry point of ``deeprelax train``: one run of ``model`` with ``optim`` into
    ``out``; returns its summary.

    ``dataset`` defaults to the model's; ``lr_schedule`` (for :meth:`LRSchedule.parse`) overrides
    ``lr``; ``hyper``: the optimizer's keywords (None: the class default); ``spec_fields``: the
    other :class:`RunSpec` fields. :data:`REPLICA_METHODS` run as this process's replica of a
    torchrun job (``shard``: on its own 1/n of the data), resuming after a torchrun restart;
    other methods refuse an existing checkpoint unless ``resume``.
    """
    if model not in MODEL_DATASETS:
        raise ValueError(
            f"Invalid model value: {model!r} (choose from {', '.join(MODEL_DATASETS)})"
        )
    if shard and optim not in REPLICA_METHODS:
        raise ValueError(f"Invalid shard value: True (only for {', '.join(REPLICA_METHODS)})")

    def spec() -> RunSpec:
        return RunSpec(
            model=model,
            dataset=dataset or MODEL_DATASETS[model],
            optim=optim,
            budget=budget,
            lr_schedule=str(LRSchedule.parse(lr_schedule if lr_schedule else lr)),
            hyper={k: v for k, v in (hyper or {}).items() if v is not None},
            **spec_fields,
        )

    out = Path(out)
    where = {"quiet": quiet, "data_dir": data_dir, "cache_dir": cache_dir, "device": device}
    if optim in REPLICA_METHODS:
        from .distributed import run_distributed_experiment

        # resume None: resume after a torchrun restart
        return run_distributed_experiment(
            spec(), out, resume=True if resume else None, shard=shard, refuse_existing=True,
            **where,
        )  # fmt: skip
    if (out / "checkpoint.pt").exists() and not resume:
        raise ValueError(
            f"{out / 'checkpoint.pt'} exists; pass --resume to continue that run or choose another --out"
        )
    return run_experiment(spec(), out, resume=resume, **where)

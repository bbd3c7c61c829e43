"""Elastic-SGD and Parle training under ``torchrun``: one replica per process.

Launch (single node, 3 replicas on CPU; gloo on CPU, NCCL when CUDA is present)::

    torchrun --standalone --nproc-per-node 3 -m deeprelax.experiments.distributed \\
        --model mnistfc --dataset mnist --optim parle --budget 5 --out runs/parle3

Each process is a replica :math:`x_a` with its own minibatch stream (the trainer's protocol:
fresh minibatches of 128 sampled with replacement from the whole training set, or from the
replica's shard with ``--shard``), its own dropout stream and its own Langevin noise; all start
from the same initialization. Evaluation and checkpoints use the reference
:math:`r=\\frac1n\\sum_a x_a` in a copy of the model whose batch-norm statistics are refreshed at
:math:`r` (a dry feed over the training set, :func:`~deeprelax.experiments.trainer.refresh_batchnorm`).

Accounting: ``effective_epochs`` = one replica's gradient evaluations / batches per epoch (the
x-axis of budgets and LR schedules, the same for all replicas since they run in lockstep);
``effective_epochs_all_replicas`` = n times that (the total compute).

Checkpoints (``<out>/checkpoint.pt``, format ``deeprelax-checkpoint-v1``) are written by rank 0
after every evaluation: ``model_state`` is the reference model (BN refreshed), and
``progress["replicas"]`` holds every replica's model, optimizer (its reference, momentum,
scoping counters, noise generator), minibatch sampler and RNG states. A restarted job (torchrun
``--max-restarts``) resumes from it automatically: rank 0 reads the file and scatters each
replica's state, so the other nodes need not see the file. A job with a different number of
replicas or a different configuration refuses the checkpoint.

Faults: a NaN/inf on any replica stops every replica in the same all-reduce with a message that
names the rank; a configuration that differs between ranks is refused at start.
For tests, ``DEEPRELAX_FAULT_INJECT="RANK:EVALS"`` makes replica ``RANK`` kill itself (SIGKILL)
at its ``EVALS``-th gradient evaluation, on the first attempt only
(``TORCHELASTIC_RESTART_COUNT`` = 0).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from deeprelax.optim._distributed import check_agreement, world
from deeprelax.optim.elastic_sgd import ElasticSGD
from deeprelax.optim.parle import Parle

from .checkpoint import load_checkpoint, resuming_from, save_checkpoint
from .data import load_dataset
from .models import MODEL_DATASETS, MODELS, build_model
from .run import NOISE_SEED_OFFSET, RunSpec
from .trainer import LRSchedule, TrainConfig, Trainer, evaluate, refresh_batchnorm

__all__ = [
    "DISTRIBUTED_OPTIMIZERS",
    "DistContext",
    "ReplicaTrainer",
    "build_replica_optimizer",
    "init_distributed",
    "is_restart",
    "main",
    "run_distributed_experiment",
    "synthetic_dataset",
]

#: ``--optim`` names trained one replica per process.
DISTRIBUTED_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "elastic-sgd": ElasticSGD,
    "parle": Parle,
}

#: Defaults per method (the authors' Parle, PAPER.md §5.8; Elastic-SGD note §5.7).
#: ``scoping=None`` means Parle's 0.5 / B, B = batches per epoch.
DEFAULT_HYPER: dict[str, dict[str, Any]] = {
    "parle": {
        "L": 25,
        "gamma": 0.01,
        "rho": 1.0,
        "scoping": None,
        "gamma_max": 1.0,
        "rho_max": 10.0,
        "inner_lr": 0.1,
        "noise": 0.0,
        "alpha": 1.0,
    },
    "elastic-sgd": {"rho": 0.03, "scoping": 1e-4, "rho_max": 10.0},
}

#: seed offsets of the per-replica streams (replica a adds a * REPLICA_SEED_STRIDE)
REPLICA_SEED_STRIDE = 1_000_003
DROPOUT_SEED_OFFSET = 20_011


_INITS = [0]  # process groups this process has created (for the store prefix)


@dataclasses.dataclass
class DistContext:
    """Where this process stands: rank, world size, device and backend."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None
    owns_group: bool

    def close(self) -> None:
        """Destroy the process group if :func:`init_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "auto", timeout_s: float = 600.0) -> DistContext:
    """Join the job described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); without it, a world of one process.

    Backend: NCCL when the device is CUDA, gloo otherwise. With CUDA each process uses
    ``cuda:LOCAL_RANK``.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank if dev.index is None else dev.index)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dist.is_initialized():
        return DistContext(
            dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend(), False
        )
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(0, 1, local_rank, dev, None, False)
    timeout = timedelta(seconds=timeout_s)
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    # torchrun's c10d rendezvous keeps one TCPStore across restarts, so the keys the dead
    # attempt's gloo ranks published (their listening addresses) would be read again; a prefix
    # per attempt gives every restart a clean namespace.
    # The same holds for a second init in one process (several runs in one job): count them.
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    _INITS[0] += 1
    store = dist.PrefixStore(f"deeprelax/attempt_{attempt}/init_{_INITS[0]}/", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, backend, True)


def is_restart() -> bool:
    """True in a job that torchrun restarted (``TORCHELASTIC_RESTART_COUNT`` > 0): the trainer
    then resumes from its checkpoint without being asked."""
    return os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") not in ("", "0")


def synthetic_dataset(
    n_train: int = 512, n_test: int = 256, dim: int = 20, classes: int = 4, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Gaussian classes in ``dim`` dimensions (overlapping: a few % test error), for tests and smoke runs."""
    g = torch.Generator().manual_seed(seed)
    means = 0.4 * torch.randn(classes, dim, generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(classes, (n,), generator=g)
        return means[y] + torch.randn(n, dim, generator=g), y

    return draw(n_train), draw(n_test)


def _tiny_mlp(dim: int = 20, classes: int = 4) -> nn.Module:
    """A small MLP with batch norm and dropout, so BN refresh and RNG restore are exercised."""
    return nn.Sequential(
        nn.Linear(dim, 32), nn.ReLU(), nn.BatchNorm1d(32), nn.Dropout(0.1), nn.Linear(32, classes)
    )


#: models for tests and smoke runs on ``--dataset synthetic``, besides the paper's models
SMOKE_MODELS = {"tiny-mlp": _tiny_mlp}


def build_replica_optimizer(
    name: str,
    params: Any,
    hyper: dict[str, Any],
    generator: torch.Generator | None = None,
    group: Any = None,
) -> torch.optim.Optimizer:
    """Build ``elastic-sgd`` or ``parle`` with keyword ``hyper`` (None values skipped)."""
    if name not in DISTRIBUTED_OPTIMIZERS:
        raise ValueError(
            f"Invalid optim value: {name!r} (choose from {', '.join(DISTRIBUTED_OPTIMIZERS)})"
        )
    cls = DISTRIBUTED_OPTIMIZERS[name]
    kwargs = {k: v for k, v in hyper.items() if v is not None}
    if cls is Parle and generator is not None:
        kwargs["generator"] = generator
    try:
        return cls(params, group=group, **kwargs)
    except TypeError as exc:
        raise ValueError(f"Invalid hyper-parameter for {name}: {exc}") from exc


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _broadcast(obj: Any, rank: int, n: int) -> Any:
    if n == 1:
        return obj
    box = [obj if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class ReplicaTrainer(Trainer):
    """The :class:`~deeprelax.experiments.trainer.Trainer` protocol for one replica of many.

    Only rank 0 writes files (``out_dir`` is ignored on the others); every rank takes part in
    the evaluation broadcast and the checkpoint gather, so all ranks follow one control flow.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor],
        config: TrainConfig,
        out_dir: str | Path | None,
        run_config: dict[str, Any],
        shard: bool = False,
    ) -> None:
        self.rank, self.replicas = world(getattr(optimizer, "_group", None))
        self.checkpoint_path = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
        super().__init__(
            model, optimizer, train, test, config, out_dir if self.rank == 0 else None, run_config
        )
        self.sampler.manual_seed(config.seed + REPLICA_SEED_STRIDE * self.rank)
        n_train = train[0].shape[0]
        if shard:
            per = n_train // self.replicas
            if per == 0:
                raise ValueError(
                    f"Invalid shard value: {n_train} examples for {self.replicas} replicas"
                )
            self._shard = (self.rank * per, per)
        else:
            self._shard = (0, n_train)
        self._reference_state: dict[str, Any] | None = None
        self._fault_at = self._fault_plan()

    def _fault_plan(self) -> int | None:
        spec = os.environ.get("DEEPRELAX_FAULT_INJECT")
        if not spec or is_restart():
            return None
        try:
            rank, evals = (int(v) for v in spec.split(":"))
        except ValueError as exc:
            raise ValueError(
                f"Invalid DEEPRELAX_FAULT_INJECT value: {spec!r} (RANK:EVALS)"
            ) from exc
        return evals if rank == self.rank else None

    def _closure(self) -> torch.Tensor:
        if self._fault_at is not None and self._evals >= self._fault_at:
            print(
                f"[rank {self.rank}] DEEPRELAX_FAULT_INJECT: killing this replica at "
                f"{self._evals} gradient evaluations",
                file=sys.stderr,
                flush=True,
            )
            os.kill(os.getpid(), signal.SIGKILL)
        x, y = self.train_data
        lo, size = self._shard
        idx = lo + torch.randint(size, (self.config.batch_size,), generator=self.sampler)
        idx = idx.to(x.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x[idx]), y[idx])
        loss.backward()
        self._evals += 1
        return loss

    # -- the reference ------------------------------------------------------------------------
    def reference_model(self) -> nn.Module:
        """A copy of the model holding :math:`r` (this replica's BN buffers, not refreshed)."""
        ref = copy.deepcopy(self.model)
        refs = getattr(self.optimizer, "references", None)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if refs is not None and "reference" in self.optimizer.state.get(params[0], {}):
            by_id = dict(zip(map(id, params), refs()))
            with torch.no_grad():
                for p_ref, p in zip(ref.parameters(), self.model.parameters()):
                    if id(p) in by_id:
                        p_ref.copy_(by_id[id(p)])
        return ref

    def _evaluate(self) -> dict[str, Any]:
        cfg = self.config
        device = next(self.model.parameters()).device  # NCCL reduces CUDA tensors only
        sums = torch.tensor([self._loss_sum, float(self._loss_n)], dtype=torch.float64,
                            device=device)
        if self.replicas > 1:
            dist.all_reduce(sums)
        sums = sums.cpu()
        row = None
        if self.rank == 0:
            ref = self.reference_model()
            refresh_batchnorm(ref, self.train_data[0], cfg.batch_size, cfg.bn_refresh_batches)
            test_loss, test_error = evaluate(ref, self.test_data, cfg.eval_batch_size, self.loss_fn)
            self._reference_state = _to_cpu(ref.state_dict())
            ee = self.effective_epochs
            row = {
                "effective_epochs": round(ee, 6),
                "effective_epochs_all_replicas": round(ee * self.replicas, 6),
                "grad_evals": self.grad_evals,
                "grad_evals_all_replicas": self.grad_evals * self.replicas,
                "replicas": self.replicas,
                "steps": self._steps,
                "train_loss": float(sums[0] / sums[1]) if sums[1] > 0 else "nan",
                "test_loss": test_loss,
                "test_error": test_error,
                "lr": float(self.optimizer.param_groups[0]["lr"]),
                "wall_s": round(self._wall(), 3),
            }
            row = {
                k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                for k, v in row.items()
            }
        self._loss_sum, self._loss_n = 0.0, 0
        return _broadcast(row, self.rank, self.replicas)

    # -- checkpoints --------------------------------------------------------------------------
    def _replica_state(self) -> dict[str, Any]:
        return _to_cpu(
            {
                "model_state": self.model.state_dict(),
                "optimizer_state": self.optimizer.state_dict(),
                "sampler_state": self.sampler.get_state(),
                "torch_rng_state": torch.get_rng_state(),
                "cuda_rng_state": torch.cuda.get_rng_state_all()
                if torch.cuda.is_available()
                else [],
                "grad_evals_counted": self._evals,
                "loss_sum": self._loss_sum,
                "loss_n": self._loss_n,
                "wall_s": self._wall(),
            }
        )

    def _save(self) -> None:
        mine = self._replica_state()
        gathered: list[Any] | None = [None] * self.replicas if self.rank == 0 else None
        if self.replicas > 1:
            dist.gather_object(mine, gathered, dst=0)
        else:
            gathered = [mine]
        if self.rank != 0 or self.checkpoint_path is None:
            return
        progress = {
            k: v for k, v in gathered[0].items() if k not in ("model_state", "optimizer_state")
        }
        progress.update(
            steps=self._steps,
            metrics=list(self.metrics),
            replicas=gathered,
            world_size=self.replicas,
        )
        save_checkpoint(
            self.checkpoint_path,
            config=self.run_config,
            model_state=self._reference_state or _to_cpu(self.reference_model().state_dict()),
            optimizer_state=gathered[0]["optimizer_state"],
            progress=progress,
        )

    def restore(self) -> bool:
        """Load the last checkpoint into every replica (collective); False if there is none."""
        message, replicas, common = None, None, None
        if self.rank == 0:
            path = self.checkpoint_path
            if path is not None and path.exists():
                try:
                    with resuming_from(path):  # a malformed file must not leave ranks waiting
                        blob = load_checkpoint(path)
                        message, replicas, common = self._check_blob(path, blob)
                except ValueError as exc:
                    message = str(exc)
            else:
                message = "none"
        message = _broadcast(message, self.rank, self.replicas)
        if message == "none":
            return False
        if message is not None:
            raise ValueError(message)
        box: list[Any] = [None]
        if self.replicas > 1:
            dist.scatter_object_list(box, replicas if self.rank == 0 else None, src=0)
        else:
            box = [replicas[0]]
        common = _broadcast(common, self.rank, self.replicas)
        with resuming_from(self.checkpoint_path):
            self._apply(box[0], common)
        return True

    def _check_blob(self, path: Path, blob: dict[str, Any]) -> tuple[str | None, Any, Any]:
        skip = ("until", "quiet")
        theirs = {k: v for k, v in blob["config"].items() if k not in skip}
        ours = {k: v for k, v in self.run_config.items() if k not in skip}
        if theirs != ours:
            diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            return (
                (
                    f"{path}: made with a different configuration ({', '.join(diff)} differ); "
                    "use another --out or drop --resume"
                ),
                None,
                None,
            )
        progress = blob["progress"]
        replicas = progress.get("replicas")
        if not isinstance(replicas, list) or len(replicas) != self.replicas:
            found = len(replicas) if isinstance(replicas, list) else "no"
            return (
                (
                    f"{path}: checkpoint holds {found} replicas, this job has {self.replicas}; "
                    "restart with the same --nproc-per-node x --nnodes"
                ),
                None,
                None,
            )
        common = {
            "steps": progress["steps"],
            "metrics": progress["metrics"],
            "reference_state": blob["model_state"],
        }
        return None, replicas, common

    def _apply(self, mine: dict[str, Any], common: dict[str, Any]) -> None:
        self.model.load_state_dict(mine["model_state"])
        self.optimizer.load_state_dict(mine["optimizer_state"])
        self.sampler.set_state(mine["sampler_state"])
        torch.set_rng_state(mine["torch_rng_state"])
        if mine["cuda_rng_state"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(mine["cuda_rng_state"])
        self._evals = mine["grad_evals_counted"]
        self._loss_sum, self._loss_n = mine["loss_sum"], mine["loss_n"]
        self._wall_before = mine["wall_s"]
        self._steps, self.metrics = common["steps"], list(common["metrics"])
        self._reference_state = common["reference_state"]

    def run(self, resume: bool = False) -> dict[str, Any]:
        """Train to the budget; with ``resume``, first continue from the checkpoint if any."""
        if resume:
            self.restore()
        return super().run(resume=False)


def _fill_defaults(spec: RunSpec, batches_per_epoch: int) -> RunSpec:
    hyper = dict(DEFAULT_HYPER.get(spec.optim, {}))
    hyper.update({k: v for k, v in spec.hyper.items() if v is not None})
    if spec.optim == "parle" and hyper.get("scoping") is None:
        hyper["scoping"] = 0.5 / batches_per_epoch  # Parle's gdot = 0.5 / B (PAPER.md §5.8)
    return dataclasses.replace(spec, hyper=hyper)


def run_distributed_experiment(
    spec: RunSpec,
    out_dir: str | Path | None,
    *,
    resume: bool | None = None,
    until: float | None = None,
    quiet: bool = False,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    device: str = "auto",
    data: tuple | None = None,
    shard: bool = False,
    refuse_existing: bool = False,
) -> dict[str, Any]:
    """Train ``spec`` (``optim`` = ``elastic-sgd`` or ``parle``) as one replica of the torchrun job.

    Same arguments as :func:`deeprelax.experiments.run.run_experiment`, plus ``shard`` (each
    replica samples from its own contiguous 1/n of the training set). ``resume=None`` resumes
    from ``out_dir/checkpoint.pt`` when torchrun restarted the job
    (``TORCHELASTIC_RESTART_COUNT`` > 0); with ``refuse_existing``, a fresh run refuses an
    ``out_dir`` that already holds a checkpoint. Returns the summary (the same on every rank).
    Without torchrun's environment this trains a single replica (Elastic-SGD = SGD,
    Parle = Entropy-SGD with its defaults).
    """
    if spec.optim not in DISTRIBUTED_OPTIMIZERS:
        raise ValueError(
            f"Invalid optim value: {spec.optim!r} (choose from {', '.join(DISTRIBUTED_OPTIMIZERS)})"
        )
    if spec.model in MODEL_DATASETS and MODEL_DATASETS[spec.model] != spec.dataset:
        raise ValueError(
            f"Invalid dataset value: {spec.dataset!r} (model {spec.model} is built "
            f"for {MODEL_DATASETS[spec.model]})"
        )
    if spec.model not in MODELS and spec.model not in SMOKE_MODELS:
        raise ValueError(
            f"Invalid model value: {spec.model!r} "
            f"(choose from {', '.join([*MODELS, *SMOKE_MODELS])})"
        )
    ctx = init_distributed(device)
    try:
        if resume is None:
            resume = is_restart()
        if refuse_existing and not resume and out_dir is not None:
            path = Path(out_dir) / "checkpoint.pt"
            exists = _broadcast(path.exists() if ctx.rank == 0 else None, ctx.rank, ctx.world_size)
            if exists:
                raise ValueError(
                    f"{path} exists; pass --resume to continue that run or choose another --out"
                )
        if data is None:
            data = (
                synthetic_dataset()
                if spec.dataset == "synthetic"
                else load_dataset(spec.dataset, data_dir, cache_dir)
            )
        train, test = data
        spec = _fill_defaults(spec, math.ceil(train[0].shape[0] / spec.batch_size))
        check_agreement(
            {"spec": spec.config(), "shard": shard, "until": until, "torch": torch.__version__},
            what="run configuration",
        )
        train = (train[0].to(ctx.device), train[1].to(ctx.device))
        test = (test[0].to(ctx.device), test[1].to(ctx.device))
        torch.manual_seed(spec.seed)  # the same initialization on every replica
        model = (SMOKE_MODELS.get(spec.model) or (lambda: build_model(spec.model)))().to(ctx.device)
        torch.manual_seed(spec.seed + DROPOUT_SEED_OFFSET + REPLICA_SEED_STRIDE * ctx.rank)
        schedule = LRSchedule.parse(spec.lr_schedule)
        hyper = dict(spec.hyper, lr=schedule(0.0))
        noise = torch.Generator(device=ctx.device)
        noise.manual_seed(spec.seed + NOISE_SEED_OFFSET + REPLICA_SEED_STRIDE * ctx.rank)
        optimizer = build_replica_optimizer(spec.optim, model.parameters(), hyper, noise)
        if spec.telemetry and hasattr(optimizer, "telemetry"):
            optimizer.telemetry = True
        config = TrainConfig(
            budget=spec.budget,
            lr_schedule=schedule,
            batch_size=spec.batch_size,
            eval_every=spec.eval_every,
            bn_refresh_batches=spec.bn_refresh_batches,
            test_subset=spec.test_subset,
            seed=spec.seed,
            until=until,
            quiet=quiet or ctx.rank != 0,
        )
        run_config = dict(spec.config(), replicas=ctx.world_size, shard=shard)
        trainer = ReplicaTrainer(
            model, optimizer, train, test, config, out_dir, run_config, shard=shard
        )
        return trainer.run(resume=bool(resume))
    finally:
        ctx.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deeprelax.experiments.distributed",
        description="Train Elastic-SGD or Parle, one replica per process; launch with torchrun, "
        "e.g. torchrun --standalone --nproc-per-node 3 -m deeprelax.experiments.distributed "
        "--optim parle --model mnistfc --dataset mnist --budget 5 --out runs/parle3",
    )
    p.add_argument("--optim", choices=sorted(DISTRIBUTED_OPTIMIZERS), default="parle")
    p.add_argument("--model", default="mnistfc", help=f"{', '.join([*MODELS, *SMOKE_MODELS])}")
    p.add_argument("--dataset", default="mnist", help="mnist, mnist1d, cifar10 or synthetic")
    p.add_argument("--budget", type=float, default=5.0, help="effective epochs per replica")
    p.add_argument("--lr-schedule", default="0:0.1", help="e.g. '0:0.1,3:0.01' (per-replica EE)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-every", type=float, default=1.0, help="effective epochs (= checkpoints)")
    p.add_argument("--bn-refresh-batches", type=int, default=None)
    p.add_argument("--test-subset", type=int, default=None)
    for name, typ in (
        ("momentum", float),
        ("weight-decay", float),
        ("L", int),
        ("gamma", float),
        ("scoping", float),
        ("gamma-max", float),
        ("inner-lr", float),
        ("inner-momentum", float),
        ("noise", float),
        ("alpha", float),
        ("rho", float),
        ("rho-max", float),
    ):
        p.add_argument(f"--{name}", type=typ, default=None)
    p.add_argument("--shard", action="store_true", help="each replica samples from its 1/n shard")
    p.add_argument("--out", default=None, help="output folder (metrics, checkpoint, summary)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --out/checkpoint.pt (automatic after a torchrun restart)",
    )
    p.add_argument("--until", type=float, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m deeprelax.experiments.distributed`` (under torchrun)."""
    args = _parser().parse_args(argv)
    keys = (
        "momentum",
        "weight_decay",
        "L",
        "gamma",
        "scoping",
        "gamma_max",
        "inner_lr",
        "inner_momentum",
        "noise",
        "alpha",
        "rho",
        "rho_max",
    )
    hyper = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    spec = RunSpec(
        model=args.model,
        dataset=args.dataset,
        optim=args.optim,
        budget=args.budget,
        seed=args.seed,
        lr_schedule=args.lr_schedule,
        hyper=hyper,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        bn_refresh_batches=args.bn_refresh_batches,
        test_subset=args.test_subset,
    )
    try:
        summary = run_distributed_experiment(
            spec,
            args.out,
            resume=True if args.resume else None,
            until=args.until,
            quiet=args.quiet,
            data_dir=args.data_dir,
            device=args.device,
            shard=args.shard,
            refuse_existing=True,
        )
    except (ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as exc:
        rank = os.environ.get("RANK", "0")
        print(f"deeprelax distributed (rank {rank}): error: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        final = summary.get("final") or {}
        print(json.dumps({"status": summary["status"], "final": final}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

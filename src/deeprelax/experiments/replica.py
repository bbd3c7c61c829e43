"""Elastic-SGD and Parle training under ``torchrun``: one replica per process.

Launch (single node, 3 replicas on CPU; gloo on CPU, NCCL when CUDA is present)::

    torchrun --standalone --nproc-per-node 3 -m deeprelax train \\
        --model mnistfc --optim parle --budget 5 --out runs/parle3

Each process is a replica :math:`x_a` with its own minibatch stream (the trainer's protocol:
fresh minibatches of 128 sampled with replacement from the whole training set, or from the
replica's shard with ``--shard``), its own dropout stream and its own Langevin noise; all start
from the same initialization. Evaluation and checkpoints use the reference
:math:`r=\\frac1n\\sum_a x_a` in a copy of the model whose batch-norm statistics are refreshed at
:math:`r` (a dry feed over the training set, :func:`~deeprelax.experiments.protocol.refresh_batchnorm`).

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

:class:`ReplicaTrainer` is the :class:`~deeprelax.experiments.trainer.Trainer` with its hooks
overridden: the minibatch from the replica's stream (or shard), the loss sums all-reduced, the
reference evaluated on rank 0 and its row broadcast, the replicas' states gathered into rank 0's
checkpoint and scattered back on resume. The run itself is built by
:func:`~deeprelax.experiments.run.run_experiment`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from deeprelax.optim.replica import world

from .checkpoint import load_checkpoint, resuming_from, save_checkpoint
from .distributed import broadcast, to_cpu
from .protocol import TrainConfig
from .trainer import Trainer, config_mismatch

__all__ = ["DROPOUT_SEED_OFFSET", "REPLICA_SEED_STRIDE", "ReplicaTrainer"]

#: seed offsets of the per-replica streams (replica a adds a * REPLICA_SEED_STRIDE)
REPLICA_SEED_STRIDE = 1_000_003
DROPOUT_SEED_OFFSET = 20_011


def _process_group(optimizer: torch.optim.Optimizer) -> Any:
    for name in ("_process_group", "_group"):
        if hasattr(optimizer, name):
            return getattr(optimizer, name)
    return None


class ReplicaTrainer(Trainer):
    """The :class:`~deeprelax.experiments.trainer.Trainer` protocol for one replica of many.

    Only rank 0 writes files (``out_dir`` is ignored on the others); every rank takes part in
    the evaluation broadcast and the checkpoint gather, so all ranks follow one control flow.
    ``shard``: this replica samples from its own contiguous 1/n of ``train``.
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
        **hooks: Any,
    ) -> None:
        self.rank, self.replicas = world(_process_group(optimizer))
        self.checkpoint_path = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
        own_dir = out_dir if self.rank == 0 else None
        super().__init__(model, optimizer, train, test, config, own_dir, run_config, **hooks)
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
        self._reference: nn.Module | None = None
        self._reference_state: dict[str, Any] | None = None

    def _sample_indices(self) -> torch.Tensor:
        lo, size = self._shard
        return lo + torch.randint(size, (self.config.batch_size,), generator=self.sampler)

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

    def _evaluated_model(self) -> nn.Module:
        self._reference = self.reference_model()
        return self._reference

    def _mean_train_loss(self) -> float:
        device = next(self.model.parameters()).device  # NCCL reduces CUDA tensors only
        sums = torch.tensor([self._loss_sum, float(self._loss_n)], dtype=torch.float64,
                            device=device)  # fmt: skip
        if self.replicas > 1:
            dist.all_reduce(sums)
        sums = sums.cpu()
        return float(sums[0] / sums[1]) if sums[1] > 0 else float("nan")

    def _measure(self, train_loss: float) -> dict[str, Any]:
        row = None
        if self.rank == 0:
            row = super()._measure(train_loss)
            self._reference_state = to_cpu(self._reference.state_dict())
        return broadcast(row, self.rank, self.replicas)

    def _row_counts(self) -> dict[str, Any]:
        ee = self.effective_epochs
        return {
            "effective_epochs": round(ee, 6),
            "effective_epochs_all_replicas": round(ee * self.replicas, 6),
            "grad_evals": self.grad_evals,
            "grad_evals_all_replicas": self.grad_evals * self.replicas,
            "replicas": self.replicas,
            "steps": self._steps,
        }

    # -- checkpoints --------------------------------------------------------------------------
    def _save(self) -> None:
        mine = to_cpu(
            {
                "model_state": self.model.state_dict(),
                "optimizer_state": self.optimizer.state_dict(),
                **self._snapshot(),
            }
        )
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
            model_state=self._reference_state or to_cpu(self.reference_model().state_dict()),
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
        message = broadcast(message, self.rank, self.replicas)
        if message == "none":
            return False
        if message is not None:
            raise ValueError(message)
        box: list[Any] = [None]
        if self.replicas > 1:
            dist.scatter_object_list(box, replicas if self.rank == 0 else None, src=0)
        else:
            box = [replicas[0]]
        common = broadcast(common, self.rank, self.replicas)
        with resuming_from(self.checkpoint_path):
            self._apply(box[0], common)
        return True

    def _check_blob(self, path: Path, blob: dict[str, Any]) -> tuple[str | None, Any, Any]:
        message = config_mismatch(path, blob["config"], self.run_config)
        if message is not None:
            return message, None, None
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
        self._load_snapshot(mine)
        self._steps, self.metrics = common["steps"], list(common["metrics"])
        self._reference_state = common["reference_state"]

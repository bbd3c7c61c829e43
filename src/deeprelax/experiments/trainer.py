"""One trainer for the paper's protocol (:mod:`~deeprelax.experiments.protocol`) on any model and
data, with effective-epoch accounting, checkpoints and exact resume.

Use on your own model and data::

    trainer = Trainer(model, optimizer, (x_train, y_train), (x_test, y_test),
                      TrainConfig(budget=10, lr_schedule=LRSchedule.parse("0:0.1,5:0.01")),
                      out_dir="runs/mine")
    summary = trainer.run()

A variant of the run overrides the trainer's hooks rather than copying its loop
(:class:`~deeprelax.experiments.replica.ReplicaTrainer` does, for one replica of many):
``_sample_indices`` (the minibatch), ``_evaluated_model`` (what is evaluated), ``_mean_train_loss``
and ``_measure`` (the evaluation), ``_row_counts`` (the accounting fields of a row), ``_save`` and
``restore`` (checkpoints). ``closure_hook`` runs at the start of every gradient evaluation.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint, resuming_from, save_checkpoint
from .protocol import LRSchedule, TrainConfig, evaluate, finite_floats, refresh_batchnorm

# LRSchedule, TrainConfig, evaluate and refresh_batchnorm are importable from here too
__all__ = ["Trainer", "TrainingStopped", "config_mismatch"]

Split = tuple[torch.Tensor, torch.Tensor]
_TRANSIENT = ("until", "quiet")  # how a call was made, not what the run is


class TrainingStopped(FloatingPointError):
    """Training stopped on a NaN/inf loss; the last checkpoint (at the last evaluation) is kept."""


def config_mismatch(path: Path, theirs: dict[str, Any], ours: dict[str, Any]) -> str | None:
    """The message refusing the checkpoint at ``path`` when it was made with another run
    configuration (``until`` and ``quiet`` aside); None when the configurations agree."""
    theirs = {k: v for k, v in theirs.items() if k not in _TRANSIENT}
    ours = {k: v for k, v in ours.items() if k not in _TRANSIENT}
    if theirs == ours:
        return None
    diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    return (
        f"{path}: made with a different configuration ({', '.join(diff)} differ); "
        f"use another --out or drop --resume"
    )


class Trainer:
    """Train ``model`` with ``optimizer`` on ``train`` under the protocol above.

    Writes ``out_dir/metrics.jsonl`` (one JSON object per evaluation), ``out_dir/checkpoint.pt``
    (after every evaluation) and ``out_dir/summary.json``. ``run_config`` (model/dataset/optim
    names, seed, hyper-parameters) goes into checkpoints and the summary; ``resume=True`` refuses a
    checkpoint made under a different ``run_config``. ``closure_hook(trainer)`` is called at the
    start of every gradient evaluation (before its minibatch is drawn).
    """

    rank = 0  #: this process's replica (a replica trainer sets it)
    replicas = 1  #: replicas in the run

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train: Split,
        test: Split,
        config: TrainConfig,
        out_dir: str | Path | None = None,
        run_config: dict[str, Any] | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
        closure_hook: Callable[[Trainer], None] | None = None,
    ) -> None:
        if train[0].shape[0] != train[1].shape[0] or train[0].shape[0] == 0:
            raise ValueError(
                f"Invalid train value: {train[0].shape[0]} inputs, {train[1].shape[0]} labels"
            )
        self.model, self.optimizer, self.config, self.loss_fn = model, optimizer, config, loss_fn
        self.train_data = train
        self.test_data = (
            test
            if config.test_subset is None
            else (test[0][: config.test_subset], test[1][: config.test_subset])
        )
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.run_config = dict(run_config or {})
        self.run_config.setdefault("seed", config.seed)
        self.batches_per_epoch = math.ceil(train[0].shape[0] / config.batch_size)
        self.sampler = torch.Generator().manual_seed(config.seed)
        self.closure_hook = closure_hook
        self.metrics: list[dict[str, Any]] = []
        self._evals = 0  # closure calls, for optimizers that do not count
        self._steps = 0
        self._loss_sum, self._loss_n = 0.0, 0
        self._wall_before = 0.0

    # -- accounting -------------------------------------------------------------------------
    @property
    def grad_evals(self) -> int:
        return int(getattr(self.optimizer, "grad_evals", self._evals))

    @property
    def closure_calls(self) -> int:
        """Gradient evaluations this trainer's closure has made (kept in checkpoints)."""
        return self._evals

    @property
    def effective_epochs(self) -> float:
        return self.grad_evals / self.batches_per_epoch

    # -- one gradient evaluation ------------------------------------------------------------
    def _sample_indices(self) -> torch.Tensor:
        """The examples of the next minibatch (hook)."""
        n = self.train_data[0].shape[0]
        return torch.randint(n, (self.config.batch_size,), generator=self.sampler)

    def _closure(self) -> torch.Tensor:
        if self.closure_hook is not None:
            self.closure_hook(self)
        x, y = self.train_data
        idx = self._sample_indices().to(x.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x[idx]), y[idx])
        loss.backward()
        self._evals += 1
        return loss

    # -- checkpoints --------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        """This process's progress: counters, the sampler's and torch's RNG states."""
        return {
            "grad_evals_counted": self._evals,
            "wall_s": self._wall(),
            "loss_sum": self._loss_sum,
            "loss_n": self._loss_n,
            "sampler_state": self.sampler.get_state(),
            "torch_rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def _load_snapshot(self, p: dict[str, Any]) -> None:
        self._evals = p["grad_evals_counted"]
        self._loss_sum, self._loss_n, self._wall_before = p["loss_sum"], p["loss_n"], p["wall_s"]
        self.sampler.set_state(p["sampler_state"].cpu())
        torch.set_rng_state(p["torch_rng_state"].cpu())
        if p["cuda_rng_state"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in p["cuda_rng_state"]])

    def _progress(self) -> dict[str, Any]:
        snap = self._snapshot()
        first = {"grad_evals_counted": snap.pop("grad_evals_counted")}
        return {**first, "steps": self._steps, "metrics": list(self.metrics), **snap}

    def _save(self) -> None:
        if self.out_dir is not None:
            save_checkpoint(
                self.out_dir / "checkpoint.pt",
                config=self.run_config,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                progress=self._progress(),
            )

    def restore(self) -> bool:
        """Continue from ``out_dir/checkpoint.pt``; False when there is none."""
        path = self.out_dir / "checkpoint.pt" if self.out_dir is not None else None
        if path is None or not path.exists():
            return False
        with resuming_from(path):  # one line naming the file
            blob = load_checkpoint(path, map_location=next(self.model.parameters()).device)
            message = config_mismatch(path, blob["config"], self.run_config)
            if message is not None:
                raise ValueError(message)
            self.model.load_state_dict(blob["model_state"])
            self.optimizer.load_state_dict(blob["optimizer_state"])
            p = blob["progress"]
            self._steps, self.metrics = p["steps"], list(p["metrics"])
            self._load_snapshot(p)
        return True

    def _write_metrics_file(self) -> None:
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "w") as fh:
                fh.writelines(json.dumps(row) + "\n" for row in self.metrics)

    def _wall(self) -> float:
        return self._wall_before + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    # -- evaluation ---------------------------------------------------------------------------
    def _evaluated_model(self) -> nn.Module:
        """The model evaluated and checkpointed (hook)."""
        return self.model

    def _mean_train_loss(self) -> float:
        """Mean training loss since the last evaluation (hook)."""
        return self._loss_sum / self._loss_n if self._loss_n else float("nan")

    def _row_counts(self) -> dict[str, Any]:
        """The accounting fields that open an evaluation row (hook)."""
        return {
            "effective_epochs": round(self.effective_epochs, 6),
            "grad_evals": self.grad_evals,
            "steps": self._steps,
        }

    def _measure(self, train_loss: float) -> dict[str, Any]:
        """The evaluation row: BN refreshed at the evaluated weights, then the test set (hook)."""
        cfg = self.config
        model = self._evaluated_model()
        refresh_batchnorm(model, self.train_data[0], cfg.batch_size, cfg.bn_refresh_batches)
        test_loss, test_error = evaluate(model, self.test_data, cfg.eval_batch_size, self.loss_fn)
        row: dict[str, Any] = {
            **self._row_counts(),
            "train_loss": train_loss,
            "test_loss": test_loss,
            "test_error": test_error,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "wall_s": round(self._wall(), 3),
        }
        telemetry = getattr(self.optimizer, "last_telemetry", None)
        if telemetry:
            row["telemetry"] = finite_floats(telemetry)
        return finite_floats(row)

    def _evaluate(self) -> dict[str, Any]:
        row = self._measure(self._mean_train_loss())
        self._loss_sum, self._loss_n = 0.0, 0
        return row

    def _record(self, row: dict[str, Any]) -> None:
        self.metrics.append(row)
        self._save()  # the checkpoint carries the metrics too, so a crash between the two loses nothing
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")

    # -- main loop ----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``config.budget`` effective epochs (or pause at ``config.until``); returns the summary."""
        if resume:
            self.restore()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._write_metrics_file()
        self._t0 = time.perf_counter()
        bar = _progress_bar(self.config, self.effective_epochs)
        try:
            status = self._train(bar)
        except FloatingPointError as exc:
            # deeprelax's NonFiniteLossError subclasses FloatingPointError; the parameters were left at
            # the last finite anchor, but the saved checkpoint (last evaluation) is what we keep.
            self._summary("diverged", reason=str(exc))
            where = f" in {self.out_dir}" if self.out_dir is not None else ""
            raise TrainingStopped(
                f"training stopped at {self.effective_epochs:.3f} effective epochs: {exc}. "
                f"Last good checkpoint kept{where}; try a smaller --lr or --inner-lr"
            ) from exc
        finally:
            if bar is not None:
                bar.close()
        return self._summary(status)

    def _train(self, bar) -> str:
        """Steps and evaluations to the budget; ``"finished"`` or ``"paused"``."""
        cfg = self.config
        total = cfg.budget * self.batches_per_epoch
        next_eval = (math.floor(self.effective_epochs / cfg.eval_every + 1e-9) + 1) * cfg.eval_every
        while self.grad_evals < total - 1e-9:
            loss_value = self._step(bar)
            ee = self.effective_epochs
            if ee >= next_eval - 1e-9 or self.grad_evals >= total - 1e-9:
                self._record(self._evaluate())
                next_eval = (math.floor(ee / cfg.eval_every + 1e-9) + 1) * cfg.eval_every
                if bar is not None:
                    bar.set_postfix(
                        loss=f"{loss_value:.4f}",
                        test_err=f"{self.metrics[-1]['test_error']:.2f}%",
                    )
                if self.grad_evals < total - 1e-9 and self._pause_due(ee):
                    return "paused"
            elif bar is not None and self._steps % 10 == 0:
                bar.set_postfix(
                    loss=f"{loss_value:.4f}",
                    test_err=f"{self.metrics[-1]['test_error']:.2f}%" if self.metrics else "-",
                )
        return "finished"

    def _step(self, bar) -> float:
        """One optimizer step at the scheduled learning rate; its loss."""
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_schedule(self.effective_epochs)
        before = bar.n if bar is not None else 0.0
        loss = self.optimizer.step(self._closure)
        self._steps += 1
        loss_value = float(loss.detach()) if loss is not None else float("nan")
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"non-finite training loss {loss_value}")
        self._loss_sum += loss_value
        self._loss_n += 1
        if bar is not None:
            bar.update(min(self.effective_epochs, cfg.budget) - before)
        return loss_value

    def _pause_due(self, ee: float) -> bool:
        cfg = self.config
        return (cfg.until is not None and ee >= cfg.until - 1e-9) or (
            cfg.stop_at is not None and time.time() >= cfg.stop_at
        )

    def _summary(self, status: str, reason: str | None = None) -> dict[str, Any]:
        errors = [m["test_error"] for m in self.metrics if isinstance(m.get("test_error"), float)]
        best = min(range(len(errors)), key=errors.__getitem__) if errors else None
        summary = {
            "status": status,
            "config": self.run_config,
            "train_config": _jsonable(asdict(self.config)),
            "batches_per_epoch": self.batches_per_epoch,
            "effective_epochs": self.effective_epochs,
            "grad_evals": self.grad_evals,
            "steps": self._steps,
            "wall_s": self._wall(),
            "final": self.metrics[-1] if self.metrics else None,
            "best": self.metrics[best] if best is not None else None,
        }
        if reason:
            summary["reason"] = reason
        if self.out_dir is not None:
            tmp = self.out_dir / ".summary.json.tmp"
            tmp.write_text(json.dumps(summary, indent=2))
            tmp.replace(self.out_dir / "summary.json")
        return summary


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, LRSchedule) else v) for k, v in d.items()}


def _progress_bar(cfg: TrainConfig, start: float):  # -> tqdm | None
    if cfg.quiet:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=cfg.budget,
        initial=start,
        unit="EE",
        dynamic_ncols=True,
        mininterval=1.0,
        bar_format="{l_bar}{bar}| {n:.2f}/{total:g} EE [{elapsed}<{remaining}{postfix}]",
    )

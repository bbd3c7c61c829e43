"""The paper's training protocol for any model and data, with effective-epoch accounting.

Protocol (PAPER.md §8):

* every gradient evaluation draws a **fresh** minibatch of ``batch_size`` (128) examples, sampled
  with replacement by a seeded ``torch.Generator`` whose state is checkpointed;
* cost is counted in **effective epochs** ``EE = grad_evals / B`` with ``B = ceil(N / batch_size)``
  batches per epoch and ``grad_evals`` the optimizer's gradient-evaluation count (``opt.grad_evals``
  for deeprelax optimizers; one per step for ``torch.optim`` ones, counted here);
* the learning rate follows a piecewise-constant schedule in effective epochs
  (:class:`LRSchedule`), applied to the outer ``lr`` of every parameter group before each step;
* before every evaluation the batch-norm running statistics are **recomputed at the evaluated
  weights** (:func:`refresh_batchnorm`: running statistics reset, then a forward "dry feed" over
  the training set in train mode with dropout off, cumulative averaging). Inner passes of
  Entropy-SGD & co. run at the inner iterates ``y``, so the running statistics training leaves
  behind belong to ``y``, not to the anchor ``x`` that is evaluated;
* the test error (%) and loss are computed in eval mode on the whole test set (or a prefix).

Use on your own model and data::

    trainer = Trainer(model, optimizer, (x_train, y_train), (x_test, y_test),
                      TrainConfig(budget=10, lr_schedule=LRSchedule.parse("0:0.1,5:0.01")),
                      out_dir="runs/mine")
    summary = trainer.run()
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from .checkpoint import load_checkpoint, resuming_from, save_checkpoint

__all__ = [
    "LRSchedule",
    "TrainConfig",
    "Trainer",
    "TrainingStopped",
    "evaluate",
    "refresh_batchnorm",
]

Split = tuple[torch.Tensor, torch.Tensor]


class TrainingStopped(FloatingPointError):
    """Training stopped on a NaN/inf loss; the last checkpoint (at the last evaluation) is kept."""


@dataclass(frozen=True)
class LRSchedule:
    """Piecewise-constant learning rate in effective epochs.

    ``LRSchedule.parse("0:0.1,30:0.02,60:0.004")`` uses lr 0.1 for ``0 <= EE < 30``, 0.02 for
    ``30 <= EE < 60`` and 0.004 after. A bare number ``"0.1"`` is a constant.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.points or self.points[0][0] != 0:
            raise ValueError(
                f"Invalid lr_schedule value: {self.points} (must start at effective epoch 0)"
            )
        starts = [p[0] for p in self.points]
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ValueError(f"Invalid lr_schedule value: {self.points} (epochs must increase)")
        if any(not (lr >= 0 and math.isfinite(lr)) for _, lr in self.points):
            raise ValueError(
                f"Invalid lr_schedule value: {self.points} (learning rates must be finite, >= 0)"
            )

    @classmethod
    def parse(cls, text: str | float) -> LRSchedule:
        if isinstance(text, (int, float)):
            return cls(((0.0, float(text)),))
        try:
            if ":" not in text:
                return cls(((0.0, float(text)),))
            pts = tuple(
                (float(a), float(b)) for a, b in (item.split(":") for item in text.split(","))
            )
        except ValueError as exc:
            raise ValueError(
                f"Invalid lr_schedule value: {text!r} (expected e.g. '0:0.1,30:0.02')"
            ) from exc
        return cls(pts)

    def __call__(self, effective_epochs: float) -> float:
        lr = self.points[0][1]
        for start, value in self.points:
            if effective_epochs >= start:
                lr = value
        return lr

    def __str__(self) -> str:
        return ",".join(f"{a:g}:{b:g}" for a, b in self.points)


@dataclass
class TrainConfig:
    """Trainer settings. ``budget`` and ``eval_every`` are in effective epochs.

    ``bn_refresh_batches``: batches of the dry feed before each evaluation; ``None`` = the whole
    training set (the paper), ``0`` = no refresh (use the running statistics as training left them).
    ``test_subset``: evaluate on the first n test examples only (``None`` = all).
    ``until``: pause (checkpoint kept, run not finished) at the first evaluation at or past this
    many effective epochs; a later ``run(resume=True)`` continues on the same trajectory.
    ``stop_at``: pause likewise at the first evaluation at or after this wall-clock time
    (``time.time()`` seconds), so that a job with a time limit keeps a resumable checkpoint.
    """

    budget: float
    lr_schedule: LRSchedule = field(default_factory=lambda: LRSchedule(((0.0, 0.1),)))
    batch_size: int = 128
    eval_every: float = 1.0
    eval_batch_size: int = 1000
    bn_refresh_batches: int | None = None
    test_subset: int | None = None
    seed: int = 0
    until: float | None = None
    quiet: bool = False
    stop_at: float | None = None

    def __post_init__(self) -> None:
        if not (self.budget > 0 and math.isfinite(self.budget)):
            raise ValueError(f"Invalid budget value: {self.budget}")
        if not self.eval_every > 0:
            raise ValueError(f"Invalid eval_every value: {self.eval_every}")
        for name in ("batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"Invalid {name} value: {getattr(self, name)}")
        if self.bn_refresh_batches is not None and self.bn_refresh_batches < 0:
            raise ValueError(f"Invalid bn_refresh_batches value: {self.bn_refresh_batches}")
        if self.test_subset is not None and self.test_subset < 1:
            raise ValueError(f"Invalid test_subset value: {self.test_subset}")


def refresh_batchnorm(
    model: nn.Module, inputs: torch.Tensor, batch_size: int = 128, max_batches: int | None = None
) -> int:
    """Recompute BN running statistics at the current weights; returns the batches fed.

    Running statistics are reset and re-estimated as a cumulative average (``momentum=None``) over
    consecutive batches of ``inputs`` (in order, no randomness), with the model in train mode and
    dropout off. Same idea as ``torch.optim.swa_utils.update_bn``, which leaves dropout on.
    """
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not bns or max_batches == 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for m in model.modules():
        if isinstance(m, _DropoutNd):
            m.eval()
    fed = 0
    with torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            if max_batches is not None and fed >= max_batches:
                break
            model(inputs[start : start + batch_size])
            fed += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return fed


def evaluate(
    model: nn.Module,
    data: Split,
    batch_size: int = 1000,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> tuple[float, float]:
    """(mean loss, error in %) of ``model`` in eval mode on ``data``."""
    x, y = data
    was_training = model.training
    model.eval()
    total_loss, wrong = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            out = model(x[start : start + batch_size])
            yb = y[start : start + batch_size]
            total_loss += float(loss_fn(out, yb)) * yb.shape[0]
            wrong += int((out.argmax(1) != yb).sum())
    model.train(was_training)
    n = max(x.shape[0], 1)
    return total_loss / n, 100.0 * wrong / n


def _finite_floats(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            v = v.item()
        out[k] = v if not isinstance(v, float) or math.isfinite(v) else str(v)
    return out


class Trainer:
    """Train ``model`` with ``optimizer`` on ``train`` under the protocol above.

    Writes ``out_dir/metrics.jsonl`` (one JSON object per evaluation), ``out_dir/checkpoint.pt``
    (after every evaluation) and ``out_dir/summary.json``. ``run_config`` (model/dataset/optim
    names, seed, hyper-parameters) goes into checkpoints and the summary; ``resume=True`` refuses a
    checkpoint made under a different ``run_config``.
    """

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
    def effective_epochs(self) -> float:
        return self.grad_evals / self.batches_per_epoch

    def _closure(self) -> torch.Tensor:
        x, y = self.train_data
        idx = torch.randint(x.shape[0], (self.config.batch_size,), generator=self.sampler).to(
            x.device
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x[idx]), y[idx])
        loss.backward()
        self._evals += 1
        return loss

    # -- checkpoints --------------------------------------------------------------------------
    def _progress(self) -> dict[str, Any]:
        return {
            "grad_evals_counted": self._evals,
            "steps": self._steps,
            "metrics": list(self.metrics),
            "wall_s": self._wall(),
            "loss_sum": self._loss_sum,
            "loss_n": self._loss_n,
            "sampler_state": self.sampler.get_state(),
            "torch_rng_state": torch.get_rng_state(),
            "cuda_rng_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def _save(self) -> None:
        if self.out_dir is not None:
            save_checkpoint(
                self.out_dir / "checkpoint.pt",
                config=self.run_config,
                model_state=self.model.state_dict(),
                optimizer_state=self.optimizer.state_dict(),
                progress=self._progress(),
            )

    def _restore(self) -> None:
        path = self.out_dir / "checkpoint.pt"
        blob = load_checkpoint(path, map_location=next(self.model.parameters()).device)
        theirs = {k: v for k, v in blob["config"].items() if k not in ("until", "quiet")}
        ours = {k: v for k, v in self.run_config.items() if k not in ("until", "quiet")}
        if theirs != ours:
            diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise ValueError(
                f"{path}: made with a different configuration ({', '.join(diff)} differ); "
                f"use another --out or drop --resume"
            )
        self.model.load_state_dict(blob["model_state"])
        self.optimizer.load_state_dict(blob["optimizer_state"])
        p = blob["progress"]
        self._evals, self._steps, self.metrics = (
            p["grad_evals_counted"],
            p["steps"],
            list(p["metrics"]),
        )
        self._loss_sum, self._loss_n, self._wall_before = p["loss_sum"], p["loss_n"], p["wall_s"]
        self.sampler.set_state(p["sampler_state"].cpu())
        torch.set_rng_state(p["torch_rng_state"].cpu())
        if p["cuda_rng_state"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in p["cuda_rng_state"]])
        self._write_metrics_file()

    def _write_metrics_file(self) -> None:
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "w") as fh:
                fh.writelines(json.dumps(row) + "\n" for row in self.metrics)

    def _wall(self) -> float:
        return self._wall_before + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    # -- evaluation ---------------------------------------------------------------------------
    def _evaluate(self) -> dict[str, Any]:
        cfg = self.config
        refresh_batchnorm(self.model, self.train_data[0], cfg.batch_size, cfg.bn_refresh_batches)
        test_loss, test_error = evaluate(
            self.model, self.test_data, cfg.eval_batch_size, self.loss_fn
        )
        row: dict[str, Any] = {
            "effective_epochs": round(self.effective_epochs, 6),
            "grad_evals": self.grad_evals,
            "steps": self._steps,
            "train_loss": self._loss_sum / self._loss_n if self._loss_n else float("nan"),
            "test_loss": test_loss,
            "test_error": test_error,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "wall_s": round(self._wall(), 3),
        }
        telemetry = getattr(self.optimizer, "last_telemetry", None)
        if telemetry:
            row["telemetry"] = _finite_floats(telemetry)
        self._loss_sum, self._loss_n = 0.0, 0
        return _finite_floats(row)

    def _record(self, row: dict[str, Any]) -> None:
        self.metrics.append(row)
        self._save()  # the checkpoint carries the metrics too, so a crash between the two loses nothing
        if self.out_dir is not None:
            with open(self.out_dir / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")

    # -- main loop ----------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``config.budget`` effective epochs (or pause at ``config.until``); returns the summary."""
        cfg = self.config
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if resume and (self.out_dir / "checkpoint.pt").exists():
                with resuming_from(self.out_dir / "checkpoint.pt"):  # one line naming the file
                    self._restore()
            else:
                self._write_metrics_file()
        self._t0 = time.perf_counter()
        total = cfg.budget * self.batches_per_epoch
        next_eval = (math.floor(self.effective_epochs / cfg.eval_every + 1e-9) + 1) * cfg.eval_every
        status = "finished"
        bar = _progress_bar(cfg, self.effective_epochs)
        try:
            while self.grad_evals < total - 1e-9:
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
                ee = self.effective_epochs
                if bar is not None:
                    bar.update(min(ee, cfg.budget) - before)
                if ee >= next_eval - 1e-9 or self.grad_evals >= total - 1e-9:
                    self._record(self._evaluate())
                    next_eval = (math.floor(ee / cfg.eval_every + 1e-9) + 1) * cfg.eval_every
                    if bar is not None:
                        bar.set_postfix(
                            loss=f"{loss_value:.4f}",
                            test_err=f"{self.metrics[-1]['test_error']:.2f}%",
                        )
                    if self.grad_evals < total - 1e-9 and (
                        (cfg.until is not None and ee >= cfg.until - 1e-9)
                        or (cfg.stop_at is not None and time.time() >= cfg.stop_at)
                    ):
                        status = "paused"
                        break
                elif bar is not None and self._steps % 10 == 0:
                    bar.set_postfix(
                        loss=f"{loss_value:.4f}",
                        test_err=f"{self.metrics[-1]['test_error']:.2f}%" if self.metrics else "-",
                    )
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

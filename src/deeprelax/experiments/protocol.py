"""The paper's training protocol (PAPER.md §8), as the pieces the trainer applies.

* every gradient evaluation draws a **fresh** minibatch of ``batch_size`` (128) examples, sampled
  with replacement by a seeded ``torch.Generator`` whose state is checkpointed;
* cost is counted in **effective epochs** ``EE = grad_evals / B`` with ``B = ceil(N / batch_size)``
  batches per epoch and ``grad_evals`` the optimizer's gradient-evaluation count (``opt.grad_evals``
  for deeprelax optimizers; one per step for ``torch.optim`` ones, counted by the trainer);
* the learning rate follows a piecewise-constant schedule in effective epochs
  (:class:`LRSchedule`), applied to the outer ``lr`` of every parameter group before each step;
* before every evaluation the batch-norm running statistics are **recomputed at the evaluated
  weights** (:func:`refresh_batchnorm`: running statistics reset, then a forward "dry feed" over
  the training set in train mode with dropout off, cumulative averaging). Inner passes of
  Entropy-SGD & co. run at the inner iterates ``y``, so the running statistics training leaves
  behind belong to ``y``, not to the anchor ``x`` that is evaluated;
* the test error (%) and loss are computed in eval mode on the whole test set (or a prefix)
  (:func:`evaluate`).

:class:`TrainConfig` holds the settings; :class:`~deeprelax.experiments.trainer.Trainer` runs them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

__all__ = ["LRSchedule", "TrainConfig", "evaluate", "finite_floats", "refresh_batchnorm"]

Split = tuple[torch.Tensor, torch.Tensor]


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


def finite_floats(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with tensors as numbers and NaN/inf as strings (JSON has no NaN)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            v = v.item()
        out[k] = v if not isinstance(v, float) or math.isfinite(v) else str(v)
    return out

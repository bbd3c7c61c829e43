"""Lightning 2.x: validate and checkpoint at the anchor x, and refuse the silent same-batch setup.

    from deeprelax.integrations.lightning import RelaxationCallback
    trainer = pl.Trainer(callbacks=[RelaxationCallback()], ...)

with the optimizer built closure-free in ``configure_optimizers``::

    return EntropySGD(self.parameters(), lr=0.1, L=20, gamma=0.03, closure_free=True)

A Lightning "step" (``trainer.global_step``, ``max_steps``, a scheduler's ``interval="step"``) is
then one gradient evaluation: the outer step happens on every ``evals_per_step``-th of them, and
an epoch of batches is one effective epoch (``accumulate_grad_batches=k``: one evaluation per k
batches, still one pass over the data per epoch).

Imports ``pytorch_lightning`` (or ``lightning.pytorch`` when only that is installed): the
callback must be an instance of the ``Callback`` class of the Lightning the Trainer comes from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from deeprelax.optim import RelaxedOptimizer, unwrap

try:
    import pytorch_lightning as pl
except ImportError:  # pragma: no cover - the unified package only
    import lightning.pytorch as pl  # type: ignore[no-redef]

__all__ = ["RelaxationCallback", "relaxed_optimizers"]


def relaxed_optimizers(trainer: Any) -> list[RelaxedOptimizer]:
    """The deeprelax optimizers among ``trainer.optimizers`` (through any wrapper)."""
    found = []
    for opt in getattr(trainer, "optimizers", []) or []:
        inner = unwrap(opt)
        if isinstance(inner, RelaxedOptimizer):
            found.append(inner)
    return found


class RelaxationCallback(pl.Callback):
    """Make a Lightning run with a relaxation optimizer right.

    * At fit start, refuse (``ValueError``) an optimizer that spends several gradient evaluations
      per step but is not closure-free: Lightning's closure replays ``training_step`` on the
      **same** batch (automatic optimization), or returns the one gradient already computed
      (manual optimization), so every inner step would see one batch.
    * Validation runs at the anchor x: ``opt.eval()`` before, ``opt.train()`` after.
    * Checkpoints hold the anchor x as the model's weights, wherever the chain is.
    * At fit end the model is left at x (the next fit or ``opt.train()`` resumes the chain).
    * Optionally, batch-norm running statistics are recomputed at x before each validation
      (``torch.optim.swa_utils.update_bn`` over ``bn_loader``; the paper's protocol).

    Args:
        bn_loader: ``None`` (default: no refresh), ``"train"`` (the trainer's training
            dataloader), or any iterable of batches; a batch that is a list or tuple gives its
            first element to the model, as ``update_bn`` does.
        bn_batches (int, optional): at most this many batches per refresh (default: all).
    """

    def __init__(
        self, bn_loader: Iterable | str | None = None, bn_batches: int | None = None
    ) -> None:
        if isinstance(bn_loader, str) and bn_loader != "train":
            raise ValueError(
                f"Invalid bn_loader value: {bn_loader!r} (None, 'train' or an iterable)"
            )
        if bn_batches is not None and (
            isinstance(bn_batches, bool) or not isinstance(bn_batches, int) or bn_batches < 1
        ):
            raise ValueError(f"Invalid bn_batches value: {bn_batches!r} (a positive int or None)")
        self.bn_loader = bn_loader
        self.bn_batches = bn_batches

    # -- fit -----------------------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        for opt in relaxed_optimizers(trainer):
            if opt.evals_per_step > 1 and not opt.closure_free:
                raise ValueError(
                    f"{type(opt).__name__} with L={opt.param_groups[0]['L']} evaluates "
                    f"{opt.evals_per_step} gradients per step, but Lightning's closure re-runs "
                    "training_step on the same batch (manual optimization: reuses one gradient). "
                    f"Construct it with closure_free=True: each Lightning step is then one gradient "
                    "evaluation on a fresh batch"
                )
            opt.train()

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        for opt in relaxed_optimizers(trainer):
            opt.eval()

    # -- validation at x -----------------------------------------------------------------------
    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        opts = relaxed_optimizers(trainer)
        for opt in opts:
            opt.eval()
        if opts and self.bn_loader is not None and not trainer.sanity_checking:
            self._refresh_bn(trainer, pl_module)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.state.fn == "fit":  # validate() alone leaves x in place
            for opt in relaxed_optimizers(trainer):
                opt.train()

    def _refresh_bn(self, trainer: Any, pl_module: Any) -> None:
        from itertools import islice

        from torch.optim.swa_utils import update_bn

        loader = trainer.train_dataloader if self.bn_loader == "train" else self.bn_loader
        if loader is None:
            return
        batches = loader if self.bn_batches is None else list(islice(iter(loader), self.bn_batches))
        update_bn(batches, pl_module, device=pl_module.device)

    # -- checkpoints at x ----------------------------------------------------------------------
    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        opts = [opt for opt in relaxed_optimizers(trainer) if not opt.at_anchor]
        if not opts or "state_dict" not in checkpoint:
            return
        for opt in opts:
            opt.eval()
        try:
            state = trainer.strategy.lightning_module_state_dict()
            checkpoint["state_dict"] = {
                k: v.detach().clone() if torch.is_tensor(v) else v for k, v in state.items()
            }
        finally:
            for opt in opts:
                opt.train()

"""EntropySGD in Lightning: closure-free optimizer + RelaxationCallback.

    python examples/lightning.py [--epochs 5]

Each Lightning step is one gradient evaluation on a fresh batch; the outer step happens on every
L-th.  Validation and checkpoints see the anchor x; an epoch is one effective epoch.
"""

from __future__ import annotations

import argparse

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from deeprelax.integrations.lightning import RelaxationCallback
from deeprelax.optim import EntropySGD, unwrap


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, x):  # the batch-norm refresh calls the module on the inputs
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_error", (self.net(x).argmax(1) != y).float().mean() * 100)

    def configure_optimizers(self):
        return EntropySGD(self.parameters(), lr=0.5, L=10, gamma=0.03, closure_free=True)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(2560, 20)
    y = (x[:, :10].sum(1) > 0).long()
    train = DataLoader(TensorDataset(x[:2048], y[:2048]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[2048:], y[2048:]), batch_size=512)
    model = Classifier()
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[RelaxationCallback(bn_loader="train", bn_batches=8)],
    )
    trainer.fit(model, train, val)
    opt = unwrap(trainer.optimizers[0])
    error = float(trainer.callback_metrics["val_error"])
    print(
        f"{trainer.global_step} Lightning steps = {opt.grad_evals} gradient evaluations, "
        f"{opt.outer_steps} outer steps, {trainer.current_epoch} effective epochs, "
        f"validation error at x {error:.1f} %"
    )
    return error


if __name__ == "__main__":
    main()

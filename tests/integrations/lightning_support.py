"""A tiny LightningModule that records which batch each gradient evaluation saw."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from deeprelax.optim import EntropySGD, unwrap

N_TRAIN, BATCH = 48, 8  # 6 batches per epoch
L = 4  # 6 evaluations per epoch: the first validation falls inside a chain


class Indexed(Dataset):
    """(x, y, index): the index says which sample a training step saw."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x[:, :1] * 0.5 - self.x[:, 1:2] + 0.1 * torch.randn(n, 1, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i], i


class Recorder(pl.LightningModule):
    def __init__(self, manual: bool = False, closure_free: bool = True, bn: bool = False) -> None:
        super().__init__()
        layers = (
            [nn.Linear(4, 16)]
            + ([nn.BatchNorm1d(16)] if bn else [])
            + [nn.Tanh(), nn.Linear(16, 1)]
        )
        self.net = nn.Sequential(*layers)
        self.automatic_optimization = not manual
        self.closure_free = closure_free
        self.seen: list[tuple[int, int, list[int]]] = []  # (grad_evals, inner_index, batch indices)
        self.validations: list[dict] = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y, idx = batch
        opt = unwrap(self.optimizers())
        self.seen.append((opt.grad_evals, opt.inner_index, idx.tolist()))
        loss = nn.functional.mse_loss(self(x), y)
        if self.automatic_optimization:
            return loss
        wrapped = self.optimizers()
        wrapped.zero_grad()
        self.manual_backward(loss)
        wrapped.step()
        return None

    def validation_step(self, batch, batch_idx):
        x, y, _ = batch
        opt = unwrap(self.optimizers())
        deviation = max(float((p - opt.state[p]["anchor"]).abs().max()) for p in self.parameters())
        loss = nn.functional.mse_loss(self(x), y)
        self.log("val_loss", loss)
        bns = [m for m in self.modules() if isinstance(m, nn.BatchNorm1d)]
        self.validations.append(
            {
                "inner_index": opt.inner_index,
                "at_anchor": opt.at_anchor,
                "deviation": deviation,
                "loss": float(loss),
                "grad_evals": opt.grad_evals,
                "running_mean": bns[0].running_mean.clone() if bns else None,
            }
        )

    def configure_optimizers(self):
        return EntropySGD(
            self.parameters(), lr=0.05, L=L, gamma=0.03, noise=1e-3, closure_free=self.closure_free
        )

    def train_dataloader(self):
        return DataLoader(
            Indexed(N_TRAIN, 0),
            batch_size=BATCH,
            shuffle=True,
            generator=torch.Generator().manual_seed(1),
        )

    def val_dataloader(self):
        return DataLoader(Indexed(16, 2), batch_size=16)


def trainer(**kw) -> pl.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    options.update(kw)
    return pl.Trainer(**options)

"""A synthetic data set and a tiny MLP for fast runs of the real pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

Split = tuple[torch.Tensor, torch.Tensor]


def synthetic_dataset(
    n_train: int = 512, n_test: int = 256, dim: int = 20, classes: int = 4, seed: int = 0
) -> tuple[Split, Split]:
    """Gaussian classes in ``dim`` dimensions (overlapping: a few % test error)."""
    g = torch.Generator().manual_seed(seed)
    means = 0.4 * torch.randn(classes, dim, generator=g)

    def draw(n: int) -> Split:
        y = torch.randint(classes, (n,), generator=g)
        return means[y] + torch.randn(n, dim, generator=g), y

    return draw(n_train), draw(n_test)


def tiny_mlp(dim: int = 20, classes: int = 4) -> nn.Module:
    """A small MLP with batch norm and dropout, so BN refresh and RNG restore are exercised."""
    return nn.Sequential(
        nn.Linear(dim, 32), nn.ReLU(), nn.BatchNorm1d(32), nn.Dropout(0.1), nn.Linear(32, classes)
    )


#: models for runs on the synthetic data set, besides the paper's
SMOKE_MODELS = {"tiny-mlp": tiny_mlp}


def smoke_model(name: str) -> nn.Module:
    """``model_factory`` for the run entry point: the smoke models, else the paper's."""
    from deeprelax.experiments.models import build_model

    return SMOKE_MODELS[name]() if name in SMOKE_MODELS else build_model(name)


def smoke_data(dataset: str) -> tuple[Split, Split] | None:
    """The synthetic data set for ``dataset == "synthetic"``; None (load by name) otherwise."""
    return synthetic_dataset() if dataset == "synthetic" else None


def run_smoke(spec: Any, out_dir: str | Path | None, **options: Any) -> dict[str, Any]:
    """:func:`~deeprelax.experiments.run.run_experiment` with the smoke models and, for
    ``spec.dataset == "synthetic"``, the synthetic data set."""
    from deeprelax.experiments.run import run_experiment

    options.setdefault("data", smoke_data(spec.dataset))
    return run_experiment(spec, out_dir, model_factory=smoke_model, **options)

"""deeprelax.experiments: the paper's data, models, training protocol and reproduction driver.

Names are imported lazily (``deeprelax.experiments.<module>`` on first use), so that importing
this package, as the CLI does for ``deeprelax verify``, does not import torch.

* data: :func:`load_dataset` (``"mnist"``, ``"mnist1d"``, ``"cifar10"``)
* models: :data:`MODELS`, :func:`build_model` (``"mnistfc"``, ``"lenet"``, ``"allcnn"``)
* the protocol: :class:`TrainConfig`, :class:`LRSchedule`, :func:`refresh_batchnorm`,
  :func:`evaluate`
* training: :class:`Trainer` (one process), :class:`ReplicaTrainer` (one replica of a torchrun job)
* runs: :class:`RunSpec`, :func:`train` / :func:`run_experiment` (the run entry point),
  :func:`build_optimizer` (the optimizer registry), :func:`reproduce`
* checkpoints: :func:`save_checkpoint`, :func:`load_checkpoint`

See docs/experiments.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_dataset": "data",
    "DATASETS": "data",
    "MODELS": "models",
    "build_model": "models",
    "count_parameters": "models",
    "Trainer": "trainer",
    "TrainConfig": "protocol",
    "LRSchedule": "protocol",
    "TrainingStopped": "trainer",
    "refresh_batchnorm": "protocol",
    "evaluate": "protocol",
    "ReplicaTrainer": "replica",
    "RunSpec": "run",
    "run_experiment": "run",
    "train": "run",
    "build_optimizer": "optimizers",
    "reproduce": "reproduce",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

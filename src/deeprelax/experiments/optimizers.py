"""Optimizer names used by ``deeprelax train`` / ``reproduce`` and how to build them.

=============  ===============================  ==========================================
name           class                            gradient evaluations per step
=============  ===============================  ==========================================
sgd            ``torch.optim.SGD``              1
entropy-sgd    ``deeprelax.optim.EntropySGD``   ``max(L, 1)``
hj             ``deeprelax.optim.HJ``           ``L + 1``
prox-sgd       ``deeprelax.optim.ProxSGD``      ``max(L, 1)``
heat           ``deeprelax.optim.Heat``         ``L + 1``
=============  ===============================  ==========================================

Hyper-parameters are passed by keyword (``lr``, ``momentum``, ``nesterov``, ``weight_decay``,
``L``, ``gamma``, ``scoping``, ``gamma_max``, ``inner_lr``, ``inner_momentum``, ``noise``,
``alpha``, ``rho``, ``damping``); one a class does not take is an error, never silently dropped.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["OPTIMIZERS", "build_optimizer", "optimizer_class"]

#: name -> (module, class name)
OPTIMIZERS: dict[str, tuple[str, str]] = {
    "sgd": ("torch.optim", "SGD"),
    "entropy-sgd": ("deeprelax.optim", "EntropySGD"),
    "hj": ("deeprelax.optim", "HJ"),
    "prox-sgd": ("deeprelax.optim", "ProxSGD"),
    "heat": ("deeprelax.optim", "Heat"),
}


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    if name not in OPTIMIZERS:
        raise ValueError(f"Invalid optim value: {name!r} (choose from {', '.join(OPTIMIZERS)})")
    module, cls = OPTIMIZERS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"optimizer {name!r} ({module}.{cls}) is not available: {exc}") from exc


def build_optimizer(
    name: str,
    params: Iterable[torch.Tensor],
    hyper: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
    telemetry: bool = False,
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` with the hyper-parameters in ``hyper`` (None values are skipped,
    so the class defaults apply). ``generator`` seeds the Langevin / Gaussian noise of the
    stochastic methods; ``telemetry`` turns on ``last_telemetry`` where the class has it."""
    cls = optimizer_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in (hyper or {}).items() if v is not None}
    if name == "sgd":
        kwargs.setdefault("lr", 0.1)
        kwargs.setdefault("momentum", 0.9)
        kwargs.setdefault("nesterov", True)
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        raise ValueError(
            f"Invalid hyper-parameter for {name}: {', '.join(unknown)} "
            f"(it takes {', '.join(k for k in accepted if k not in ('self', 'params'))})"
        )
    if generator is not None and "generator" in accepted:
        kwargs["generator"] = generator
    if telemetry:
        if "telemetry" not in accepted:
            raise ValueError(f"Invalid telemetry value: True ({name} has no telemetry)")
        kwargs["telemetry"] = True
    return cls(params, **kwargs)

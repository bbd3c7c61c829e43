"""Optimizer names used by ``deeprelax train`` / ``reproduce`` and how to build them: one registry.

=============  ===============================  ==========================================
name           class                            gradient evaluations per step
=============  ===============================  ==========================================
sgd            ``torch.optim.SGD``              1
entropy-sgd    ``deeprelax.optim.EntropySGD``   ``max(L, 1)``
hj             ``deeprelax.optim.HJ``           ``L + 1``
prox-sgd       ``deeprelax.optim.ProxSGD``      ``max(L, 1)``
heat           ``deeprelax.optim.Heat``         ``L + 1``
elastic-sgd    ``deeprelax.optim.ElasticSGD``   1 (one replica per process)
parle          ``deeprelax.optim.Parle``        ``L`` (one replica per process)
=============  ===============================  ==========================================

Hyper-parameters are passed by keyword under the command line's names (``lr``, ``momentum``,
``nesterov``, ``weight_decay``, ``L``, ``gamma``, ``scoping``, ``gamma_max``, ``inner_lr``,
``inner_momentum``, ``noise``, ``alpha``, ``rho``, ``rho_max``, ``damping``); one a class does not
take is an error, never silently dropped. For the replica methods ``rho`` / ``rho_max`` are the
elastic coupling and its cap: they go to the class's ``kappa`` / ``kappa_max`` where its signature
has those names.

Defaults are the classes' own (read from their signatures), except the protocol's
(:data:`PROTOCOL_DEFAULTS`, and Parle's scoping rate 0.5 / B with B batches per epoch, PAPER.md
§5.8). The replica methods write their defaults into the run configuration
(:func:`replica_hyper`), so that a checkpoint records what the run used.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the command line reads the names without importing torch
    import torch

__all__ = [
    "OPTIMIZERS",
    "PROTOCOL_DEFAULTS",
    "build_optimizer",
    "class_defaults",
    "optimizer_class",
    "replica_hyper",
]

#: name -> (module, class name)
OPTIMIZERS: dict[str, tuple[str, str]] = {
    "sgd": ("torch.optim", "SGD"),
    "entropy-sgd": ("deeprelax.optim", "EntropySGD"),
    "hj": ("deeprelax.optim", "HJ"),
    "prox-sgd": ("deeprelax.optim", "ProxSGD"),
    "heat": ("deeprelax.optim", "Heat"),
    "elastic-sgd": ("deeprelax.optim", "ElasticSGD"),
    "parle": ("deeprelax.optim", "Parle"),
}

#: the protocol's defaults where they differ from the class's: Nesterov SGD (PAPER.md §8) and the
#: authors' Elastic-SGD scoping g1 = 1e-4 (PAPER.md §5.7)
PROTOCOL_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    "elastic-sgd": {"scoping": 1e-4},
}

#: replica methods: the hyper-parameters whose defaults go into the run configuration, in order
_RECORDED: dict[str, tuple[str, ...]] = {
    "parle": ("L", "gamma", "rho", "scoping", "gamma_max", "rho_max", "inner_lr", "noise", "alpha"),
    "elastic-sgd": ("rho", "scoping", "rho_max"),
}

#: the command line's name of the elastic coupling -> the class keyword, in classes that take kappa
_ELASTIC = {"rho": "kappa", "rho_max": "kappa_max"}
_NOT_HYPER = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    if name not in OPTIMIZERS:
        raise ValueError(f"Invalid optim value: {name!r} (choose from {', '.join(OPTIMIZERS)})")
    module, cls = OPTIMIZERS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"optimizer {name!r} ({module}.{cls}) is not available: {exc}") from exc


def _signature(cls: type) -> dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters
    return {
        k: p for k, p in params.items() if k not in ("self", "params") and p.kind not in _NOT_HYPER
    }


def _keyword(name: str, accepted: dict[str, Any]) -> str:
    """The class keyword of the command line's hyper-parameter ``name``."""
    return _ELASTIC[name] if name in _ELASTIC and "kappa" in accepted else name


def class_defaults(name: str) -> dict[str, Any]:
    """The defaults of optimizer ``name``, keyed by the command line's names (protocol's first)."""
    accepted = _signature(optimizer_class(name))
    elastic = "kappa" in accepted
    to_cli = {v: k for k, v in _ELASTIC.items()} if elastic else {}
    out = {
        to_cli.get(k, k): p.default
        for k, p in accepted.items()
        if not (elastic and k in _ELASTIC)  # a class's own rho is not the command line's
    }
    out.update(PROTOCOL_DEFAULTS.get(name, {}))
    return out


def replica_hyper(name: str, hyper: dict[str, Any], batches_per_epoch: int) -> dict[str, Any]:
    """The hyper-parameters a replica run records and uses: the defaults of ``name`` (for the
    names it records), then ``hyper``'s values (None skipped). Parle's scoping rate, when not
    given, is 0.5 / ``batches_per_epoch`` (the authors' gdot = 0.5 / B, PAPER.md §5.8)."""
    defaults = class_defaults(name)
    out = {k: defaults[k] for k in _RECORDED.get(name, ())}
    if name == "parle":
        out["scoping"] = None
    out.update({k: v for k, v in hyper.items() if v is not None})
    if name == "parle" and out.get("scoping") is None:
        out["scoping"] = 0.5 / batches_per_epoch
    return out


def build_optimizer(
    name: str,
    params: Iterable[torch.Tensor],
    hyper: dict[str, Any] | None = None,
    generator: torch.Generator | None = None,
    telemetry: bool = False,
    process_group: Any = None,
) -> torch.optim.Optimizer:
    """Build optimizer ``name`` with the hyper-parameters in ``hyper`` (None values are skipped,
    so the defaults apply). ``generator`` seeds the Langevin / Gaussian noise of the stochastic
    methods; ``telemetry`` turns on ``last_telemetry`` where the class has it; ``process_group``
    is the replica methods' ``torch.distributed`` group (None: the default group)."""
    cls = optimizer_class(name)
    accepted = _signature(cls)
    given = {k: v for k, v in (hyper or {}).items() if v is not None}
    for k, v in PROTOCOL_DEFAULTS.get(name, {}).items():
        given.setdefault(k, v)
    unknown = sorted(k for k in given if _keyword(k, accepted) not in accepted)
    if unknown:
        takes = {_keyword(k, accepted): k for k in _ELASTIC}
        raise ValueError(
            f"Invalid hyper-parameter for {name}: {', '.join(unknown)} "
            f"(it takes {', '.join(takes.get(k, k) for k in accepted)})"
        )
    kwargs = {_keyword(k, accepted): v for k, v in given.items()}
    if generator is not None and "generator" in accepted:
        kwargs["generator"] = generator
    for group_keyword in ("process_group", "group"):
        if group_keyword in accepted:
            kwargs[group_keyword] = process_group
            break
    if telemetry:
        if "telemetry" not in accepted:
            raise ValueError(f"Invalid telemetry value: True ({name} has no telemetry)")
        kwargs["telemetry"] = True
    return cls(params, **kwargs)

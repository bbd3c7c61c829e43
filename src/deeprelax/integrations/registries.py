"""The relaxation optimizers by name in other libraries' optimizer registries.

``register_pytorch_optimizer()`` adds them to the ``pytorch_optimizer`` package's name registry,
so that ``pytorch_optimizer.load_optimizer("entropysgd")`` and
``pytorch_optimizer.create_optimizer(model, "entropysgd", lr=0.1)`` find them.
``register_timm()`` adds them to timm's default ``OptimizerRegistry`` (``timm.optim.create_optimizer_v2``).

Both import the other package inside the function: deeprelax does not depend on either. The names are
the class names in lower case, as both registries spell their own entries, and contain no underscore
(timm reads ``lookahead_<name>`` as Lookahead around ``<name>``).
"""

from __future__ import annotations

import inspect

import torch

__all__ = ["OPTIMIZER_NAMES", "optimizer_classes", "register_pytorch_optimizer", "register_timm"]

OPTIMIZER_NAMES = ("EntropySGD", "HJ", "ProxSGD", "Heat", "ElasticSGD", "Parle")
"""The ``deeprelax.optim`` classes that are registered, each under its name in lower case.

ElasticSGD and Parle run one replica per process under torch.distributed, and a single replica
when no process group is initialized."""

_DESCRIPTIONS = {
    "EntropySGD": "Entropy-SGD: gradient of local entropy (viscous HJ) by a Langevin chain",
    "HJ": "Hopf-Lax fixed point: gradient of the Moreau envelope (non-viscous HJ)",
    "ProxSGD": "proximal point by inner gradient descent (non-viscous HJ, H-ESGD)",
    "Heat": "heat-equation smoothing: gradient of the Gaussian-smoothed loss",
    "ElasticSGD": "Elastic-SGD: replicas coupled elastically to their mean (torch.distributed)",
    "Parle": "Parle: Entropy-SGD chains per replica with elastic coupling (torch.distributed)",
}


def optimizer_classes() -> dict[str, type[torch.optim.Optimizer]]:
    """The registered names (lower-case class names) and their ``deeprelax.optim`` classes."""
    from deeprelax import optim

    return {name.lower(): getattr(optim, name) for name in OPTIMIZER_NAMES}


def _check_free(registered: dict, name: str, cls: type, registry: str) -> None:
    """Refuse to shadow another library's optimizer; re-registering our own class is a no-op."""
    if name in registered and registered[name] is not cls:
        raise ValueError(
            f"Invalid name {name!r}: {registry} already registers {registered[name]!r} under it"
        )


def register_pytorch_optimizer() -> dict[str, type[torch.optim.Optimizer]]:
    """Add the relaxation optimizers to ``pytorch_optimizer``'s name registry.

    After the call ``pytorch_optimizer.load_optimizer("entropysgd")`` returns
    :class:`deeprelax.optim.EntropySGD`, and ``create_optimizer(model, "hj", lr=0.1)`` builds one.
    Calling it again is harmless.

    Returns:
        The names added and their classes.

    Raises:
        ImportError: ``pytorch_optimizer`` is not installed
            (``pip install 'deeprelax[registries]'``).
        ValueError: a name is already taken by another optimizer in that registry.
    """
    try:
        from pytorch_optimizer import optimizer as registry_module
    except ImportError as exc:
        raise ImportError(
            "register_pytorch_optimizer needs the pytorch-optimizer package: "
            "pip install 'deeprelax[registries]'"
        ) from exc
    registered = registry_module.OPTIMIZERS  # the dict load_optimizer looks names up in
    classes = optimizer_classes()
    for name, cls in classes.items():
        _check_free(registered, name, cls, "pytorch_optimizer")
    registered.update(classes)
    return classes


def register_timm() -> dict[str, type[torch.optim.Optimizer]]:
    """Add the relaxation optimizers to timm's default optimizer registry.

    After the call ``timm.optim.create_optimizer_v2(model, "entropysgd", lr=0.1)`` builds one.
    timm passes ``momentum=0.9`` to an optimizer that takes ``momentum`` unless told otherwise,
    as it does for its own SGD. Calling it again is harmless.

    Returns:
        The names added and their classes.

    Raises:
        ImportError: timm (or the torchvision it imports) cannot be imported.
        ValueError: a name is already taken by another optimizer in that registry.
    """
    try:
        from timm.optim import OptimInfo, _optim_factory
    # A torchvision build that does not match torch raises RuntimeError while timm imports it.
    except (ImportError, RuntimeError) as exc:
        raise ImportError(f"register_timm needs timm, which cannot be imported: {exc}") from exc
    registry = _optim_factory.default_registry  # the one timm.optim.create_optimizer_v2 reads
    classes = optimizer_classes()
    taken = set(registry.list_optimizers()) & set(classes)
    registered = {name: registry.get_optimizer_info(name).opt_class for name in taken}
    for name, cls in classes.items():
        _check_free(registered, name, cls, "timm")
    for name, cls in classes.items():
        parameters = inspect.signature(cls).parameters
        registry.register(
            OptimInfo(
                name=name,
                opt_class=cls,
                description=_DESCRIPTIONS[cls.__name__],
                has_eps=False,
                has_momentum="momentum" in parameters,
                has_betas=False,
            )
        )
    return classes

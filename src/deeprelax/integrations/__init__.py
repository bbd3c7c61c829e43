"""deeprelax inside other stacks: thin adapters whose third-party imports happen only when called.

- :func:`register_pytorch_optimizer`: the relaxation optimizers by name in ``pytorch_optimizer``.
- :func:`register_timm`: the same in timm's optimizer registry.
"""

from deeprelax.integrations.registries import (
    OPTIMIZER_NAMES,
    optimizer_classes,
    register_pytorch_optimizer,
    register_timm,
)

__all__ = ["OPTIMIZER_NAMES", "optimizer_classes", "register_pytorch_optimizer", "register_timm"]

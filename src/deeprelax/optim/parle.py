"""Old import path of :class:`~deeprelax.optim.replica.Parle` (use ``deeprelax.optim``)."""

import warnings

from deeprelax.optim.replica.parle import Parle

warnings.warn(
    "deeprelax.optim.parle is deprecated; import from deeprelax.optim.replica (or deeprelax.optim)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Parle"]

"""Old import path of :class:`~deeprelax.optim.replica.Parle` (use ``deeprelax.optim``)."""

from deeprelax.optim.replica.parle import Parle

__all__ = ["Parle"]

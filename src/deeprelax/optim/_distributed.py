"""Old import path of the replica reductions, now :mod:`deeprelax.optim.replica._reduce`.

Kept while code outside ``deeprelax.optim`` still imports it; new code imports
``deeprelax.optim.replica``.
"""

import warnings

from deeprelax.optim.replica._reduce import (
    COMM_STATS,
    CommStats,
    ReplicaNonFiniteError,
    all_reduce_reference,
    check_agreement,
    flatten,
    unflatten_into,
    world,
)

warnings.warn(
    "deeprelax.optim._distributed is deprecated; import from deeprelax.optim.replica "
    "(or deeprelax.optim)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "COMM_STATS",
    "CommStats",
    "ReplicaNonFiniteError",
    "all_reduce_reference",
    "check_agreement",
    "flatten",
    "unflatten_into",
    "world",
]

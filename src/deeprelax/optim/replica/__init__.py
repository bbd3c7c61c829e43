"""Replica methods: one replica per process under ``torch.distributed``, coupled to their mean.

:class:`ElasticSGD` (no inner steps) and :class:`Parle` (Entropy-SGD chains per replica) run on
the shared engine; ``kappa`` is the elastic coupling of a replica to the reference
:math:`r=\\frac1n\\sum_a x_a`, ``process_group`` the replicas' group.  The reductions (one
all-reduce of a flat buffer per outer step, with the ranks' finiteness flags) and the payload
counter :data:`COMM_STATS` live in :mod:`deeprelax.optim.replica._reduce`.
"""

from deeprelax.optim.replica._reduce import (
    COMM_STATS,
    CommStats,
    ReplicaNonFiniteError,
    check_agreement,
    world,
)
from deeprelax.optim.replica.elastic_sgd import ElasticSGD
from deeprelax.optim.replica.parle import Parle

__all__ = [
    "COMM_STATS",
    "CommStats",
    "ElasticSGD",
    "Parle",
    "ReplicaNonFiniteError",
    "check_agreement",
    "world",
]

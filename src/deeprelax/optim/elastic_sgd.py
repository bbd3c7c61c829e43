"""Old import path of :class:`~deeprelax.optim.replica.ElasticSGD` (use ``deeprelax.optim``)."""

import warnings

from deeprelax.optim.replica.elastic_sgd import ElasticSGD

warnings.warn(
    "deeprelax.optim.elastic_sgd is deprecated; import from deeprelax.optim.replica "
    "(or deeprelax.optim)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["ElasticSGD"]

"""Old import path of :class:`~deeprelax.optim.replica.ElasticSGD` (use ``deeprelax.optim``)."""

from deeprelax.optim.replica.elastic_sgd import ElasticSGD

__all__ = ["ElasticSGD"]

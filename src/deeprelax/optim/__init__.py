"""The Deep Relaxation optimizers, as ``torch.optim.Optimizer`` subclasses.

=================  ==========================================================  =================
optimizer          relaxation                                                  evals per step
=================  ==========================================================  =================
``EntropySGD``     viscous HJ: local entropy (Langevin chain, running mean)   ``L`` (1 if L=0)
``ProxSGD``        non-viscous HJ: proximal point by inner gradient descent    ``L`` (1 if L=0)
``HJ``             non-viscous HJ: Hopf-Lax fixed point p = grad f(x - t p)     ``L + 1``
``Heat``           heat equation: Gaussian smoothing G_t * f                    ``L + 1``
``ElasticSGD``     replicas coupled elastically to their mean (torch.distributed) 1
``Parle``          Entropy-SGD chains per replica + elastic coupling            ``L``
=================  ==========================================================  =================

``ElasticSGD`` and ``Parle`` (in :mod:`deeprelax.optim.replica`) take ``kappa``, the elastic
coupling to the reference (the paper's kappa), its cap ``kappa_max`` and ``process_group``; the
earlier names ``rho``, ``rho_max`` and ``group`` still work for one release, with a
``DeprecationWarning``.  See docs/distributed.md.

Keywords (one meaning everywhere; PAPER.md §1 symbols):

=================  =======================================================  ========  =========
keyword            meaning                                                  symbol    default
=================  =======================================================  ========  =========
``lr``             outer learning rate (LR schedulers act on it)            eta       0.1
``momentum``       outer momentum, torch.optim.SGD's form                   nu        0.9
``nesterov``       Nesterov form, outer and inner momentum                  -         True
``weight_decay``   L2 added to the inner (or SGD) direction                 omega     0
``L``              inner steps per outer step                               L         20 (HJ 10)
``gamma``          coupling g = 1/t (t = PDE time, the smoothing scale)     g_0       0.01 [1]_
``scoping``        coupling growth: g_k = gamma (1 + scoping)^k             g_1       0
``gamma_max``      cap on g_k                                               -         None
``inner_lr``       inner step of the chain                                  eta'      0.1 [2]_
``inner_momentum`` inner momentum, restarted with each chain                nu'       0.9
``noise``          Langevin epsilon: sqrt(2 eta') eps N(0, I) per step      epsilon   1e-4
``alpha``          weight of the newest iterate in the running mean mu      alpha     0.25
``rho``            weight of the plain gradient in D (controlled variant)   rho       0
``damping``        HJ only: weight of the new gradient in p                 theta     0.25
``kappa``          replicas: elastic coupling to the reference r            kappa_0   1 [3]_
``kappa_max``      replicas: cap on kappa_k = kappa (1 + scoping)^k         -         10
``process_group``  replicas: their torch.distributed group (None: world)    -         None
=================  =======================================================  ========  =========

.. [1] HJ: 10 (t = 0.1); Heat: 1e4 (perturbation std 0.01).
.. [2] ProxSGD: 0.25.
.. [3] ElasticSGD: 0.03.

Common: ``generator`` (saved in ``state_dict``), ``foreach``, ``closure_free``, ``telemetry``;
``grad_evals``, ``evals_per_step``, ``outer_steps``, ``inner_index``, ``last_telemetry``;
:class:`NonFiniteLossError` on a NaN/inf loss or update, parameters left at the last finite x.

Stacks: :func:`unwrap` reaches the optimizer inside accelerate's and Lightning's wrappers;
``sync_noise=True`` (EntropySGD, Heat) draws the same noise on every data-parallel rank, and
:func:`replicas_agree` checks that the ranks still hold the same weights.
"""

from deeprelax.optim._engine import NonFiniteLossError, RelaxedOptimizer
from deeprelax.optim._sync import replica_deviation, replicas_agree
from deeprelax.optim._wrappers import unwrap
from deeprelax.optim.entropy_sgd import EntropySGD
from deeprelax.optim.heat import Heat
from deeprelax.optim.hj import HJ
from deeprelax.optim.prox_sgd import ProxSGD
from deeprelax.optim.replica import ElasticSGD, Parle, ReplicaNonFiniteError
from deeprelax.optim.scoping import scoped_coupling

__all__ = [
    "ElasticSGD",
    "EntropySGD",
    "HJ",
    "Heat",
    "NonFiniteLossError",
    "Parle",
    "ProxSGD",
    "RelaxedOptimizer",
    "ReplicaNonFiniteError",
    "replica_deviation",
    "replicas_agree",
    "scoped_coupling",
    "unwrap",
]

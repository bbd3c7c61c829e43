"""Parle: Entropy-SGD replicas coupled elastically to a reference, one all-reduce per outer step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from deeprelax.optim._engine import RelaxedOptimizer
from deeprelax.optim._validate import check_kappa
from deeprelax.optim.entropy_sgd import EntropySGD
from deeprelax.optim.replica._coupling import KAPPA_MAX, ElasticCoupling, renamed_keywords

__all__ = ["Parle"]


class Parle(ElasticCoupling, EntropySGD):
    r"""Parle (Chaudhari et al. 2017, arXiv:1707.00424; PAPER.md §5.8): Entropy-SGD replicas,
    one per process, coupled elastically to their mean.

    Replica :math:`a` (this process) holds :math:`x_a`; the reference is
    :math:`r=\frac1n\sum_b x_b`. Couplings grow with the outer step :math:`k` and are capped:

    .. math::

        g_k = \min\big(g_0(1+\dot g)^k,\ g_{\max}\big),\qquad
        \kappa_k = \min\big(\kappa_0(1+\dot g)^k,\ \kappa_{\max}\big).

    Per outer step each replica runs the Entropy-SGD chain of :class:`EntropySGD` from
    :math:`y_0=\mu_0=x_a` with coupling :math:`g_k` to its own :math:`x_a` (``L`` gradient
    evaluations, Langevin noise ``noise``, running mean weight ``alpha``), then

    .. math::

        D_a &= (x_a - \mu_a) + \kappa_k\,(x_a - r)\\
        x_a &\leftarrow x_a - \eta\,\mathrm{NAG}_\nu(D_a;\,m_a)\\
        r &\leftarrow \tfrac1n\textstyle\sum_b x_b \qquad\text{(one all-reduce per outer step)}

    so the replicas communicate once per ``L`` gradient evaluations. The first step starts from
    :math:`r` = the mean of the initial replicas (one extra all-reduce).

    Reductions (PAPER.md §5.9, tested): one replica, or ``kappa=0``, is :class:`EntropySGD` with
    the same keywords (and the same generator); ``L=0`` is :class:`ElasticSGD`.

    Args:
        params: parameters or param groups (one dtype and device for all; one ``L``).
        lr, momentum, nesterov, weight_decay, maximize, L, gamma, inner_lr, inner_momentum, noise, alpha:
            as in :class:`EntropySGD`. Defaults are the authors' Parle: ``L=25``, ``gamma=0.01``,
            ``noise=0`` (their code sets an ``eps`` it never reads), ``alpha=1`` (:math:`\mu` =
            the last iterate), ``lr=inner_lr=0.1``, ``momentum=inner_momentum=0.9``.
        scoping (float): :math:`\dot g`, growth of both couplings per outer step (default 0; the
            authors use :math:`0.5/B`, :math:`B` = batches per epoch).
        gamma_max (float or None): cap of :math:`g_k` (default 1).
        kappa (float): elastic coupling :math:`\kappa_0` to the reference (PAPER.md's
            :math:`\kappa`, the authors' ``g1``; default 1). Earlier releases called it ``rho``,
            which still works for one release with a ``DeprecationWarning``. Parle has no
            controlled variant: :class:`EntropySGD`'s ``rho`` is not a keyword of Parle.
        kappa_max (float or None): cap :math:`\kappa_{\max}` (default 10; formerly ``rho_max``).
        process_group: ``torch.distributed`` process group of the replicas (default: the world;
            without an initialized process group the world is this process alone and
            :math:`r=x`; formerly ``group``).
        generator: Langevin noise source, saved in ``state_dict``. Give each rank its own
            (for example seeded with ``seed + rank``): the default generator is seeded from the
            global RNG, so with one global seed every replica would draw the same noise.
        foreach, closure_free, telemetry, state_dtype: as in :class:`EntropySGD`.

    .. note::
        The authors' code averages the chains' ends (:math:`\frac1n\sum_a\mu_a`) into the
        elastic term and then re-averages :math:`x` (two reductions per step); deeprelax couples to
        :math:`r=\frac1n\sum_a x_a`, the reference of the Elastic-SGD SDE (PAPER.md §3), with one
        reduction. A NaN/inf loss or parameter on any rank makes every rank raise
        :class:`~deeprelax.optim.replica.ReplicaNonFiniteError` (a
        :class:`NonFiniteLossError`) naming the rank(s), in the same all-reduce.
    """

    @renamed_keywords
    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 0.1,
        *,
        momentum: float = 0.9,
        nesterov: bool | None = None,
        weight_decay: float = 0.0,
        maximize: bool = False,
        L: int = 25,
        gamma: float = 0.01,
        scoping: float = 0.0,
        gamma_max: float | None = 1.0,
        inner_lr: float = 0.1,
        inner_momentum: float = 0.9,
        noise: float = 0.0,
        alpha: float = 1.0,
        kappa: float = 1.0,
        kappa_max: float | None = KAPPA_MAX,
        process_group: Any = None,
        generator: torch.Generator | None = None,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            maximize=maximize,
            L=L,
            gamma=gamma,
            scoping=scoping,
            gamma_max=gamma_max,
            inner_lr=inner_lr,
            inner_momentum=inner_momentum,
            noise=noise,
            alpha=alpha,
            kappa=kappa,
            kappa_max=kappa_max,
            foreach=foreach,
        )
        # EntropySGD.__init__ would add the controlled variant's rho, which Parle does not have
        RelaxedOptimizer.__init__(
            self,
            params,
            defaults,
            generator=generator,
            closure_free=closure_free,
            telemetry=telemetry,
            state_dtype=state_dtype,
        )
        self._setup_noise_sync(False)
        self._setup_replicas(process_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_kappa(group)

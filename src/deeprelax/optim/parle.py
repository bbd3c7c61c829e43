"""Parle: Entropy-SGD replicas coupled elastically to a reference, one all-reduce per outer step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from deeprelax.optim import _distributed as _dist
from deeprelax.optim._engine import NonFiniteLossError, check_number
from deeprelax.optim.entropy_sgd import EntropySGD
from deeprelax.optim.scoping import scoped_coupling

__all__ = ["Parle"]


class Parle(_dist.ReplicaMixin, EntropySGD):
    r"""Parle (Chaudhari et al. 2017, arXiv:1707.00424; PAPER.md §5.8): Entropy-SGD replicas,
    one per process, coupled elastically to their mean.

    Replica :math:`a` (this process) holds :math:`x_a`; the reference is
    :math:`r=\frac1n\sum_b x_b`. Couplings grow with the outer step :math:`k` and are capped:

    .. math::

        g_k = \min\big(g_0(1+\dot g)^k,\ g_{\max}\big),\qquad
        \rho_k = \min\big(\rho_0(1+\dot g)^k,\ \rho_{\max}\big).

    Per outer step each replica runs the Entropy-SGD chain of :class:`EntropySGD` from
    :math:`y_0=\mu_0=x_a` with coupling :math:`g_k` to its own :math:`x_a` (``L`` gradient
    evaluations, Langevin noise ``noise``, running mean weight ``alpha``), then

    .. math::

        D_a &= (x_a - \mu_a) + \rho_k\,(x_a - r)\\
        x_a &\leftarrow x_a - \eta\,\mathrm{NAG}_\nu(D_a;\,m_a)\\
        r &\leftarrow \tfrac1n\textstyle\sum_b x_b \qquad\text{(one all-reduce per outer step)}

    so the replicas communicate once per ``L`` gradient evaluations. The first step starts from
    :math:`r` = the mean of the initial replicas (one extra all-reduce).

    Reductions (PAPER.md §5.9, tested): one replica, or ``rho=0``, is :class:`EntropySGD` with the
    same keywords (and the same generator); ``L=0`` is :class:`ElasticSGD`.

    Args:
        params: parameters or param groups (one dtype and device for all; one ``L``).
        lr, momentum, nesterov, weight_decay, L, gamma, inner_lr, inner_momentum, noise, alpha:
            as in :class:`EntropySGD`. Defaults are the authors' Parle: ``L=25``, ``gamma=0.01``,
            ``noise=0`` (their code sets an ``eps`` it never reads), ``alpha=1`` (:math:`\mu` =
            the last iterate), ``lr=inner_lr=0.1``, ``momentum=inner_momentum=0.9``.
        scoping (float): :math:`\dot g`, growth of both couplings per outer step (default 0; the
            authors use :math:`0.5/B`, :math:`B` = batches per epoch).
        gamma_max (float or None): cap of :math:`g_k` (default 1).
        rho (float): elastic coupling :math:`\rho_0` to the reference (PAPER.md's :math:`\kappa`,
            the authors' ``g1``; default 1). **Not** the ``rho`` of :class:`EntropySGD` (weight
            of the plain gradient, the controlled variant), which Parle does not have.
        rho_max (float or None): cap :math:`\rho_{\max}` (default 10).
        group: ``torch.distributed`` process group of the replicas (default: the world; without
            an initialized process group the world is this process alone and :math:`r=x`).
        generator: Langevin noise source, saved in ``state_dict``. Give each rank its own
            (for example seeded with ``seed + rank``): the default generator is seeded from the
            global RNG, so with one global seed every replica would draw the same noise.
        foreach, closure_free, telemetry: as in :class:`EntropySGD`.

    .. note::
        The authors' code averages the chains' ends (:math:`\frac1n\sum_a\mu_a`) into the
        elastic term and then re-averages :math:`x` (two reductions per step); deeprelax couples to
        :math:`r=\frac1n\sum_a x_a`, the reference of the Elastic-SGD SDE (PAPER.md §3), with one
        reduction. A NaN/inf loss or parameter on any rank makes every rank raise
        :class:`~deeprelax.optim._distributed.ReplicaNonFiniteError` (a
        :class:`NonFiniteLossError`) naming the rank(s), in the same all-reduce.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 0.1,
        *,
        momentum: float = 0.9,
        nesterov: bool | None = None,
        weight_decay: float = 0.0,
        L: int = 25,
        gamma: float = 0.01,
        scoping: float = 0.0,
        gamma_max: float | None = 1.0,
        inner_lr: float = 0.1,
        inner_momentum: float = 0.9,
        noise: float = 0.0,
        alpha: float = 1.0,
        rho: float = 1.0,
        rho_max: float | None = 10.0,
        group: Any = None,
        generator: torch.Generator | None = None,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
    ) -> None:
        if rho_max is not None:
            check_number("rho_max", rho_max, low=0.0, low_open=True)
        super().__init__(
            params, lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, L=L,
            gamma=gamma, scoping=scoping, gamma_max=gamma_max, inner_lr=inner_lr,
            inner_momentum=inner_momentum, noise=noise, alpha=alpha, rho=rho,
            generator=generator, foreach=foreach, closure_free=closure_free, telemetry=telemetry,
            state_dtype=state_dtype,
        )
        self.defaults["rho_max"] = rho_max
        for g in self.param_groups:
            g.setdefault("rho_max", rho_max)
            if g["rho_max"] is not None:
                check_number("rho_max", g["rho_max"], low=0.0, low_open=True)
        kinds = {(p.dtype, p.device) for p in self._replica_params()}
        if len(kinds) > 1:
            raise ValueError(
                f"Invalid params value: Parle needs one dtype and device, got {sorted(map(str, kinds))}"
            )
        self._group = group
        self._agreed = False
        self._elastic: dict[int, float] = {}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for g in self.param_groups:
            g.setdefault("rho_max", 10.0)
        self._elastic = {}

    def rho_at(self, group: dict[str, Any] | None = None, step: int | None = None) -> float:
        """:math:`\\rho_k` of a param group (the first by default) at outer step ``step``."""
        group = self.param_groups[0] if group is None else group
        k = self.outer_steps if step is None else step
        return scoped_coupling(group["rho"], group["scoping"], k, group["rho_max"])

    def _control_weight(self, group: dict) -> float:
        # Parle's rho is the elastic coupling (kappa), not the controlled variant's weight.
        return 0.0

    def _advance(self, loss):
        self._elastic = {id(g): self.rho_at(g) for g in self.param_groups}
        return super()._advance(loss)

    def _outer_direction(self, chain):
        direction = super()._outer_direction(chain)
        rho_k = self._elastic.get(id(chain.group), 0.0)
        if rho_k != 0.0:
            refs = [self.state[p]["reference"] for p in chain.params]
            diff = torch._foreach_sub(chain.anchors, refs)
            direction = chain.ops.add(direction, diff, alpha=rho_k)  # out of place: may be .grad
        return direction

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One outer step (closure mode) or one gradient evaluation (closure-free mode); after
        each outer step, one all-reduce sets :math:`r` to the replica mean."""
        if self.inner_index == 0:
            self._replica_start()
        k = self.outer_steps
        try:
            loss = super().step(closure)
            ok = True
        except NonFiniteLossError:
            loss, ok = None, False
        if self.inner_index == 0:  # an outer step ended (or was aborted): every rank is here
            self._replica_sync(ok, k)
        return loss

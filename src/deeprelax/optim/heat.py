"""Heat: descent on the heat-smoothed loss G_t * f (Gaussian smoothing)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from deeprelax.optim._engine import RelaxedOptimizer, check_common, check_coupling


class Heat(RelaxedOptimizer):
    r"""Heat (PAPER.md §2.6, §5.4): gradient of the heat-smoothed loss.

    :math:`v = G_t * f` solves the heat equation :math:`v_t = \frac12\Delta v` from :math:`v(0)=f`,
    and :math:`\nabla v(x, t) = \mathbb E\,\nabla f(x + \sqrt t\,z)`, :math:`z \sim N(0, I)`.
    With :math:`t = 1/g_k`, a step averages fresh mini-batch gradients at ``L`` Gaussian points:

    .. math::
        D = \frac1L\sum_{i=1}^{L} \widehat\nabla f(x + \sqrt{t}\,z_i) + \omega x
            + \rho\,\widehat\nabla f(x), \qquad x \leftarrow x - \eta\,\mathrm{NAG}_\nu(D; m)

    Args:
        params, lr, momentum, nesterov, weight_decay, rho, generator, foreach, closure_free,
        telemetry: as in :class:`~deeprelax.optim.EntropySGD`.
        L (int): Gaussian samples per step (default 20).
        gamma (float): :math:`g_0 = 1/t`; the perturbation std is :math:`1/\sqrt{g_k}`
            (default 1e4, std 0.01; a deeprelax choice).
        scoping, gamma_max: the coupling schedule, as in EntropySGD.

    .. note::
        A step costs ``L + 1`` evaluations: the first, at ``x`` itself, gives the loss the step
        returns and :math:`\widehat\nabla f(x)` for ``rho`` and telemetry, and keeps every
        optimizer's outer step starting at the anchor (closure-free loops rely on it).  It is not
        part of the heat average, which stays unbiased.  ``L = 0`` is plain SGD.  This is the
        paper's meaning of HEAT; the authors' ``HEAT`` class (a uniform average of a Langevin
        chain) is ``EntropySGD`` with a uniform mean, not provided.
    """

    stochastic = True

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 0.1,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        L: int = 20,
        gamma: float = 1e4,
        scoping: float = 0.0,
        gamma_max: float | None = None,
        rho: float = 0.0,
        *,
        generator: torch.Generator | None = None,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
    ) -> None:
        check_common(lr, momentum, nesterov, weight_decay, L, rho)
        check_coupling(gamma, scoping, gamma_max, positive=True)
        defaults = dict(
            lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, L=L,
            gamma=gamma, scoping=scoping, gamma_max=gamma_max, rho=rho, foreach=foreach,
        )
        super().__init__(params, defaults, generator=generator, closure_free=closure_free,
                         telemetry=telemetry)

    def _evals_per_step(self, L: int) -> int:
        return L + 1

    def _consume(self, group, params, grads, index, coupling):
        ops = self._ops(group, params)
        wd, L = group["weight_decay"], group["L"]
        if L == 0:
            self._keep_sgd_direction(params, grads, wd)
            return
        anchors = self.buffers(params, "anchor")
        total = self.buffers(params, "heat_grad_sum")
        if index == 0:
            ops.copy_(anchors, params)
        elif index == 1:
            ops.copy_(total, grads)
        else:
            ops.add_(total, grads)
        if index < L:  # move to the next Gaussian point x + sqrt(t) z
            std = 1.0 / math.sqrt(coupling)
            for p in params:
                p.normal_(generator=self.generator)
            ops.mul_(params, std)
            if self.telemetry:
                self._tele["noise_sq"] += ops.sum_of_squares(params)
            ops.add_(params, anchors)

    def _direction(self, group, params, coupling):
        if group["L"] == 0:
            return self._take_sgd_direction(params)
        ops = self._ops(group, params)
        anchors = self.buffers(params, "anchor")
        total = self.buffers(params, "heat_grad_sum")
        ops.mul_(total, 1.0 / group["L"])
        if group["weight_decay"]:
            ops.add_(total, anchors, alpha=group["weight_decay"])
        return anchors, total

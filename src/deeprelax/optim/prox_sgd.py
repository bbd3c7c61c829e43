"""ProxSGD: the proximal point step, the non-viscous (Hopf-Lax) relaxation by inner gradient descent."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from deeprelax.optim.entropy_sgd import EntropySGD


class ProxSGD(EntropySGD):
    r"""Proximal SGD (the paper's H-ESGD, PAPER.md §5.3): the non-viscous HJ relaxation.

    The Moreau envelope :math:`u(x, t) = \min_y f(y) + |x - y|^2 / (2t)` solves the non-viscous
    Hamilton-Jacobi equation; its gradient is :math:`(x - \mathrm{prox}_{tf}(x))/t`.  The inner
    loop is noise-free (Nesterov) gradient descent on :math:`f(y) + \frac{g_k}{2}|y - x|^2`
    (:math:`g_k = 1/t`) started at :math:`y_0 = x`; :math:`\mu` is the last iterate
    (:math:`\mu \approx \mathrm{prox}_{tf}(x)`) and the outer direction is :math:`D = x - \mu`
    (:math:`+\rho\,\widehat\nabla f(x)`).  It is :class:`EntropySGD` with ``noise=0``, ``alpha=1``.

    Args:
        params, lr, momentum, nesterov, weight_decay, maximize, L, gamma, scoping, gamma_max, inner_momentum, rho, foreach, closure_free, telemetry, state_dtype, fused: as in :class:`EntropySGD`.
        inner_lr (float): inner step :math:`\eta'` (default 0.25, the authors' H-ESGD value).
            The inner descent is stable for :math:`\eta'(\lambda_{\max} + g) \lesssim 2(1-\nu')`
            with momentum; lower it for sharp losses.

    .. note::
        A step costs ``L`` gradient evaluations, the first at ``x``.  Nothing random is drawn.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 0.1,
        *,
        momentum: float = 0.9,
        nesterov: bool | None = None,
        weight_decay: float = 0.0,
        maximize: bool = False,
        L: int = 20,
        gamma: float = 0.01,
        scoping: float = 0.0,
        gamma_max: float | None = None,
        inner_lr: float = 0.25,
        inner_momentum: float = 0.9,
        rho: float = 0.0,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
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
            noise=0.0,
            alpha=1.0,
            rho=rho,
            generator=generator,
            foreach=foreach,
            closure_free=closure_free,
            telemetry=telemetry,
            state_dtype=state_dtype,
            fused=fused,
        )

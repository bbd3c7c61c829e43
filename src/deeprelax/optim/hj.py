"""HJ: the Hopf-Lax fixed point, the non-viscous Hamilton-Jacobi gradient by iteration."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from deeprelax.optim._engine import (
    Chain,
    RelaxedOptimizer,
    check_common,
    check_coupling,
    check_number,
)


class HJ(RelaxedOptimizer):
    r"""HJ (PAPER.md §5.2, the paper's "HJ"): descent along the Hopf-Lax gradient.

    For the non-viscous HJ equation the gradient :math:`p = \nabla u(x, t)` of the Moreau
    envelope at time :math:`t = 1/g_k` solves the characteristic equation
    :math:`p = \nabla f(x - t p)`.  HJ approximates it by a damped fixed-point iteration on fresh
    mini-batches, then steps along it:

    .. math::
        p_0 &= \widehat\nabla f(x) + \omega x \\
        p_{i} &= (1-\theta)\,p_{i-1} + \theta\,\big(\widehat\nabla f(z_i) + \omega z_i\big),
            \quad z_i = x - t\,p_{i-1}, \quad i = 1..L \\
        x &\leftarrow x - \eta\,\mathrm{NAG}_\nu(p_L + \rho\,\widehat\nabla f(x); m)

    A step costs ``L + 1`` gradient evaluations (the first at ``x``; it gives the returned loss).
    ``L = 0`` (or :math:`t \to 0`) is plain SGD with Nesterov and weight decay.

    Args:
        params, lr, momentum, nesterov, weight_decay, maximize, rho, foreach, closure_free, telemetry, state_dtype, fused: as in :class:`~deeprelax.optim.EntropySGD`.
        L (int): fixed-point iterations per step (default 10, the authors' final default).
        gamma (float): coupling :math:`g_0 = 1/t` (default 10, i.e. t = 0.1; a deeprelax choice).
        scoping, gamma_max: the coupling schedule, as in EntropySGD.
        damping (float): :math:`\theta`, the weight of the new gradient (default 0.25).

    .. note::
        Stability: the damped map is locally stable iff :math:`-1 < t\lambda < 7` for the
        curvatures :math:`\lambda` met along the way (PAPER.md §5.2); a large ``t`` (small
        ``gamma``) needs a flat loss.  No inner momentum, nothing random.
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
        L: int = 10,
        gamma: float = 10.0,
        scoping: float = 0.0,
        gamma_max: float | None = None,
        damping: float = 0.25,
        rho: float = 0.0,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
        generator: torch.Generator | None = None,
        fused: bool = False,
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
            damping=damping,
            rho=rho,
            foreach=foreach,
        )
        super().__init__(
            params,
            defaults,
            generator=generator,
            closure_free=closure_free,
            telemetry=telemetry,
            state_dtype=state_dtype,
            fused=fused,
        )

    _fused_rule = "hj"  # the fused update of this arithmetic (optim/_fused.py)

    def _check_group(self, group):
        check_common(group)
        check_coupling(group, positive=True)
        group["damping"] = check_number(
            "damping", group["damping"], low=0.0, high=1.0, low_open=True
        )

    def _evals_per_step(self, L: int) -> int:
        return L + 1

    def _state_names(self, group) -> list[str]:
        return ["hj_direction"]

    def _consume(self, chain: Chain) -> None:
        ops, wd, index = chain.ops, chain.group["weight_decay"], chain.index
        p_vec = self._chain_buffers(chain, "hj_direction")
        q = chain.grads
        if wd:
            q = ops.add_into(
                self.work("direction", chain.points), chain.grads, chain.points, alpha=wd
            )
        if index == 0:
            ops.copy_(p_vec, q)
        else:
            ops.lerp_(p_vec, q, chain.group["damping"])
        if index < chain.group["L"]:  # move to the next point z = x - t p
            ops.copy_(chain.points, chain.anchors)
            ops.add_(chain.points, p_vec, alpha=-1.0 / chain.coupling)
            if self.telemetry:
                self._record_chain_distance(chain)

    def _direction(self, chain: Chain) -> list[Tensor]:
        return self._chain_buffers(chain, "hj_direction")

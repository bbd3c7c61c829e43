"""Heat: descent on the heat-smoothed loss G_t * f (Gaussian smoothing)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from deeprelax.optim._engine import Chain, RelaxedOptimizer, check_common, check_coupling
from deeprelax.optim._sync import NoiseSync


class Heat(NoiseSync, RelaxedOptimizer):
    r"""Heat (PAPER.md §2.6, §5.4): gradient of the heat-smoothed loss.

    :math:`v = G_t * f` solves the heat equation :math:`v_t = \frac12\Delta v` from :math:`v(0)=f`,
    and :math:`\nabla v(x, t) = \mathbb E\,\nabla f(x + \sqrt t\,z)`, :math:`z \sim N(0, I)`.
    With :math:`t = 1/g_k`, a step averages fresh mini-batch gradients at ``L`` Gaussian points:

    .. math::
        D = \frac1L\sum_{i=1}^{L} \widehat\nabla f(x + \sqrt{t}\,z_i) + \omega x
            + \rho\,\widehat\nabla f(x), \qquad x \leftarrow x - \eta\,\mathrm{NAG}_\nu(D; m)

    Args:
        params, lr, momentum, nesterov, weight_decay, maximize, rho, generator, foreach, closure_free, telemetry, state_dtype, sync_noise, fused: as in :class:`~deeprelax.optim.EntropySGD`.
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

    _noise_moves_anchor = False  # per-rank points, DDP-averaged gradients: x agrees anyway

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
        gamma: float = 1e4,
        scoping: float = 0.0,
        gamma_max: float | None = None,
        rho: float = 0.0,
        generator: torch.Generator | None = None,
        foreach: bool | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
        sync_noise: bool = False,
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
        self._setup_noise_sync(sync_noise)

    _fused_rule = "heat"  # the fused update of this arithmetic (optim/_fused.py)

    def _check_group(self, group):
        check_common(group)
        check_coupling(group, positive=True)

    def _evals_per_step(self, L: int) -> int:
        return L + 1

    def _draws_noise(self, group) -> bool:
        return group["L"] > 0

    def _state_names(self, group) -> list[str]:
        return ["heat_grad_sum"]

    def _consume(self, chain: Chain) -> None:
        ops, index, L = chain.ops, chain.index, chain.group["L"]
        total = self._chain_buffers(chain, "heat_grad_sum")
        if index == 1:
            ops.copy_(total, chain.grads)
        elif index > 1:
            ops.add_(total, chain.grads)
        if index < L:  # move to the next Gaussian point x + sqrt(t) z
            std = 1.0 / math.sqrt(chain.coupling)
            self._normal_(chain, chain.points)
            ops.mul_(chain.points, std)
            if self.telemetry:
                tele = self._tele  # starts empty mid-chain after a reload: .get
                tele["noise_sq"] = tele.get("noise_sq", 0.0) + ops.sum_of_squares(chain.points)
            ops.add_(chain.points, chain.anchors)

    def _direction(self, chain: Chain) -> list[Tensor]:
        total = self._chain_buffers(chain, "heat_grad_sum")
        chain.ops.mul_(total, 1.0 / chain.group["L"])
        if chain.group["weight_decay"]:
            chain.ops.add_(total, chain.anchors, alpha=chain.group["weight_decay"])
        return total

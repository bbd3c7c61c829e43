"""Entropy-SGD: gradient descent on local entropy, the viscous Hamilton-Jacobi relaxation."""

from __future__ import annotations

import math
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
from deeprelax.optim._sync import NoiseSync
from deeprelax.optim._validate import uses_nesterov


class EntropySGD(NoiseSync, RelaxedOptimizer):
    r"""Entropy-SGD (Chaudhari et al. 2017; Deep Relaxation §5.1): descent on local entropy.

    Local entropy :math:`f_\gamma(x) = -\beta^{-1}\log (G_{\beta^{-1}\gamma} * e^{-\beta f})(x)` is the
    viscous Hamilton-Jacobi relaxation of the loss at PDE time :math:`t = 1/g` (``gamma`` = the
    coupling :math:`g`).  Its gradient is :math:`\nabla f_\gamma(x) = g\,(x - \langle y\rangle)`, the
    mean taken under the Gibbs law :math:`\propto e^{-\beta f(y) - \beta g |x-y|^2/2}`; a short
    Langevin chain estimates :math:`\langle y\rangle` by a running mean :math:`\mu`.  Per outer step k:

    .. math::
        g_k &= \min(g_0 (1 + g_1)^k,\ g_{\max}),\qquad y_0 = \mu_0 = x \\
        \text{for } i = 0..L-1:\quad d_i &= \widehat\nabla f(y_i) + \omega y_i + g_k (y_i - x) \\
        y_{i+1} &= y_i - \eta'\,\mathrm{NAG}_{\nu'}(d_i; m') + \sqrt{2\eta'}\,\varepsilon\,\xi_i,
            \qquad \xi_i \sim N(0, I) \\
        \mu_{i+1} &= (1-\alpha)\mu_i + \alpha\, y_{i+1} \\
        D &= (x - \mu_L) + \rho\,\widehat\nabla f(x), \qquad x \leftarrow x - \eta\,\mathrm{NAG}_\nu(D; m)

    :math:`\mathrm{NAG}_\nu(d; m)`: ``m <- nu m + d``, returns ``d + nu m`` (``m`` without Nesterov),
    exactly torch.optim.SGD's momentum.  The first gradient of the chain is taken at :math:`y_0 = x`,
    so a step costs exactly ``L`` gradient evaluations and returns the loss at ``x``; with
    ``rho > 0`` that same gradient is the :math:`\widehat\nabla f(x)` of the controlled variant.
    With ``L = 0`` the step is plain SGD, :math:`d = \widehat\nabla f(x) + \omega x` (bit for bit
    ``torch.optim.SGD`` with the same momentum, nesterov and weight_decay).

    Args:
        params: parameters or param groups (every group must use the same ``L``).
        lr (float or 0-d tensor): outer learning rate :math:`\eta` (default 0.1). LR schedulers
            act on it. Every keyword after it is keyword-only.
        momentum (float): outer momentum :math:`\nu` (default 0.9).
        nesterov (bool or None): Nesterov form for the outer and inner momentum (default None:
            Nesterov whenever there is momentum; ``True`` with ``momentum=0`` is an error, as in SGD).
        weight_decay (float): L2 :math:`\omega`, added to the inner direction (and to the SGD
            direction when ``L = 0``); not to the outer direction ``D`` (default 0).
        maximize (bool): maximize the objective instead of minimizing it, as in
            :class:`torch.optim.SGD`: every gradient is negated (out of place, ``.grad`` is left
            as it is) before anything reads it; weight decay still pulls towards 0 (default False).
        L (int): inner steps = gradient evaluations per outer step (default 20).
        gamma (float): coupling :math:`g_0 = 1/t` (default 0.01, the authors' class default).
        scoping (float): growth :math:`g_1` of the coupling per outer step (default 0).
        gamma_max (float, optional): cap on the scoped coupling (default None).
        inner_lr (float): inner step :math:`\eta'` (default 0.1).
        inner_momentum (float): inner momentum :math:`\nu'` (default 0.9); its buffer restarts with
            each chain.
        noise (float): Langevin :math:`\varepsilon`; per step :math:`\sqrt{2\eta'}\varepsilon\xi`,
            temperature :math:`\beta^{-1} = \varepsilon^2` (default 1e-4).
        alpha (float): weight of the newest iterate in :math:`\mu` (default 0.25, i.e. the authors'
            code's 0.75 weight on the old mean; the Entropy-SGD paper's 0.75 is ``alpha=0.75``).
        rho (float): weight of the plain gradient in ``D``, the controlled variant (default 0).
        generator (torch.Generator, optional): source of the Langevin noise; its state is saved in
            ``state_dict()``.  Default: a generator seeded from the global RNG.
        foreach (bool, optional): use the ``torch._foreach_*`` kernels (default: when all
            parameters share device and dtype).
        closure_free (bool): one gradient evaluation per ``step()`` call: the gradient in ``.grad``,
            or one call of ``step(closure)``'s closure (default False).
        telemetry (bool): record ``last_telemetry`` after each outer step (default False).
        state_dtype (torch.dtype, optional): dtype of the anchor, chain point, mean and momenta
            (default: float32 for 16-bit parameters, else the parameter's dtype).
        sync_noise (bool): data parallel (DDP): every rank draws the same noise, from rank 0's
            seed broadcast once; without it, a process group of several ranks gets a warning
            (default False).  See docs/integrations.md.
        fused (bool): each gradient evaluation's update as one compiled pass (``torch.compile``;
            a C++ compiler on CPU, Triton on CUDA); same trajectory to rounding (default False).

    Example:
        >>> opt = EntropySGD(model.parameters(), lr=0.1, L=20, gamma=0.03, scoping=1e-3)
        >>> def closure():
        ...     opt.zero_grad()
        ...     inputs, targets = next(batches)          # a fresh mini-batch per call
        ...     loss = loss_fn(model(inputs), targets)
        ...     loss.backward()
        ...     return loss
        >>> loss = opt.step(closure)                     # L gradient evaluations

    .. note::
        The authors' code multiplies nothing into ``x - mu``: the effective step on
        :math:`\nabla f_\gamma` is :math:`\eta / g_k`, which shrinks as scoping grows :math:`g_k`.
        deeprelax keeps that convention (PAPER.md §5.1, §6).
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
        inner_lr: float = 0.1,
        inner_momentum: float = 0.9,
        noise: float = 1e-4,
        alpha: float = 0.25,
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
            inner_lr=inner_lr,
            inner_momentum=inner_momentum,
            noise=noise,
            alpha=alpha,
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

    _fused_rule = "entropy"  # the fused update of this arithmetic (optim/_fused.py)

    def _check_group(self, group):
        check_common(group)
        check_coupling(group, positive=False)
        group["inner_lr"] = check_number("inner_lr", group["inner_lr"], low=0.0, low_open=True)
        group["inner_momentum"] = check_number(
            "inner_momentum", group["inner_momentum"], low=0.0, high=1.0, high_open=True
        )
        group["noise"] = check_number("noise", group["noise"], low=0.0)
        group["alpha"] = check_number("alpha", group["alpha"], low=0.0, high=1.0, low_open=True)

    def _evals_per_step(self, L: int) -> int:
        return max(L, 1)

    def _draws_noise(self, group) -> bool:
        return group["L"] > 0 and group["noise"] > 0

    def _state_names(self, group) -> list[str]:
        names = ["inner_mean"]
        if group["inner_momentum"] > 0:
            names.append("inner_momentum_buffer")
        return names

    def _consume(self, chain: Chain) -> None:
        group, ops, ys, xs = chain.group, chain.ops, chain.points, chain.anchors
        wd, coupling = group["weight_decay"], chain.coupling
        mean = self._chain_buffers(chain, "inner_mean")
        if chain.index == 0:
            ops.copy_(mean, xs)
            # y = x here, so the coupling term is exactly zero
            d = (
                ops.add_into(self.work("direction", ys), chain.grads, ys, alpha=wd)
                if wd
                else chain.grads
            )
        else:
            d = chain.grads
            if wd + coupling:
                d = ops.add_into(self.work("direction", ys), chain.grads, ys, alpha=wd + coupling)
            if coupling:
                ops.add_(d, xs, alpha=-coupling)
        self._inner_update(chain, d)
        if group["noise"] > 0:
            self._add_noise(chain, math.sqrt(2.0 * group["inner_lr"]) * group["noise"])
        ops.lerp_(mean, ys, group["alpha"])
        if self.telemetry:
            self._record_chain_distance(chain)

    def _inner_update(self, chain: Chain, d: list[Tensor]) -> None:
        """y <- y - eta' NAG_nu'(d; m'), with the buffer kept as (1 - nu') m'.

        The scaled buffer updates in one pass, b <- lerp(b, d, 1 - nu') = nu' b + (1 - nu') d,
        where the plain form needs two (m <- nu' m, m <- m + d); the arithmetic is otherwise
        torch.optim.SGD's momentum (the reference tests check it to 1e-12).  ``d`` may be the
        caller's ``.grad``: it is only read.
        """
        group, ops, ys = chain.group, chain.ops, chain.points
        nu, lr_in = group["inner_momentum"], group["inner_lr"]
        if not nu:
            ops.add_(ys, d, alpha=-lr_in)
            return
        scaled = self._chain_buffers(chain, "inner_momentum_buffer")
        if chain.index == 0:
            ops.copy_(scaled, d)
            ops.mul_(scaled, 1.0 - nu)
        else:
            ops.lerp_(scaled, d, 1.0 - nu)
        if uses_nesterov(group["nesterov"], nu):
            ops.add_(ys, d, alpha=-lr_in)  # y - eta' (d + nu' m')
            ops.add_(ys, scaled, alpha=-lr_in * nu / (1.0 - nu))
        else:
            ops.add_(ys, scaled, alpha=-lr_in / (1.0 - nu))  # m'

    def _direction(self, chain: Chain) -> list[Tensor]:
        # D = x - mu_L, in the reusable "direction" work tensors (the coupling's, free here):
        # the state "inner_mean" keeps the chain's mean mu_L between outer steps
        mean = self._chain_buffers(chain, "inner_mean")
        return chain.ops.add_into(
            self.work("direction", chain.anchors), chain.anchors, mean, alpha=-1.0
        )

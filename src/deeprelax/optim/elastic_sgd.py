"""Elastic-SGD: replicas coupled elastically to their mean, one all-reduce per step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from deeprelax.optim import _distributed as _dist
from deeprelax.optim.scoping import scoped_coupling

__all__ = ["ElasticSGD"]


def _check_common(lr: float, momentum: float, nesterov: bool, weight_decay: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid lr value: {lr}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"Invalid momentum value: {momentum}")
    if nesterov and momentum == 0.0:
        raise ValueError(f"Invalid nesterov value: {nesterov} (Nesterov momentum needs momentum > 0)")
    if not weight_decay >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _check_coupling(name: str, value: float, scoping: float, cap: float | None) -> None:
    if not value >= 0.0:
        raise ValueError(f"Invalid {name} value: {value}")
    if not scoping >= 0.0:
        raise ValueError(f"Invalid scoping value: {scoping}")
    if cap is not None and not cap > 0.0:
        raise ValueError(f"Invalid {name}_max value: {cap}")


def _check_layout(param_groups: list[dict[str, Any]]) -> None:
    """The reference travels as one flat buffer: one dtype, one device."""
    params = [p for g in param_groups for p in g["params"]]
    kinds = {(p.dtype, p.device) for p in params}
    if len(kinds) > 1:
        raise ValueError(
            f"Invalid params value: replica optimizers need one dtype and device, got {sorted(map(str, kinds))}"
        )


class ElasticSGD(_dist.ReplicaMixin, Optimizer):
    r"""Elastic-SGD: :math:`n` replicas, one per process, pulled towards their mean.

    Replica :math:`a` (this process) holds :math:`x_a`; the reference is the replica mean
    :math:`r=\frac1n\sum_{b}x_b`. One step, with the gradient :math:`\widehat\nabla f_a(x_a)` of a
    fresh minibatch of this replica's data:

    .. math::

        \rho_k &= \min\big(\rho\,(1+\dot g)^k,\ \rho_{\max}\big)\\
        d_a &= \widehat\nabla f_a(x_a) + \omega\,x_a + \rho_k\,(x_a - r)\\
        x_a &\leftarrow x_a - \eta\,\mathrm{NAG}_\nu(d_a;\,m_a)\\
        r &\leftarrow \tfrac1n\textstyle\sum_b x_b \qquad\text{(one all-reduce)}

    with PyTorch's Nesterov form :math:`\mathrm{NAG}_\nu(d;m)`: :math:`m\leftarrow\nu m+d`, return
    :math:`d+\nu m` (plain momentum returns :math:`m`). The reference is recomputed at the end of
    every step, so after every step it equals the mean of the replicas, and the next step uses it:
    one communication per gradient evaluation, the same count as data-parallel SGD, but of the
    weights rather than the gradients. This is the discrete form of PAPER.md §3 (Elastic-SGD as a
    replica average) and §5.7; the first step starts from :math:`r` = the mean of the initial
    replicas (one extra all-reduce).

    Args:
        params: parameters or param groups (one dtype and device for all).
        lr (float): :math:`\eta` (default 0.1).
        momentum (float): :math:`\nu` (default 0.9).
        nesterov (bool): Nesterov momentum (default True).
        weight_decay (float): :math:`\omega`, L2 added to the gradient (default 0).
        rho (float): elastic coupling to the reference, :math:`\rho_0` (PAPER.md calls it
            :math:`\kappa` for Parle and :math:`g` in §5.7; default 0.03, the authors' Elastic-SGD
            note). Not the ``rho`` of :class:`EntropySGD` (weight of the plain gradient).
        scoping (float): :math:`\dot g`, growth of :math:`\rho` per step (default 0).
        rho_max (float or None): cap :math:`\rho_{\max}` (default 10, Parle's cap).
        group: ``torch.distributed`` process group of the replicas (default: the world; without
            an initialized process group the world is this process alone and :math:`r=x`).

    Example:
        >>> opt = ElasticSGD(model.parameters(), lr=0.1, rho=0.1)  # under torchrun
        >>> def closure():
        ...     opt.zero_grad(); loss = F.cross_entropy(model(xb), yb); loss.backward(); return loss
        >>> opt.step(closure)

    .. note::
        The authors' code computes :math:`r` at the start of the step; computing it at the end
        of the previous one gives the same iterates and lets a checkpoint hold a reference that
        equals the replica mean. On a non-finite loss or parameter on any rank, every rank
        raises :class:`~deeprelax.optim._distributed.ReplicaNonFiniteError` naming the rank(s)
        in the same all-reduce (no hang); the reference then keeps its last finite value.
        With ``rho=0`` every replica runs ``torch.optim.SGD`` exactly.
    """

    evals_per_step = 1

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        *,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        rho: float = 0.03,
        scoping: float = 0.0,
        rho_max: float | None = 10.0,
        group: Any = None,
    ) -> None:
        _check_common(lr, momentum, nesterov, weight_decay)
        _check_coupling("rho", rho, scoping, rho_max)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            rho=rho,
            scoping=scoping,
            rho_max=rho_max,
        )
        super().__init__(params, defaults)
        _check_layout(self.param_groups)
        self._group = group
        self._agreed = False

    # ---- global state lives under the first parameter (as in torch.optim.LBFGS) ----
    def _global(self) -> dict[str, Any]:
        state = self.state[self.param_groups[0]["params"][0]]
        state.setdefault("outer_step", 0)
        state.setdefault("grad_evals", 0)
        return state

    @property
    def grad_evals(self) -> int:
        """Gradient evaluations of this replica so far (kept in ``state_dict``)."""
        return int(self._global()["grad_evals"])

    @property
    def outer_steps(self) -> int:
        """Outer steps so far: the scoping counter :math:`k`."""
        return int(self._global()["outer_step"])

    def rho_at(self, group: dict[str, Any], step: int | None = None) -> float:
        """:math:`\\rho_k` of a param group at outer step ``step`` (default: the current one)."""
        k = self.outer_steps if step is None else step
        return scoped_coupling(group["rho"], group["scoping"], k, group["rho_max"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        """One Elastic-SGD step on this replica, then one all-reduce of the reference.

        Args:
            closure: zero_grad, forward on a fresh minibatch, backward, return the loss; if
                ``None``, the gradients already in ``.grad`` are used.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._replica_start()
        ok = loss is None or bool(torch.isfinite(torch.as_tensor(loss)).all())
        if ok:
            for group in self.param_groups:
                self._update_group(group)
        self._replica_sync(ok, self.outer_steps)
        state = self._global()
        state["outer_step"] += 1
        state["grad_evals"] += 1
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, nu, wd = group["lr"], group["momentum"], group["weight_decay"]
        rho_k = self.rho_at(group)
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            d = p.grad
            if wd != 0.0:
                d = d.add(p, alpha=wd)
            if rho_k != 0.0:
                d = d.add(p - state["reference"], alpha=rho_k)
            if nu != 0.0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(d).detach()
                else:
                    buf.mul_(nu).add_(d)
                d = d.add(buf, alpha=nu) if group["nesterov"] else buf
            p.add_(d, alpha=-lr)

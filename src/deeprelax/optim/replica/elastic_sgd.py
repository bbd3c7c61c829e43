"""Elastic-SGD: replicas coupled elastically to their mean, one all-reduce per step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from deeprelax.optim._engine import RelaxedOptimizer, check_common, check_number
from deeprelax.optim._validate import check_kappa
from deeprelax.optim.replica._coupling import KAPPA_MAX, ElasticCoupling, renamed_keywords

__all__ = ["ElasticSGD"]


class ElasticSGD(ElasticCoupling, RelaxedOptimizer):
    r"""Elastic-SGD: :math:`n` replicas, one per process, pulled towards their mean.

    Replica :math:`a` (this process) holds :math:`x_a`; the reference is the replica mean
    :math:`r=\frac1n\sum_{b}x_b`. One step, with the gradient :math:`\widehat\nabla f_a(x_a)` of a
    fresh minibatch of this replica's data:

    .. math::

        \kappa_k &= \min\big(\kappa\,(1+\dot g)^k,\ \kappa_{\max}\big)\\
        d_a &= \widehat\nabla f_a(x_a) + \omega\,x_a + \kappa_k\,(x_a - r)\\
        x_a &\leftarrow x_a - \eta\,\mathrm{NAG}_\nu(d_a;\,m_a)\\
        r &\leftarrow \tfrac1n\textstyle\sum_b x_b \qquad\text{(one all-reduce)}

    with PyTorch's Nesterov form :math:`\mathrm{NAG}_\nu(d;m)`: :math:`m\leftarrow\nu m+d`, return
    :math:`d+\nu m` (plain momentum returns :math:`m`). The reference is recomputed at the end of
    every step, so after every step it equals the mean of the replicas, and the next step uses it:
    one communication per gradient evaluation, the same count as data-parallel SGD, but of the
    weights rather than the gradients. This is the discrete form of PAPER.md §3 (Elastic-SGD as a
    replica average) and §5.7; the first step starts from :math:`r` = the mean of the initial
    replicas (one extra all-reduce). It is :class:`Parle` without inner steps (``L = 0``), on the
    same engine.

    Args:
        params: parameters or param groups (one dtype and device for all).
        lr (float): :math:`\eta` (default 0.1).
        momentum (float): :math:`\nu` (default 0.9).
        nesterov (bool): Nesterov momentum (default True).
        weight_decay (float): :math:`\omega`, L2 added to the gradient (default 0).
        maximize (bool): ascend instead of descend, as in :class:`torch.optim.SGD`: the gradient
            is negated before the weight decay and the coupling are added (default False).
        kappa (float): elastic coupling to the reference, :math:`\kappa_0` (PAPER.md's
            :math:`\kappa`, :math:`g` in §5.7; default 0.03, the authors' Elastic-SGD note).
            Earlier releases called it ``rho``, which still works for one release with a
            ``DeprecationWarning``.
        scoping (float): :math:`\dot g`, growth of :math:`\kappa` per step (default 0).
        kappa_max (float or None): cap :math:`\kappa_{\max}` (default 10, Parle's cap; formerly
            ``rho_max``).
        process_group: ``torch.distributed`` process group of the replicas (default: the world;
            without an initialized process group the world is this process alone and
            :math:`r=x`; formerly ``group``).

    Example:
        >>> opt = ElasticSGD(model.parameters(), lr=0.1, kappa=0.1)  # under torchrun
        >>> def closure():
        ...     opt.zero_grad(); loss = F.cross_entropy(model(xb), yb); loss.backward(); return loss
        >>> opt.step(closure)

    .. note::
        The authors' code computes :math:`r` at the start of the step; computing it at the end
        of the previous one gives the same iterates and lets a checkpoint hold a reference that
        equals the replica mean. On a non-finite loss or update on any rank, every rank raises
        :class:`~deeprelax.optim.replica.ReplicaNonFiniteError` naming the rank(s) in the same
        all-reduce (no hang); the parameters and the reference keep their last finite values.
        With ``kappa=0`` every replica runs ``torch.optim.SGD`` exactly.
    """

    @renamed_keywords
    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 0.1,
        *,
        momentum: float = 0.9,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        maximize: bool = False,
        kappa: float = 0.03,
        scoping: float = 0.0,
        kappa_max: float | None = KAPPA_MAX,
        process_group: Any = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            maximize=maximize,
            kappa=kappa,
            scoping=scoping,
            kappa_max=kappa_max,
            L=0,
            foreach=None,
        )
        super().__init__(params, defaults)
        self._setup_replicas(process_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_common(group)
        if group["L"] != 0:
            raise ValueError(
                f"Invalid L value: {group['L']} (ElasticSGD takes no inner steps; "
                "Parle is Elastic-SGD with inner steps)"
            )
        group["scoping"] = check_number("scoping", group["scoping"], low=0.0)
        check_kappa(group)

    def _evals_per_step(self, L: int) -> int:
        return 1

    def coupling(self, group: dict | None = None) -> float:
        """ElasticSGD has no inner chain, hence no coupling gamma: see :meth:`kappa_at`."""
        raise AttributeError(
            "ElasticSGD has no coupling gamma (no inner steps); kappa_at() gives the elastic coupling"
        )

    def __setstate__(self, state: dict) -> None:
        for group in state.get("param_groups", ()):  # saved before ElasticSGD ran on the engine
            group.setdefault("L", 0)
        super().__setstate__(state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        outer = self._outer
        for p in self._replica_params():  # earlier releases kept the counters in the first
            st = self.state.get(p, {})  # parameter's own state
            if "outer_step" in st:
                outer["step"] = int(st.pop("outer_step"))
                outer["grad_evals"] = int(st.pop("grad_evals", outer["step"]))

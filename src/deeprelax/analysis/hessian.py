"""Hessian-vector products, extreme eigenvalues (Lanczos / ARPACK) and the Hutchinson trace.

All functions see the loss ``f(x)`` of :mod:`deeprelax.analysis._functional`: the size-weighted mean
of ``loss_fn`` over ``batches``, batch norm in eval mode unless ``bn_mode="train"``, dropout off.
The Hessian :math:`H=\\nabla^2 f(x)` is never formed; :math:`Hv` costs about one
forward+backward pass more than a gradient (see docs/landscape.md for measured ratios).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._functional import Batch, FlatLoss, LossFn
from ._lanczos import lanczos_residual

__all__ = [
    "HVP_METHODS",
    "EigenResult",
    "HessianOperator",
    "TraceEstimate",
    "hessian_vector_product",
    "hutchinson_trace",
    "top_hessian_eigenvalues",
]

#: ``"rev_rev"``: double backward, the gradient's graph built once and kept (fastest on CPU,
#: memory: one retained double-backward graph per batch). ``"rev_rev_rebuild"``: double backward,
#: graph rebuilt for every product (least memory). ``"fwd_rev"``: ``torch.func.jvp`` of
#: ``torch.func.grad`` (forward-over-reverse), also rebuilt every product.
HVP_METHODS = ("rev_rev", "rev_rev_rebuild", "fwd_rev")


class HessianOperator:
    """:math:`v\\mapsto\\nabla^2 f(x)\\,v` at the model's current weights ``x``.

    Args:
        model, loss_fn, batches: see :class:`~deeprelax.analysis._functional.FlatLoss`.
        dtype: ``torch.float32`` or ``torch.float64`` (default: the model's dtype).
        bn_mode: ``"eval"`` (default) or ``"train"``.
        method: one of :data:`HVP_METHODS` (default ``"rev_rev"``).

    Attributes: ``num_params`` (d), ``num_hvps`` (products computed so far), ``params`` (flat x).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        batches: Iterable[Batch],
        *,
        dtype: torch.dtype | None = None,
        bn_mode: str = "eval",
        method: str = "rev_rev",
    ) -> None:
        if method not in HVP_METHODS:
            raise ValueError(f"Invalid method value: {method!r} (choose from {HVP_METHODS})")
        self.flat = FlatLoss(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode)
        self.method = method
        self.num_params = self.flat.num_params
        self.params = self.flat.x0
        self.num_hvps = 0
        self._graphs: list[tuple[Tensor, Tensor]] | None = None

    def _retained_graphs(self) -> list[tuple[Tensor, Tensor]]:
        if self._graphs is None:
            graphs = []
            for i in range(len(self.flat.batches)):
                with torch.enable_grad():
                    z = self.params.detach().requires_grad_(True)
                    (g,) = torch.autograd.grad(self.flat.batch_loss(z, i), z, create_graph=True)
                graphs.append((z, g))
            self._graphs = graphs
        return self._graphs

    def _hvp_batch(self, i: int, v: Tensor) -> Tensor:
        if self.method == "fwd_rev":
            grad_fn = torch.func.grad(lambda z: self.flat.batch_loss(z, i))
            return torch.func.jvp(grad_fn, (self.params,), (v,))[1]
        with torch.enable_grad():
            z = self.params.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.flat.batch_loss(z, i), z, create_graph=True)
            (hv,) = torch.autograd.grad(g, z, grad_outputs=v)
        return hv

    def matvec(self, vector: Tensor) -> Tensor:
        """:math:`Hv` as a flat tensor of the operator's dtype."""
        v = self.flat.check_vector(vector)
        out = torch.zeros_like(v)
        if self.method == "rev_rev":
            for z, g in self._retained_graphs():
                (hv,) = torch.autograd.grad(g, z, grad_outputs=v, retain_graph=True)
                out += hv
        else:
            for i in range(len(self.flat.batches)):
                out += self._hvp_batch(i, v)
        self.num_hvps += 1
        if not bool(torch.isfinite(out).all()):
            raise FloatingPointError(
                "non-finite Hessian-vector product: the loss or its gradient overflows at these "
                "weights and batches (try dtype=torch.float64)"
            )
        return out.detach()

    __call__ = matvec

    def release(self) -> None:
        """Drop the retained graphs (``method="rev_rev"``); they are rebuilt on the next product."""
        self._graphs = None

    def as_linear_operator(self):  # -> scipy.sparse.linalg.LinearOperator
        """A float64 SciPy ``LinearOperator`` (what ARPACK wants) that calls :meth:`matvec`."""
        from scipy.sparse.linalg import LinearOperator

        def mv(v: np.ndarray) -> np.ndarray:
            t = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
            return self.matvec(t).to(torch.float64).cpu().numpy()

        d = self.num_params
        return LinearOperator((d, d), matvec=mv, rmatvec=mv, dtype=np.float64)


def hessian_vector_product(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    vector: Tensor,
    *,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    method: str = "rev_rev",
) -> Tensor:
    """One product :math:`\\nabla^2 f(x)\\,v`; for many, build a :class:`HessianOperator` once."""
    return HessianOperator(model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode, method=method)(
        vector
    )


@dataclass
class EigenResult:
    """Eigenpairs of the Hessian: ``eigenvalues`` (k,) sorted from the most extreme (descending for
    ``which="LA"``, ascending for ``"SA"``), ``eigenvectors`` (d, k) unit columns in the same order,
    ``num_hvps`` Hessian-vector products used."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    num_hvps: int
    which: str


def _check_k(k: int, d: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1 or k >= d:
        raise ValueError(f"Invalid k value: {k} (need 1 <= k < number of parameters = {d})")


def top_hessian_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    k: int = 10,
    which: str = "LA",
    *,
    tol: float = 1e-3,
    ncv: int | None = None,
    maxiter: int | None = None,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    method: str = "rev_rev",
    seed: int = 0,
    operator: HessianOperator | None = None,
    solver: str = "arpack",
    max_steps: int = 300,
) -> EigenResult:
    """The ``k`` largest (``which="LA"``) or smallest (``"SA"``) algebraic eigenvalues of
    :math:`\\nabla^2 f(x)` by implicitly restarted Lanczos (``scipy.sparse.linalg.eigsh``).

    ARPACK stops when every Ritz pair has residual :math:`\\|Hu-\\theta u\\|\\le` ``tol`` :math:`|\\theta|`;
    with float32 products the products themselves carry a relative error of about 1e-6, so ``tol``
    below about 1e-5 needs ``dtype=torch.float64``. ``ncv`` (Lanczos basis size) defaults to
    ``max(2k+1, 4k)`` capped at d, which keeps restarts few. ``seed`` fixes the start vector.
    Pass ``operator`` to reuse a :class:`HessianOperator` (its model/batches then win).

    ``solver="lanczos"``: plain Lanczos in torch with full re-orthogonalization and no restart,
    stopped when every wanted Ritz pair has residual :math:`\\beta_m|s_{mi}|\\le` ``tol``
    :math:`|\\theta_i|` (checked every 5 steps) or after ``max_steps`` products; it keeps the basis
    (``max_steps * d`` numbers) but avoids ARPACK's per-iteration overhead, which at d ~ 2M on
    one CPU core is comparable to a Hessian-vector product (docs/landscape.md).
    """
    if solver not in ("arpack", "lanczos"):
        raise ValueError(f"Invalid solver value: {solver!r} (choose 'arpack' or 'lanczos')")
    if which not in ("LA", "SA"):
        raise ValueError(f"Invalid which value: {which!r} (choose 'LA' or 'SA')")
    if not tol > 0:
        raise ValueError(f"Invalid tol value: {tol}")
    op = operator or HessianOperator(
        model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode, method=method
    )
    _check_k(k, op.num_params)
    if solver == "lanczos":
        if not isinstance(max_steps, int) or max_steps <= k:
            raise ValueError(f"Invalid max_steps value: {max_steps} (need an int > k = {k})")
        start = op.num_hvps
        vals, vecs = _lanczos_extreme(op, k, which, tol, max_steps, seed)
        return EigenResult(vals, vecs, op.num_hvps - start, which)
    return _arpack_extreme(op, k, which, tol, ncv, maxiter, seed)


def _arpack_extreme(
    op: HessianOperator,
    k: int,
    which: str,
    tol: float,
    ncv: int | None,
    maxiter: int | None,
    seed: int,
) -> EigenResult:
    from scipy.sparse.linalg import eigsh

    d = op.num_params
    ncv = min(d, max(2 * k + 1, 4 * k)) if ncv is None else ncv
    if not k < ncv <= d:
        raise ValueError(f"Invalid ncv value: {ncv} (need k < ncv <= {d})")
    v0 = np.random.default_rng(seed).standard_normal(d)
    start = op.num_hvps
    vals, vecs = eigsh(
        op.as_linear_operator(), k=k, which=which, tol=tol, ncv=ncv, maxiter=maxiter, v0=v0
    )
    order = np.argsort(-vals if which == "LA" else vals)
    return EigenResult(vals[order], vecs[:, order], op.num_hvps - start, which)


def _lanczos_extreme(
    op: HessianOperator, k: int, which: str, tol: float, max_steps: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from scipy.linalg import eigh_tridiagonal

    d, dt = op.num_params, op.flat.dtype
    steps = min(max_steps, d)
    q = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=dt).to(op.flat.device)
    q /= torch.linalg.vector_norm(q)
    basis = torch.empty((steps, d), dtype=dt, device=q.device)
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(steps):
        basis[j] = q
        w = op(q)
        alphas.append(float(torch.dot(w, q)))
        w = lanczos_residual(w, basis, j, alphas[-1], betas[-1] if betas else 0.0)
        b = float(torch.linalg.vector_norm(w))
        m = j + 1
        exhausted = b <= 1e-10 * max(abs(a) for a in alphas)
        if m >= k and (m % 5 == 0 or m == steps or exhausted):
            theta, s = (
                (np.array(alphas), np.ones((1, 1))) if m == 1 else eigh_tridiagonal(alphas, betas)
            )
            idx = np.argsort(-theta)[:k] if which == "LA" else np.argsort(theta)[:k]
            resid = b * np.abs(s[-1, idx])
            if exhausted or m == steps or np.all(resid <= tol * np.abs(theta[idx])):
                vecs = basis[:m].T @ torch.from_numpy(s[:, idx]).to(basis)
                return theta[idx], vecs.to(torch.float64).cpu().numpy()
        betas.append(b)
        q = w / b
    raise AssertionError("unreachable")  # the loop returns at m == steps


@dataclass
class TraceEstimate:
    """Hutchinson estimate of :math:`\\operatorname{tr}\\nabla^2 f`: ``trace``, its standard error
    ``stderr`` (sample standard deviation / sqrt(probes)), ``samples`` (each :math:`v^\\top Hv`)."""

    trace: float
    stderr: float
    samples: np.ndarray
    num_hvps: int


def hutchinson_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    num_probes: int = 100,
    *,
    dtype: torch.dtype | None = None,
    bn_mode: str = "eval",
    method: str = "rev_rev",
    seed: int = 0,
    operator: HessianOperator | None = None,
) -> TraceEstimate:
    """:math:`\\operatorname{tr}H\\approx\\frac1n\\sum_i v_i^\\top Hv_i` with Rademacher :math:`v_i`
    (unbiased; variance per probe :math:`2\\sum_{i\\ne j}H_{ij}^2`, the smallest among i.i.d.
    probe laws with unit-variance entries)."""
    if not isinstance(num_probes, int) or num_probes < 2:
        raise ValueError(f"Invalid num_probes value: {num_probes} (need an int >= 2)")
    op = operator or HessianOperator(
        model, loss_fn, batches, dtype=dtype, bn_mode=bn_mode, method=method
    )
    gen = torch.Generator().manual_seed(seed)
    samples, start = [], op.num_hvps
    for _ in range(num_probes):
        v = torch.randint(0, 2, (op.num_params,), generator=gen).to(op.flat.dtype) * 2 - 1
        samples.append(float(torch.dot(v, op(v).to(v.device))))
    s = np.asarray(samples)
    return TraceEstimate(
        float(s.mean()), float(s.std(ddof=1) / np.sqrt(len(s))), s, op.num_hvps - start
    )

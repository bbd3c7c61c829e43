"""``fused=True``: each gradient evaluation's update as one compiled elementwise pass.

The eager path (the subclasses' ``_consume`` / ``_direction`` over :class:`ListOps`) is the
reference; this module writes the same arithmetic once more as functions of tensor lists and hands
them to ``torch.compile`` (inductor: one C++ loop nest on CPU, Triton kernels on CUDA), so the
chain point, the buffers and a 16-bit parameter are read and written once per evaluation instead
of once per elementwise operation.  The operations and their order are the eager ones (the lerp in
torch's own two-branch form), so results agree to floating-point reassociation (FMA contraction).

Per chain the tensors are split by (device, state dtype); each part is one call.  Scalars that
change during training (coupling under scoping, learning rates under a scheduler) enter as 0-d
CPU tensors, never as Python floats, so they cause no recompiles; the flags that select a formula
(first evaluation, momentum, noise, which parameters are 16-bit) are Python constants, and each
combination gets its own compiled function (no shared recompile limit).

Gaussian noise is drawn eagerly from the optimizer's generator, in the eager order, so the stream
is the eager one: the default everywhere.  The in-kernel draw from a counter-based generator
(:mod:`~deeprelax.optim._philox`, off by default, see its ``NOISE_SOURCE``) reads no noise buffer.
"""

from __future__ import annotations

import math
import shutil
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from deeprelax.optim import _philox
from deeprelax.optim._validate import uses_nesterov

__all__ = ["check_fused", "fused_apply", "fused_consume", "fused_direction"]

_COMPILED: dict[tuple, Callable] = {}
# the inputs' sizes are guarded by dynamo already; inductor's per-call re-check costs ~50 us a step
_OPTIONS = {"size_asserts": False}


# -- availability ---------------------------------------------------------------------------------
def _compiler_available() -> bool:
    """Whether inductor can build CPU kernels here (a C++ compiler on the path)."""
    try:
        from torch._inductor import cpp_builder

        compiler = cpp_builder.get_cpp_compiler()
    except Exception:  # noqa: BLE001 - any failure to find one means no compiler
        return False
    return bool(compiler) and shutil.which(compiler) is not None


def _triton_available() -> bool:
    try:
        from torch.utils._triton import has_triton

        return bool(has_triton())
    except Exception:  # noqa: BLE001
        return False


def check_fused(opt: Any, params: list[Tensor]) -> None:
    """Raise a ``RuntimeError`` naming ``fused`` where the compiled update cannot run."""
    name = type(opt).__name__
    if getattr(opt, "_fused_rule", None) not in _RULES:
        raise ValueError(f"Invalid fused value: True ({name} has no fused update)")
    if not torch._dynamo.is_dynamo_supported():
        raise RuntimeError(
            f"{name}(fused=True) needs torch.compile, which this Python/torch "
            "build does not support: use fused=False"
        )
    kinds = {p.device.type for p in params}
    if "cpu" in kinds and not _compiler_available():
        raise RuntimeError(
            f"{name}(fused=True) on CPU compiles a C++ kernel, and no C++ compiler "
            "was found (install g++ or clang, or set CXX): use fused=False"
        )
    if "cuda" in kinds and not _triton_available():
        raise RuntimeError(
            f"{name}(fused=True) on CUDA needs Triton, which is not installed: use fused=False"
        )
    if any(hasattr(p, "to_local") for p in params):
        raise ValueError(
            f"Invalid fused value: True ({name}: DTensor/FSDP2 parameters take the "
            "eager path, use fused=False)"
        )


# -- compiled functions ---------------------------------------------------------------------------
def _compiled(fn: Callable, flags: tuple) -> Callable:
    """``fn`` compiled for one combination of flags, with its own code object (its own cache)."""
    key = (fn.__name__, *flags)
    compiled = _COMPILED.get(key)
    if compiled is None:
        clone = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__)
        compiled = _COMPILED[key] = torch.compile(clone, fullgraph=True, options=_OPTIONS)
    return compiled


def _lerp(start: Tensor, end: Tensor, w: Tensor, w_minus_1: Tensor, small: bool) -> Tensor:
    """torch.lerp's formula (its branch chosen on the host): the eager kernels' rounding."""
    return start + w * (end - start) if small else end + w_minus_1 * (end - start)


def _entropy_kernel(
    ys,
    grads,
    xs,
    means,
    bufs,
    noise,
    outs,
    s,
    first,
    wd,
    coupled,
    mom,
    nesterov,
    w_small,
    noisy,
    a_mode,
    out_idx,
):
    """``noisy``: 0 none, 1 ``noise`` holds the draws, 2 ``noise`` holds Philox offsets (key in s)."""
    wd_c, neg_c, neg_lr, neg_k, w, w1, std, alpha, alpha1 = s[:9]
    for i in range(len(ys)):
        y = ys[i]
        d = grads[i] + wd_c * y if wd else grads[i]
        if coupled:
            d = d + neg_c * xs[i]
        if mom:
            b = d * w if first else _lerp(bufs[i], d, w, w1, w_small)
            bufs[i].copy_(b)
            y = y + neg_lr * d + neg_k * b if nesterov else y + neg_k * b
        else:
            y = y + neg_lr * d
        if noisy == 1:
            y = y + std * noise[i]
        elif noisy == 2:
            y = y + std * _philox.normal(y, s[9], s[10], noise[i])
        # alpha = 1 (ProxSGD): lerp's ``y + 0 * (y - mu)`` is y, the old mean unread
        if a_mode == 2:
            means[i].copy_(y)
        else:
            means[i].copy_(_lerp(xs[i] if first else means[i], y, alpha, alpha1, a_mode == 0))
        ys[i].copy_(y)
    for j, i in enumerate(out_idx):
        outs[j].copy_(ys[i])


def _hj_kernel(ys, grads, xs, pvec, outs, s, first, wd, th_small, move, out_idx):
    wd_s, theta, theta1, neg_t = s
    for i in range(len(ys)):
        q = grads[i] + wd_s * ys[i] if wd else grads[i]
        p = q if first else _lerp(pvec[i], q, theta, theta1, th_small)
        pvec[i].copy_(p)
        if move:
            ys[i].copy_(xs[i] + neg_t * p)
    for j, i in enumerate(out_idx):
        outs[j].copy_(ys[i])


def _heat_kernel(ys, grads, xs, totals, noise, outs, s, accumulate, move, draw, out_idx):
    """``draw``: the noise is drawn here from the Philox offsets ``noise`` (else it is in ``ys``)."""
    std = s[0]
    for i in range(len(ys)):
        if accumulate == 1:
            totals[i].copy_(grads[i])
        elif accumulate == 2:
            totals[i].copy_(totals[i] + grads[i])
        if move:
            z = _philox.normal(ys[i], s[1], s[2], noise[i]) if draw else ys[i]
            ys[i].copy_(z * std + xs[i])
    for j, i in enumerate(out_idx):
        outs[j].copy_(ys[i])


def _direction_kernel(outs, base, xs, ags, s, sub, scale, wd, rho, write):
    inv_l, wd_s, rho_s = s
    finite = []
    for i in range(len(base)):
        d = xs[i] - base[i] if sub else base[i]
        if scale:
            d = d * inv_l
        if wd:
            d = d + wd_s * xs[i]
        if rho:
            d = d + rho_s * ags[i]
        if write:
            outs[i].copy_(d)
        finite.append(torch.isfinite(d).all())
    return torch.stack(finite).all()


def _apply_kernel(ds, bufs, xs, outs, s, mom, nesterov, out_idx):
    nu, neg_lr = s
    for i in range(len(ds)):
        u = ds[i]
        if mom:
            m = bufs[i] * nu + u
            bufs[i].copy_(m)
            u = u + nu * m if nesterov else m
        xs[i].copy_(xs[i] + neg_lr * u)
    for j, i in enumerate(out_idx):
        outs[j].copy_(xs[i])


# -- plumbing ---------------------------------------------------------------------------------------
def _scalars(dtype: torch.dtype, *values: float) -> tuple[Tensor, ...]:
    """0-d CPU tensors (in the arithmetic's dtype, as eager casts its alphas): no recompiles."""
    return torch.tensor(
        values, dtype=torch.float64 if dtype == torch.float64 else torch.float32
    ).unbind()


def _parts(tensors: list[Tensor]) -> list[list[int]]:
    """Indices of ``tensors`` grouped by (device, dtype): one compiled call per group."""
    parts: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        parts.setdefault((t.device, t.dtype), []).append(i)
    return list(parts.values())


def _run(
    fn: Callable,
    lists: list[list[Tensor]],
    outs: list[Tensor],
    write: bool,
    values: tuple[float, ...],
    flags: tuple,
    src: int = 0,
    rng_key: tuple = (),
) -> list[Tensor]:
    """Call ``fn`` once per (device, dtype) part; ``lists[0]`` sets the split.

    ``outs``: the chain's parameters, written from ``lists[src]`` where they are separate tensors
    (16-bit) and ``write`` is set.  ``rng_key``: a Philox key (two 0-d int64 tensors) appended to the
    scalars.  Returns what each call returned, in part order.
    """
    results = []
    parts = _parts(lists[0])
    for idx in parts:
        sub = lists if len(parts) == 1 else [[lst[i] for i in idx] if lst else lst for lst in lists]
        ref = sub[0]
        out_idx = tuple(j for j, i in enumerate(idx) if write and outs[i] is not lists[src][i])
        sub_outs = [outs[idx[j]] for j in out_idx]
        s = _scalars(ref[0].dtype, *values) + tuple(rng_key)
        # one code object per list length and dtype too: dynamo's recompile limit (8 per code
        # object, a hard error under fullgraph) is then only met by shapes, made dynamic at the second
        key = flags + (out_idx, len(idx), ref[0].dtype, ref[0].device.type)
        results.append(
            _compiled(fn, key)(*sub, sub_outs, s, *flags, out_idx)
            if fn is not _direction_kernel
            else _compiled(fn, key)(*sub, s, *flags)
        )
    return results


# -- the hooks the engine calls -------------------------------------------------------------------------
def _consume_entropy(opt: Any, chain: Any, write: bool) -> None:
    group, first = chain.group, chain.index == 0
    wd, c = group["weight_decay"], chain.coupling
    nu, lr_in, alpha = group["inner_momentum"], group["inner_lr"], group["alpha"]
    nesterov = uses_nesterov(group["nesterov"], nu)
    std = math.sqrt(2.0 * lr_in) * group["noise"]
    noisy = group["noise"] > 0
    key, noise = _philox.kernel_draw(opt, chain.points) if noisy else ((), [])
    if noisy and not key:
        noise = opt.work("noise", chain.points)
        opt._normal_(chain, noise)
    wd_c = wd if first else wd + c
    neg_k = -lr_in * nu / (1.0 - nu) if nesterov else -lr_in / (1.0 - nu)
    values = (wd_c, -c, -lr_in, neg_k, 1.0 - nu, (1.0 - nu) - 1.0, std, alpha, alpha - 1.0)
    flags = (
        first,
        bool(wd_c),
        not first and bool(c),
        bool(nu),
        nesterov,
        1.0 - nu < 0.5,
        (2 if key else 1) if noisy else 0,
        0 if alpha < 0.5 else (2 if alpha == 1.0 else 1),
    )
    lists = [
        chain.points,
        chain.grads,
        chain.anchors,
        opt._chain_buffers(chain, "inner_mean"),
        opt._chain_buffers(chain, "inner_momentum_buffer") if nu else [],
        noise,
    ]
    _run(_entropy_kernel, lists, chain.params, write, values, flags, rng_key=key)
    if opt.telemetry:
        if noisy:
            sq = std**2 * chain.ops.sum_of_squares(noise)
            opt._tele["noise_sq"] = opt._tele.get("noise_sq", 0.0) + sq
        opt._record_chain_distance(chain)


def _consume_hj(opt: Any, chain: Any, write: bool) -> None:
    group, first = chain.group, chain.index == 0
    wd, theta = group["weight_decay"], group["damping"]
    move = chain.index < group["L"]
    values = (wd, theta, theta - 1.0, -1.0 / chain.coupling)
    flags = (first, bool(wd), theta < 0.5, move)
    lists = [
        chain.points,
        chain.grads,
        chain.anchors,
        opt._chain_buffers(chain, "hj_direction"),
    ]
    _run(_hj_kernel, lists, chain.params, write and move, values, flags)
    if move and opt.telemetry:
        opt._record_chain_distance(chain)


def _consume_heat(opt: Any, chain: Any, write: bool) -> None:
    index, L = chain.index, chain.group["L"]
    move = index < L
    std = 1.0 / math.sqrt(chain.coupling)
    key, offsets = _philox.kernel_draw(opt, chain.points) if move else ((), [])
    if move and not key:
        opt._normal_(chain, chain.points)
        if opt.telemetry:
            sq = std**2 * chain.ops.sum_of_squares(chain.points)  # _tele is empty after a reload
            opt._tele["noise_sq"] = opt._tele.get("noise_sq", 0.0) + sq
    accumulate = 0 if index == 0 else (1 if index == 1 else 2)
    lists = [
        chain.points,
        chain.grads,
        chain.anchors,
        opt._chain_buffers(chain, "heat_grad_sum"),
        offsets,
    ]
    _run(
        _heat_kernel,
        lists,
        chain.params,
        write and move,
        (std,),
        (accumulate, move, bool(key)),
        rng_key=key,
    )


_RULES = {"entropy": _consume_entropy, "hj": _consume_hj, "heat": _consume_heat}


def fused_consume(opt: Any, chain: Any, write: bool) -> None:
    """One evaluation's update of ``chain`` (``write``: put the next point into 16-bit params)."""
    _RULES[opt._fused_rule](opt, chain, write)


def fused_direction(opt: Any, chain: Any) -> tuple[list[Tensor], Tensor | None]:
    """The outer direction ``D`` (written where the eager path writes it) and its finiteness."""
    group = chain.group
    if opt.telemetry and group["L"] > 0:  # the diagnostics' reductions stay eager
        d = opt._outer_direction(chain)
        return d, chain.ops.finite(d)
    rho = opt._control_weight(group) if group["L"] > 0 else 0.0
    ags = opt._chain_buffers(chain, "anchor_grad") if rho > 0 else []
    wd, sub, scale, L = 0.0, False, False, group["L"]
    if L == 0:
        base, wd = chain.grads, group["weight_decay"]
        outs = opt.work("direction", chain.anchors) if wd else base
    elif opt._fused_rule == "entropy":
        base, sub = opt._chain_buffers(chain, "inner_mean"), True
        outs = opt.work("direction", chain.anchors)  # the eager path's: mu_L stays in the state
    elif opt._fused_rule == "hj":
        base = outs = opt._chain_buffers(chain, "hj_direction")
    else:
        base = outs = opt._chain_buffers(chain, "heat_grad_sum")
        wd, scale = group["weight_decay"], True
    write = sub or scale or bool(wd) or rho > 0
    flags = (sub, scale, bool(wd), rho > 0, write)
    oks = _run(
        _direction_kernel,
        [outs, base, chain.anchors, ags],
        outs,
        False,
        (1.0 / max(L, 1), wd, rho),
        flags,
    )
    ok = oks[0] if len(oks) == 1 else torch.stack([o.to(oks[0].device) for o in oks]).all()
    return (outs if write else base), ok


def fused_apply(opt: Any, chain: Any, direction: list[Tensor]) -> None:
    """Momentum (torch.optim.SGD's), ``x <- x - lr * update`` and the 16-bit parameters' write."""
    group = chain.group
    momentum, lr = group["momentum"], group["lr"]
    lr = float(lr) if torch.is_tensor(lr) else lr
    nesterov = uses_nesterov(group["nesterov"], momentum)
    bufs = opt._chain_buffers(chain, "momentum_buffer") if momentum > 0 else []
    lists = [direction, bufs, chain.anchors]
    _run(_apply_kernel, lists, chain.params, True, (momentum, -lr), (momentum > 0, nesterov), src=2)
    for p, x in zip(chain.params, chain.anchors):
        if p is not x:
            opt._versions[id(p)] = p._version

"""The inner-loop engine shared by every relaxation optimizer.

Each relaxation method spends a fixed number ``n`` of gradient evaluations per *outer* step:
evaluation 0 is always at the anchor ``x`` (the weights being trained), the others at inner points
``y`` chosen by the method (a Langevin chain, a fixed-point iterate, a Gaussian perturbation).
After the last evaluation the method returns a direction ``D`` and the engine takes the outer step
``x <- x - lr * NAG(D)`` with momentum applied exactly as :class:`torch.optim.SGD` applies it.

The unit of the state machine is *one gradient evaluation*:

* ``step(closure)`` calls the closure ``n`` times, each time after the parameters were moved to the
  next evaluation point, and leaves the parameters at the new anchor;
* closure-free mode (``closure_free=True``): ``step()`` consumes the gradient in ``.grad`` as one
  evaluation, ``step(closure)`` calls the closure once and consumes that one evaluation; the outer
  step happens on every ``n``-th call.  ``inner_index`` tells a loop where it is (0: at the anchor).

Layouts (what ``torch.optim.SGD`` supports, the engine supports): several param groups, frozen
parameters and empty groups (a parameter takes part in an outer step when it has a gradient at the
step's first evaluation, as SGD skips parameters whose ``.grad`` is None), 16-bit parameters with
the state kept in ``state_dtype`` (float32 by default: the anchor, the chain point, the mean and the
momenta live there; the parameter is written from the chain point before each evaluation), CPU and
CUDA.  ``.grad`` is never written.  The state is created at construction, so
``torch.distributed.checkpoint`` finds it without stepping.

A subclass implements ``_evals_per_step(L)``, ``_consume(chain)`` (use the gradient at the current
point, move to the next one) and ``_direction(chain)`` (after the last evaluation: ``D``), over a
:class:`Chain` of lists with one entry per taking-part parameter of a group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from deeprelax.optim import _dtensor, _rng
from deeprelax.optim._fused import check_fused, fused_apply, fused_consume, fused_direction
from deeprelax.optim._noise import NoiseMixin
from deeprelax.optim._state import StateMixin
from deeprelax.optim._tensor_ops import ListOps, momentum_direction
from deeprelax.optim._validate import check_common, check_coupling, check_number, uses_nesterov
from deeprelax.optim.scoping import scoped_coupling

__all__ = [
    "Chain",
    "ListOps",
    "NonFiniteLossError",
    "RelaxedOptimizer",
    "check_common",
    "check_coupling",
    "check_number",
]


class NonFiniteLossError(FloatingPointError):
    """A NaN/inf loss or update was met; the parameters were left at the last finite anchor ``x``."""


@dataclasses.dataclass
class Chain:
    """One param group at one gradient evaluation: lists with an entry per taking-part parameter."""

    group: dict[str, Any]
    params: list[Tensor]  # what the model evaluates
    points: list[Tensor]  # the chain point y in the state dtype (the parameter itself if equal)
    grads: list[Tensor]  # the gradient at the current point, in the state dtype; read only
    anchors: list[Tensor]  # x in the state dtype (the parameter itself for L = 0 without a copy)
    ops: ListOps
    coupling: float
    index: int
    buffers: dict[str, list[Tensor]] = dataclasses.field(default_factory=dict)  # by state name


class RelaxedOptimizer(StateMixin, NoiseMixin, Optimizer):
    """Base class: the inner-loop state machine, the outer step, state, generator, anchor API."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        defaults: dict[str, Any],
        *,
        generator: torch.Generator | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
        state_dtype: torch.dtype | None = None,
        fused: bool | None = False,
    ) -> None:
        if state_dtype is not None and (
            not isinstance(state_dtype, torch.dtype) or not state_dtype.is_floating_point
        ):
            raise ValueError(f"Invalid state_dtype value: {state_dtype!r} (a floating torch.dtype)")
        self.state_dtype = state_dtype
        self._check_group(defaults)
        super().__init__(params, defaults)
        self.closure_free = bool(closure_free)
        self.telemetry = bool(telemetry)
        if fused not in (None, False, True):
            raise ValueError(f"Invalid fused value: {fused!r} (True or False)")
        self.fused = bool(fused)
        if self.fused:  # a clear error now, not at the first step
            check_fused(self, [p for p in self._all_params() if p.requires_grad])
        self._reset_transients()
        trainable = [p for p in self._all_params() if p.requires_grad]
        self.generator = _rng.check_generator(generator, trainable)
        self._own_generator = generator is None
        if self.generator is None and any(self._draws_noise(g) for g in self.param_groups):
            self.generator = _rng.new_generator(trainable[0].device if trainable else "cpu")
        self._outer  # noqa: B018 - creates the optimizer-wide state
        if self.generator is not None and any(_dtensor.is_dtensor(p) for p in trainable):
            self._outer["shard_seed"] = _dtensor.new_shard_seed(self.generator, trainable[0])
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    self._ensure_state(group, p)

    def _reset_transients(self) -> None:
        self.last_telemetry: dict[str, float] | None = None
        self._tele: dict[str, Any] = {}
        self._losses: list[tuple[int, Tensor]] = []
        self._versions: dict[int, int] = {}
        self._scratch: dict[tuple[str, int], Tensor] = {}
        self._step_chains: list[Chain] | None = None  # this outer step's chains, from evaluation 0

    # -- hooks ---------------------------------------------------------------------------------
    def _evals_per_step(self, L: int) -> int:
        raise NotImplementedError

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalise in place) one param group's hyper-parameters."""
        check_common(group)

    def _draws_noise(self, group: dict[str, Any]) -> bool:
        return False

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        """Per-parameter buffers of the method (besides the engine's), created at construction."""
        return []

    def _control_weight(self, group: dict) -> float:
        """Weight of the plain gradient at the anchor in ``D`` (the controlled variant's rho)."""
        return group.get("rho", 0.0)

    def _consume(self, chain: Chain) -> None:
        raise NotImplementedError

    def _direction(self, chain: Chain) -> list[Tensor]:
        raise NotImplementedError

    # -- the step --------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One outer step (closure mode), or one gradient evaluation (closure-free mode).

        Args:
            closure: re-evaluates the model on a *fresh* mini-batch: zero the gradients, forward,
                backward, return the loss.  Closure mode calls it ``evals_per_step`` times, after
                moving the parameters to each evaluation point; closure-free mode calls it once.

        Returns:
            closure mode: the loss of the first evaluation, taken at the anchor ``x``;
            closure-free mode: the closure's loss, or ``None`` without a closure.
        """
        if self._outer.get("eval_mode"):
            raise RuntimeError(
                f"{type(self).__name__} is in eval mode (opt.eval() put the anchor into the "
                "parameters): call opt.train() before the next step"
            )
        n = self.evals_per_step
        if closure is None:
            if n > 1 and not self.closure_free:
                raise RuntimeError(
                    f"{type(self).__name__} with L={self.param_groups[0]['L']} evaluates {n} gradients "
                    "per step: call step(closure), or construct it with closure_free=True and call "
                    "step() once per gradient"
                )
            self._advance(None)
            return None
        if self.closure_free:
            loss = self._evaluate(closure)
            self._advance(loss)
            return loss
        first_loss = None
        while True:
            index = self.inner_index
            loss = self._evaluate(closure)
            if index == 0:
                first_loss = loss
            if self._advance(loss):
                return first_loss

    def _evaluate(self, closure: Callable[[], Tensor]) -> Tensor:
        """Call the closure; if it raises, put x back and restart the chain before re-raising."""
        try:
            with torch.enable_grad():
                return closure()
        except BaseException:
            self._restore_anchor()
            raise

    def _chains(self, index: int) -> list[Chain]:
        chains = []
        for group in self.param_groups:
            params = []
            for p in group["params"]:
                st = self.state.get(p)
                if index == 0:
                    if p.grad is None:
                        if st:
                            st["in_chain"] = False
                        continue
                    st = self._ensure_state(group, p)
                    st["in_chain"] = True
                elif not st or not st.get("in_chain"):
                    continue  # joined mid-chain: takes part from the next outer step, untouched now
                params.append(p)
            if params:
                chains.append(self._chain(group, params, index))
        return chains

    def _next_chains(self, index: int) -> list[Chain]:
        """Evaluation ``index``'s chains: built at evaluation 0, then only the gradients renewed.

        Within an outer step the taking-part parameters, their state tensors and the coupling do
        not change, so evaluations 1 … n-1 reuse evaluation 0's lists (and the state lists the
        method looked up).  Whatever replaces the state or restarts the chain (``load_state_dict``,
        unpickling, an abort) drops them, and the lists are then rebuilt from the state.
        """
        cached = self._step_chains
        if index == 0 or cached is None:
            chains = self._chains(index)
        else:
            chains = cached
            for chain in chains:
                chain.grads = self._grads(chain.group, chain.params)
                chain.index = index
        self._step_chains = chains
        return chains

    def _chain(self, group: dict, params: list[Tensor], index: int) -> Chain:
        L = group["L"]
        points, anchors = [], []
        grads = self._grads(group, params)
        for p in params:
            st = self.state[p]
            points.append(st["point"] if L > 0 and self._separate(p) else p)
            anchors.append(st["anchor"] if "anchor" in st and (L > 0 or self._separate(p)) else p)
        kinds = {(t.device, t.dtype) for t in points}
        foreach = group["foreach"] if group["foreach"] is not None else len(kinds) <= 1
        if foreach and any(_dtensor.is_dtensor(t) for t in points):
            foreach = False  # the foreach kernels have no DTensor strategy (FSDP2)
        coupling = (
            scoped_coupling(
                group["gamma"], group["scoping"], self._outer["step"], group["gamma_max"]
            )
            if "gamma" in group
            else 0.0
        )
        return Chain(group, params, points, grads, anchors, ListOps(bool(foreach)), coupling, index)

    def _start(self, chain: Chain) -> None:
        """Evaluation 0: the anchor holds x, the chain point starts there."""
        sep = [i for i, p in enumerate(chain.params) if self._separate(p)]
        for i in sep:  # the parameter changed outside the optimizer (a loaded model): adopt it
            p, anchor = chain.params[i], chain.anchors[i]
            if self._versions.get(id(p)) != p._version and not torch.equal(anchor.to(p.dtype), p):
                anchor.copy_(p)
        if chain.group["L"] == 0:
            return
        separate = set(sep)
        own = [i for i in range(len(chain.params)) if i not in separate]
        chain.ops.copy_([chain.anchors[i] for i in own], [chain.params[i] for i in own])
        chain.ops.copy_([chain.points[i] for i in sep], [chain.anchors[i] for i in sep])

    def _advance(self, loss: Tensor | None) -> bool:
        """Consume one gradient evaluation; take the outer step after the last. True when it did."""
        g = self._outer
        index, n = g["inner_index"], self.evals_per_step
        if loss is not None:
            self._losses.append((index, torch.as_tensor(loss).detach()))
        if index == 0 and self.telemetry:
            self._tele = {"grad_norm_sq": 0.0, "noise_sq": 0.0, "chain_sq": {}}
        chains = self._next_chains(index)
        for chain in chains:
            if index == 0:
                self._start(chain)
            if chain.group["L"] == 0:
                continue
            if index == 0 and "anchor_grad" in self.state[chain.params[0]]:
                chain.ops.copy_(self._chain_buffers(chain, "anchor_grad"), chain.grads)
            if index == 0 and self.telemetry:
                self._tele["grad_norm_sq"] += chain.ops.sum_of_squares(chain.grads)
            if self.fused:  # one compiled pass, the next point's 16-bit write included
                fused_consume(self, chain, write=index + 1 < n)
                continue
            self._consume(chain)
            if index + 1 < n:
                self._write_points(chain)
        g["grad_evals"] += 1
        if index + 1 < n:
            g["inner_index"] = index + 1
            return False
        self._step_chains = None
        self._outer_step(chains)
        g["inner_index"] = 0
        g["step"] += 1
        return True

    def _write_points(self, chain: Chain) -> None:
        """16-bit parameters: write the next evaluation point from the state-dtype chain point."""
        pairs = [(p, y) for p, y in zip(chain.params, chain.points) if p is not y]
        for p, y in pairs:
            p.copy_(y)

    def _sgd_direction(self, chain: Chain) -> list[Tensor]:
        """L = 0: ``g + wd x``, formed out of place as torch.optim.SGD does (``.grad`` untouched)."""
        wd = chain.group["weight_decay"]
        return chain.ops.add(chain.grads, chain.anchors, alpha=wd) if wd else chain.grads

    def _outer_direction(self, chain: Chain) -> list[Tensor]:
        group = chain.group
        if group["L"] == 0:
            return self._sgd_direction(chain)
        direction = self._direction(chain)
        if self.telemetry:  # |D| and its cosine with the plain gradient, before the rho term
            anchor_grad = self._chain_buffers(chain, "anchor_grad")
            self._tele["relaxed_sq"] = self._tele.get("relaxed_sq", 0.0) + chain.ops.sum_of_squares(
                direction
            )
            self._tele["dot"] = self._tele.get("dot", 0.0) + chain.ops.dot(direction, anchor_grad)
        control = self._control_weight(group)
        if control > 0:
            chain.ops.add_(direction, self._chain_buffers(chain, "anchor_grad"), alpha=control)
        return direction

    def _outer_step(self, chains: list[Chain]) -> None:
        planned, flags = [], []
        for chain in chains:
            if self.fused:
                direction, finite = fused_direction(self, chain)
            else:
                direction = self._outer_direction(chain)
                finite = chain.ops.finite(direction)
            planned.append((chain, direction))
            flags.append(finite)
        self._check_finite(flags, chains)
        for chain, direction in planned:
            if self.fused:
                fused_apply(self, chain, direction)
                continue
            group = chain.group
            momentum = group["momentum"]
            buffers = self._chain_buffers(chain, "momentum_buffer") if momentum > 0 else []
            update = momentum_direction(
                chain.ops, direction, buffers, momentum, uses_nesterov(group["nesterov"], momentum)
            )
            lr = group["lr"]
            chain.ops.add_(chain.anchors, update, alpha=-(float(lr) if torch.is_tensor(lr) else lr))
            for p, x in zip(chain.params, chain.anchors):
                if p is not x:
                    p.copy_(x)
                    self._versions[id(p)] = p._version
        if self.telemetry:
            self._record_telemetry(planned)

    def _check_finite(self, flags: list[Tensor | None], chains: list[Chain]) -> None:
        """The one host sync of an outer step: losses and directions finite, else abort."""
        losses = self._losses
        self._losses = []
        checks = [f for f in flags if f is not None]
        checks += [torch.isfinite(v).all() for _, v in losses]
        if not checks:
            return
        ok = torch.stack([c.to(checks[0].device) for c in checks]).all()
        if "shard_seed" in self._outer or any(
            _dtensor.is_dtensor(p) for c in chains for p in c.params
        ):
            ok = _dtensor.agree_finite(
                ok, [p for c in chains for p in c.params]
            )  # FSDP2: all ranks
        if bool(ok):
            return
        bad = [i for i, v in losses if not bool(torch.isfinite(v).all())]
        if bad:
            self._abort(f"non-finite loss at inner step {bad[0]}")
        self._abort(
            "non-finite update direction (a NaN/inf gradient in the inner loop) at inner "
            f"step {self.evals_per_step - 1}"
        )

    def _abort(self, why: str) -> None:
        """Restore the last finite anchor, reset the inner loop, raise NonFiniteLossError."""
        self._restore_anchor()
        raise NonFiniteLossError(
            f"{type(self).__name__}: {why} of outer step {self._outer['step']}; "
            "the parameters were left at the last finite anchor x"
        )

"""The inner-loop engine shared by every relaxation optimizer.

Each relaxation method spends a fixed number ``n`` of gradient evaluations per *outer* step:
evaluation 0 is always at the anchor ``x`` (the weights being trained), the others at inner points
chosen by the method (a Langevin chain, a fixed-point iterate, a Gaussian perturbation).  After
the last evaluation the method returns a direction ``D`` and the engine takes the outer step
``x <- x - lr * NAG(D)`` with momentum applied exactly as :class:`torch.optim.SGD` applies it to a
gradient.

The engine is a state machine whose unit is *one gradient evaluation*:

* ``step(closure)`` (closure mode) calls the closure ``n`` times, each time after the parameters
  were moved to the next evaluation point, and leaves the parameters at the new anchor;
* ``step()`` without a closure (closure-free mode) consumes the gradient currently in ``.grad`` as
  one evaluation, then moves the parameters to the next evaluation point (the new anchor after
  every ``n``-th call).  ``inner_index`` tells a loop where it is: 0 means the parameters hold the
  anchor and the next gradient starts a new outer step.

Both modes run the same code, so they produce the same trajectory for the same mini-batches and
the same generator seed.  All state that a resume needs (buffers, counters, the generator's
state) lives in ``self.state`` and ``param_groups``.

A subclass implements three hooks over lists of tensors (one entry per parameter of a group):
``_evals_per_step(L)``, ``_consume(group, params, grads, index, coupling)`` and
``_direction(group, params, coupling)``.  List arithmetic goes through :class:`ListOps`, which runs
either a plain per-tensor loop or the ``torch._foreach_*`` kernels; the two must agree (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from deeprelax.optim._tensor_ops import ListOps, nesterov_momentum
from deeprelax.optim._validate import check_common, check_coupling, check_number
from deeprelax.optim.scoping import scoped_coupling

__all__ = [
    "ListOps",
    "NonFiniteLossError",
    "RelaxedOptimizer",
    "check_common",
    "check_coupling",
    "check_number",
    "nesterov_momentum",
]

_GLOBAL = "relax"  # key of the optimizer-wide state, kept under the first parameter


class NonFiniteLossError(FloatingPointError):
    """A NaN/inf loss or update was met; the parameters were left at the last finite anchor ``x``."""


class RelaxedOptimizer(Optimizer):
    """Base class: the inner-loop state machine, the outer step, state, generator, telemetry."""

    #: True for methods that draw Gaussian noise (they need a generator).
    stochastic = False

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        defaults: dict[str, Any],
        *,
        generator: torch.Generator | None = None,
        closure_free: bool = False,
        telemetry: bool = False,
    ) -> None:
        super().__init__(params, defaults)
        first = self.param_groups[0]["params"][0]
        if generator is None:
            # Seeded from the global RNG, so torch.manual_seed makes runs repeatable.
            seed = int(torch.randint(0, 2**62, (1,)).item())
            generator = torch.Generator(device=first.device)
            generator.manual_seed(seed)
        elif not isinstance(generator, torch.Generator):
            raise ValueError(f"Invalid generator value: {generator!r} (a torch.Generator or None)")
        self.generator = generator
        self.closure_free = bool(closure_free)
        self.telemetry = bool(telemetry)
        self.last_telemetry: dict[str, float] | None = None
        self._tele: dict[str, float] = {}

    # -- hooks ---------------------------------------------------------------------------------
    def _evals_per_step(self, L: int) -> int:
        raise NotImplementedError

    def _control_weight(self, group: dict) -> float:
        """Weight of the plain gradient at the anchor in the outer direction (the controlled
        variant's rho); subclasses whose ``rho`` means something else return 0 here."""
        return group["rho"]

    def _consume(
        self, group: dict, params: list[Tensor], grads: list[Tensor], index: int, coupling: float
    ) -> None:
        """Use the gradient ``grads`` evaluated at the current parameters (evaluation ``index``),
        then move the parameters to the next evaluation point (not after the last one)."""
        raise NotImplementedError

    def _direction(
        self, group: dict, params: list[Tensor], coupling: float
    ) -> tuple[list[Tensor], list[Tensor]]:
        """After the last evaluation: return ``(anchors, D)``, the anchor tensors (the parameters
        themselves when the step has a single evaluation) and the outer direction."""
        raise NotImplementedError

    # -- group and state helpers ---------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        Ls = {g["L"] for g in self.param_groups}
        if len(Ls) > 1:
            raise ValueError(f"Invalid L value: every param group must use the same L, got {sorted(Ls)}")

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(generator=self.generator, closure_free=self.closure_free, telemetry=self.telemetry)
        return state

    def __setstate__(self, state: dict) -> None:
        # Called by pickling (all keys) and by load_state_dict (only state and param_groups):
        # keep the construction-time settings that the latter does not carry.
        state = dict(state)
        self.generator = state.pop("generator", None) or getattr(self, "generator", torch.Generator())
        self.closure_free = state.pop("closure_free", getattr(self, "closure_free", False))
        self.telemetry = state.pop("telemetry", getattr(self, "telemetry", False))
        self.last_telemetry, self._tele = None, {}
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("gamma_max", None)
            group.setdefault("rho", 0.0)

    @property
    def _global(self) -> dict[str, Any]:
        st = self.state[self.param_groups[0]["params"][0]]
        if _GLOBAL not in st:
            st[_GLOBAL] = {"step": 0, "inner_index": 0, "grad_evals": 0}
        return st[_GLOBAL]

    @property
    def evals_per_step(self) -> int:
        """Gradient evaluations (closure calls) per outer step."""
        return self._evals_per_step(self.param_groups[0]["L"])

    @property
    def grad_evals(self) -> int:
        """Gradient evaluations consumed so far (the x-axis of effective epochs)."""
        return int(self._global["grad_evals"])

    @property
    def outer_steps(self) -> int:
        """Outer steps completed so far (the scoping counter k)."""
        return int(self._global["step"])

    @property
    def inner_index(self) -> int:
        """Index of the next gradient evaluation within the outer step; 0 = parameters at the anchor."""
        return int(self._global["inner_index"])

    def coupling(self, group: dict | None = None) -> float:
        """Current coupling gamma_k of a group (the first group by default)."""
        group = self.param_groups[0] if group is None else group
        return scoped_coupling(group["gamma"], group["scoping"], self.outer_steps, group["gamma_max"])

    def _ops(self, group: dict, params: list[Tensor]) -> ListOps:
        foreach = group["foreach"]
        if foreach is None:
            foreach = len({(p.device, p.dtype) for p in params}) <= 1
        return ListOps(bool(foreach))

    def _params_and_grads(self, group: dict) -> tuple[list[Tensor], list[Tensor]]:
        params, grads = [], []
        for p in group["params"]:
            if not p.requires_grad:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            params.append(p)
            grads.append(p.grad)
        return params, grads

    def _buffer(self, p: Tensor, name: str) -> Tensor:
        st = self.state[p]
        if name not in st:
            st[name] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return st[name]

    def buffers(self, params: list[Tensor], name: str) -> list[Tensor]:
        return [self._buffer(p, name) for p in params]

    # -- state_dict with the generator ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self._global["rng_state"] = self.generator.get_state()
        return super().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        rng = self._global.get("rng_state")
        if rng is not None:
            # torch casts state tensors to the parameter's dtype on load; the bytes 0..255 survive
            # any float dtype exactly, so cast them back.
            self.generator.set_state(rng.to(device="cpu", dtype=torch.uint8))

    # -- the step --------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        """One outer step (closure mode), or one gradient evaluation (closure-free mode).

        Args:
            closure: re-evaluates the model on a *fresh* mini-batch: zero the gradients, forward,
                backward, return the loss.  Called ``evals_per_step`` times; the parameters are
                moved to each evaluation point before the call.

        Returns:
            closure mode: the loss of the first evaluation, taken at the anchor ``x``;
            closure-free mode: ``None``.
        """
        n = self.evals_per_step
        if closure is None:
            if n > 1 and not self.closure_free:
                raise RuntimeError(
                    f"{type(self).__name__} with L={self.param_groups[0]['L']} evaluates {n} gradients "
                    "per step: call step(closure), or construct it with closure_free=True and call "
                    "step() once per gradient"
                )
            self._advance()
            return None
        first_loss = None
        while True:
            index = self.inner_index
            with torch.enable_grad():
                loss = closure()
            if loss is not None and not bool(torch.isfinite(torch.as_tensor(loss)).all()):
                self._abort(index, f"non-finite loss {float(torch.as_tensor(loss).sum())}")
            if index == 0:
                first_loss = loss
            if self._advance():
                return first_loss

    def _advance(self) -> bool:
        """Consume one gradient evaluation; take the outer step after the last. True when it did."""
        g = self._global
        index, n = g["inner_index"], self.evals_per_step
        per_group = []
        if index == 0 and self.telemetry:
            self._tele = {"grad_norm_sq": 0.0, "noise_sq": 0.0, "chain_sq": {}}
        for group in self.param_groups:
            params, grads = self._params_and_grads(group)
            ops = self._ops(group, params)
            coupling = scoped_coupling(group["gamma"], group["scoping"], g["step"], group["gamma_max"])
            if index == 0 and group["L"] > 0 and (self._control_weight(group) > 0 or self.telemetry):
                ops.copy_(self.buffers(params, "anchor_grad"), grads)
            if index == 0 and self.telemetry:
                self._tele["grad_norm_sq"] += ops.sum_of_squares(grads)
            self._consume(group, params, grads, index, coupling)
            per_group.append((group, params, ops, coupling))
        g["grad_evals"] += 1
        if index + 1 < n:
            g["inner_index"] = index + 1
            return False
        self._outer_step(per_group, n)
        g["inner_index"] = 0
        g["step"] += 1
        return True

    def _outer_step(self, per_group: list, n: int) -> None:
        planned = []
        for group, params, ops, coupling in per_group:
            anchors, direction = self._direction(group, params, coupling)
            relaxed_sq = ops.sum_of_squares(direction) if self.telemetry else 0.0
            cos_dot = 0.0
            if group["L"] > 0 and self.telemetry:
                cos_dot = ops.dot(direction, self.buffers(params, "anchor_grad"))
            control = self._control_weight(group)
            if group["L"] > 0 and control > 0:
                ops.add_(direction, self.buffers(params, "anchor_grad"), alpha=control)
            if not ops.all_finite(direction):
                self._abort(n - 1, "non-finite update direction (a NaN/inf gradient in the inner loop)")
            planned.append((group, params, ops, coupling, anchors, direction, relaxed_sq, cos_dot))
        for group, params, ops, _, anchors, direction, _, _ in planned:
            first = "momentum_buffer" not in self.state[params[0]]
            buffers = self.buffers(params, "momentum_buffer") if group["momentum"] > 0 else []
            update = nesterov_momentum(ops, direction, buffers, group["momentum"], group["nesterov"], first)
            ops.add_(anchors, update, alpha=-group["lr"])
            if anchors is not params:
                ops.copy_(params, anchors)
        if self.telemetry:
            self._record_telemetry(planned)

    def _record_telemetry(self, planned: list) -> None:
        t = self._tele
        relaxed = sum(x[6] for x in planned)
        dot = sum(x[7] for x in planned)
        gn, rn = math.sqrt(t.get("grad_norm_sq", 0.0)), math.sqrt(relaxed)
        chain = [math.sqrt(v) for v in t.get("chain_sq", {}).values()]
        self.last_telemetry = {
            "outer_step": self.outer_steps,
            "grad_norm": gn,
            "relaxed_grad_norm": rn,
            "cosine": dot / (gn * rn) if gn > 0 and rn > 0 else float("nan"),
            "gamma": planned[0][3],
            "noise_norm": math.sqrt(t.get("noise_sq", 0.0)),
            "mean_chain_distance": sum(chain) / len(chain) if chain else 0.0,
        }

    def _abort(self, index: int, why: str) -> None:
        """Restore the last finite anchor, reset the inner loop, raise NonFiniteLossError."""
        if index > 0:
            for group in self.param_groups:
                for p in group["params"]:
                    anchor = self.state[p].get("anchor")
                    if p.requires_grad and anchor is not None:
                        p.copy_(anchor)
        k = self._global["step"]
        self._global["inner_index"] = 0
        raise NonFiniteLossError(
            f"{type(self).__name__}: {why} at inner step {index} of outer step {k}; "
            "the parameters were left at the last finite anchor x"
        )

    def _keep_sgd_direction(self, params: list[Tensor], grads: list[Tensor], wd: float) -> None:
        """L = 0, plain SGD: the direction g + wd x, formed out of place as torch.optim.SGD does."""
        self._sgd_direction = (
            torch._foreach_add(grads, params, alpha=wd) if wd else [g.clone() for g in grads]
        )

    def _take_sgd_direction(self, params: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        direction, self._sgd_direction = self._sgd_direction, None
        return params, direction

    def _add_noise(self, ys: list[Tensor], std: float, ops: ListOps) -> None:
        """y <- y + std * N(0, I), drawn from the optimizer's generator, parameter by parameter."""
        noise = [self._scratch_like(y) for y in ys]
        for z in noise:
            z.normal_(generator=self.generator)
        ops.add_(ys, noise, alpha=std)
        if self.telemetry:
            self._tele["noise_sq"] = self._tele.get("noise_sq", 0.0) + std**2 * ops.sum_of_squares(noise)

    def _scratch_like(self, p: Tensor) -> Tensor:
        """A reusable work buffer shaped like ``p``: not state (never saved), allocated once."""
        scratch = self.__dict__.setdefault("_scratch", {})
        buf = scratch.get(p)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype or buf.device != p.device:
            buf = scratch[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        return buf

    def _record_chain_distance(self, index: int, points: list[Tensor], anchors: list[Tensor]) -> None:
        """Telemetry: |y_i - x| of evaluation point i, summed over groups."""
        sq = ListOps(True).sum_of_squares(torch._foreach_sub(points, anchors))
        chain = self._tele.setdefault("chain_sq", {})
        chain[index] = chain.get(index, 0.0) + sq

"""Optimizer state of the relaxation engine: buffers in the state dtype, counters, the anchor API,
param groups, pickling and ``state_dict`` with the generator.  A mixin of
:class:`~deeprelax.optim._engine.RelaxedOptimizer`.

All state lives in ``self.state`` and ``param_groups``: per parameter the anchor ``x`` and the
method's buffers (in ``state_dtype``), optimizer-wide (under the first parameter, as LBFGS keeps its
own, key ``"outer"``) the state of the outer loop: the outer-step counter, the index of the next
evaluation within the outer step, the evaluation count, the eval-mode flag and the generator's
state.  Checkpoints written before the key was renamed keep it under ``"relax"``; they load.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from deeprelax.optim import _rng
from deeprelax.optim.scoping import scoped_coupling

_OUTER = "outer"  # key of the optimizer-wide state (the outer loop's), under the first parameter
_OLD_OUTER = "relax"  # its name in checkpoints of earlier versions
_SIXTEEN_BIT = (torch.float16, torch.bfloat16)


class StateMixin:
    """State, counters and the anchor API (``eval``/``train``) of a relaxation optimizer."""

    param_groups: list[dict[str, Any]]
    state: Any

    def _all_params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def _outer(self) -> dict[str, Any]:
        """The optimizer-wide state: counters of the outer loop, eval mode, the generator's state."""
        st = self.state[self._all_params()[0]]
        if _OUTER not in st:
            if _OLD_OUTER in st:  # an optimizer unpickled from an earlier version
                st[_OUTER] = st.pop(_OLD_OUTER)
            else:
                st[_OUTER] = {"step": 0, "inner_index": 0, "grad_evals": 0, "eval_mode": False}
        return st[_OUTER]

    def _state_dtype(self, p: Tensor) -> torch.dtype:
        if self.state_dtype is not None:
            return self.state_dtype
        return torch.float32 if p.dtype in _SIXTEEN_BIT else p.dtype

    def _separate(self, p: Tensor) -> bool:
        """Whether the chain point and anchor live in a copy (state dtype != parameter dtype)."""
        return self._state_dtype(p) != p.dtype

    def _ensure_state(self, group: dict, p: Tensor) -> dict[str, Any]:
        """Create the parameter's buffers (in the state dtype); follow the parameter's device and
        dtype (``model.cuda()``, ``model.double()`` after construction)."""
        st = self.state[p]
        dtype = self._state_dtype(p)
        if any(
            torch.is_tensor(v)
            and (v.device != p.device or (v.is_floating_point() and v.dtype != dtype))
            for v in st.values()
        ):
            for k, v in list(st.items()):
                if torch.is_tensor(v):
                    st[k] = v.to(p.device, dtype=dtype if v.is_floating_point() else v.dtype)
        names = list(self._state_names(group)) if group["L"] > 0 else []
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        if group["L"] > 0 and (self._control_weight(group) > 0 or self.telemetry):
            names.append("anchor_grad")
        separate = self._separate(p)
        if (group["L"] > 0 or separate) and "anchor" not in st:
            st["anchor"] = p.detach().to(dtype=dtype, copy=True)
        if separate and group["L"] > 0:
            names.append("point")
        for name in names:
            if name not in st:
                st[name] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
        return st

    def _buffer(self, p: Tensor, name: str) -> Tensor:
        st = self.state[p]
        if name not in st:
            st[name] = torch.zeros_like(
                p, dtype=self._state_dtype(p), memory_format=torch.preserve_format
            )
        return st[name]

    def _buffers_for(self, params: list[Tensor], name: str) -> list[Tensor]:
        """The per-parameter state tensors ``name`` of ``params`` (created if missing)."""
        return [self._buffer(p, name) for p in params]

    def _grads(self, group: dict, params: list[Tensor]) -> list[Tensor]:
        """The gradients at the current point in the state dtype (negated for ``maximize``)."""
        grads = []
        maximize = group.get("maximize")
        for p in params:
            g = p.grad
            if g is None:
                g = self._zeros(p)
            elif g.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            dtype = self._state_dtype(p)
            g = g if g.dtype == dtype else g.to(dtype)
            grads.append(g.neg() if maximize else g)  # .grad itself is only read
        return grads

    def _chain_buffers(self, chain: Any, name: str) -> list[Tensor]:
        """The state tensors ``name`` of the chain's parameters, looked up once per outer step."""
        buffers = chain.buffers.get(name)
        if buffers is None:
            buffers = chain.buffers[name] = self._buffers_for(chain.params, name)
        return buffers

    def _work(self, slot: str, like: Tensor) -> Tensor:
        """A reusable work tensor shaped like ``like``: not state (never saved), allocated once."""
        buf = self._scratch.get((slot, id(like)))
        if (
            buf is None
            or buf.shape != like.shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = self._scratch[(slot, id(like))] = torch.empty_like(
                like, memory_format=torch.preserve_format
            )
        return buf

    def work(self, slot: str, tensors: list[Tensor]) -> list[Tensor]:
        """Reusable work tensors shaped like ``tensors`` (no allocation per evaluation)."""
        return [self._work(slot, t) for t in tensors]

    def _zeros(self, like: Tensor) -> Tensor:
        """A zero gradient for a parameter that takes part but got no gradient at this point."""
        return self._work("zero_grad", like).zero_()

    # -- counters --------------------------------------------------------------------------------
    @property
    def evals_per_step(self) -> int:
        """Gradient evaluations (closure calls) per outer step."""
        return self._evals_per_step(self.param_groups[0]["L"])

    @property
    def grad_evals(self) -> int:
        """Gradient evaluations consumed so far (the x-axis of effective epochs)."""
        return int(self._outer["grad_evals"])

    @property
    def outer_steps(self) -> int:
        """Outer steps completed so far (the scoping counter k)."""
        return int(self._outer["step"])

    @property
    def inner_index(self) -> int:
        """Index of the next gradient evaluation within the outer step; 0 = parameters at the anchor."""
        return int(self._outer["inner_index"])

    @property
    def at_anchor(self) -> bool:
        """Whether the parameters hold the anchor ``x`` (between outer steps, or after ``eval()``)."""
        g = self._outer
        return g["inner_index"] == 0 or bool(g.get("eval_mode"))

    def coupling(self, group: dict | None = None) -> float:
        """Current coupling gamma_k of a group (the first group by default)."""
        group = self.param_groups[0] if group is None else group
        return scoped_coupling(
            group["gamma"], group["scoping"], self.outer_steps, group["gamma_max"]
        )

    # -- the anchor API (schedule-free's protocol) ---------------------------------------------
    def _moved(self) -> list[Tensor]:
        """Parameters that may hold an inner point now (taking part in the current outer step)."""
        moved = []
        for p in self._all_params():
            st = self.state.get(p)
            if st and st.get("in_chain") and "anchor" in st:
                moved.append(p)
        return moved

    @torch.no_grad()
    def eval(self) -> None:
        """Put the anchor ``x`` into the parameters, wherever the chain is (evaluation, saving)."""
        g = self._outer
        if g["inner_index"] == 0 or g.get("eval_mode"):
            return
        for p in self._moved():
            st = self.state[p]
            if not self._separate(p):
                st["chain_point"] = p.detach().clone()
            p.copy_(st["anchor"])
        g["eval_mode"] = True

    @torch.no_grad()
    def train(self) -> None:
        """Put the chain point back into the parameters, bit for bit (undoes :meth:`eval`)."""
        g = self._outer
        if not g.get("eval_mode"):
            return
        for p in self._moved():
            st = self.state[p]
            p.copy_(st["point"] if self._separate(p) else st.pop("chain_point"))
        g["eval_mode"] = False

    def _restore_anchor(self) -> None:
        """Put x back into every parameter the chain moved, and restart the chain."""
        for p in self._moved():
            p.copy_(self.state[p]["anchor"])
            self.state[p].pop("chain_point", None)
        g = self._outer
        g["inner_index"] = 0
        g["eval_mode"] = False
        self._losses = []
        self._step_chains = None

    # -- param groups and pickling -------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1])
            Ls = {g["L"] for g in self.param_groups}
            if len(Ls) > 1:
                raise ValueError(
                    f"Invalid L value: every param group must use the same L, got {sorted(Ls)}"
                )
        except ValueError:
            self.param_groups.pop()
            raise
        if hasattr(self, "_versions"):  # after construction: state for the newcomers now
            group = self.param_groups[-1]
            for p in group["params"]:
                if p.requires_grad:
                    self._ensure_state(group, p)
            if self.generator is None and self._draws_noise(group):
                self.generator = _rng.new_generator(
                    group["params"][0].device if group["params"] else "cpu"
                )

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(
            generator=self.generator,
            closure_free=self.closure_free,
            telemetry=self.telemetry,
            state_dtype=self.state_dtype,
            own_generator=self._own_generator,
            fused=self.fused,
        )
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        for key, default in (
            ("generator", None),
            ("closure_free", False),
            ("telemetry", False),
            ("state_dtype", None),
            ("own_generator", True),
            ("fused", False),
        ):
            value = state.pop(
                key, getattr(self, key if key != "own_generator" else "_own_generator", default)
            )
            setattr(self, key if key != "own_generator" else "_own_generator", value)
        super().__setstate__(state)
        self._reset_transients()
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            if "gamma" in group:
                group.setdefault("gamma_max", None)

    def _check_loaded_groups(self) -> None:
        """Validate the param groups just loaded (upgraded by ``__setstate__``): ``ValueError``
        naming the group and the keyword."""
        name = type(self).__name__
        for i, group in enumerate(self.param_groups):
            try:
                self._check_group(group)
            except KeyError as exc:
                raise ValueError(
                    f"{name}.load_state_dict: param group {i} has no {exc.args[0]!r}; "
                    f"the state_dict was saved by another optimizer than {name}"
                ) from None
            except ValueError as exc:
                raise ValueError(f"{name}.load_state_dict: param group {i}: {exc}") from None
        if len({g["L"] for g in self.param_groups}) > 1:
            raise ValueError(f"{name}.load_state_dict: param groups with different L values")

    # -- state_dict: the generator, and buffers kept in the state dtype --------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.generator is not None:
            self._outer.update(_rng.saved_state(self.generator))
        return super().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict
        before = self.state, self.param_groups
        super().load_state_dict(state_dict)
        try:
            self._check_loaded_groups()
        except ValueError:
            self.state, self.param_groups = before  # nothing loaded
            self._reset_transients()
            raise
        # torch casts floating state to the parameter's dtype: put the state dtype back from
        # the saved tensors, and the optimizer-wide dict (with the generator's bytes) as saved.
        ids = [i for g in saved["param_groups"] for i in g["params"]]
        by_id = dict(zip(ids, self._all_params()))
        for key, values in saved["state"].items():
            p = by_id.get(key)
            if p is None:
                continue
            for name, value in values.items():
                if name in (_OUTER, _OLD_OUTER):
                    self.state[p].pop(_OLD_OUTER, None)
                    self.state[p][_OUTER] = dict(value)
                elif torch.is_tensor(value) and value.is_floating_point():
                    self.state[p][name] = value.to(
                        device=p.device, dtype=self._state_dtype(p), copy=True
                    )
            if "anchor" in values and "in_chain" not in values:
                self.state[p]["in_chain"] = True  # a checkpoint written before the flag existed
        self._reset_transients()
        g = self._outer
        g.setdefault("eval_mode", False)
        if g.get("rng_state") is not None:
            if self.generator is None:
                device = next((p.device for p in self._all_params() if p.requires_grad), "cpu")
                self.generator, self._own_generator = _rng.new_generator(device, 0), True
            _rng.restore_state(self.generator, g["rng_state"], g.get("rng_device"))

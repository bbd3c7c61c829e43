"""What Elastic-SGD and Parle share: the reference, the elastic coupling kappa, the replica step.

Both run on the engine (:class:`~deeprelax.optim._engine.RelaxedOptimizer`): the engine forms the
method's direction ``D`` (the plain gradient for ``L = 0``, Entropy-SGD's ``x - mu`` otherwise),
:class:`ElasticCoupling` adds ``kappa_k (x - r)`` and wraps the step in the replicas' one
all-reduce per outer step (:mod:`deeprelax.optim.replica._reduce`).

Earlier releases called the coupling ``rho`` (``rho_max``) and the process group ``group``; those
keywords, param-group keys and state-dict keys still work for one release, with a
``DeprecationWarning`` for the keywords.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from deeprelax.optim._engine import Chain, NonFiniteLossError
from deeprelax.optim.replica._reduce import all_reduce_reference, check_agreement
from deeprelax.optim.scoping import scoped_coupling

#: keywords (and param-group keys) of earlier releases -> today's
RENAMED = {"rho": "kappa", "rho_max": "kappa_max", "group": "process_group"}
KAPPA_MAX = 10.0  # the cap's default (Parle's), also for param groups saved without one


def _renamed(owner: str, given: dict[str, Any], what: str, stacklevel: int) -> dict[str, Any]:
    """``given`` with the deprecated names replaced (a warning each); both names: ValueError."""
    out = dict(given)
    for old, new in RENAMED.items():
        if old not in out or (what == "param group key" and old == "group"):
            continue
        if new in out:
            raise ValueError(
                f"Invalid {old} value: {owner} got both {old!r} (deprecated) and "
                f"{new!r}; pass only {new!r}"
            )
        warnings.warn(
            f"{owner}: the {what} {old!r} is deprecated and will be removed in the next "
            f"release; use {new!r}",
            DeprecationWarning,
            stacklevel=stacklevel + 1,
        )
        out[new] = out.pop(old)
    return out


def renamed_keywords(init: Callable[..., None]) -> Callable[..., None]:
    """Let ``__init__`` take the keywords of earlier releases (``rho``, ``rho_max``, ``group``).

    The signature the wrapper shows (``inspect.signature`` follows ``__wrapped__``) is today's.
    """

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **_renamed(type(self).__name__, kwargs, "keyword", stacklevel=2))

    return wrapper


class ElasticCoupling:
    """Mixin before a :class:`~deeprelax.optim._engine.RelaxedOptimizer`: the elastic replica.

    The reference ``r`` lives in ``self.state[p]["reference"]`` (saved by ``state_dict``), the
    process group in ``self._process_group`` (not state: it is passed again on resume).
    """

    param_groups: list[dict[str, Any]]
    state: Any
    _process_group: Any = None
    _agreed: bool = False

    def _setup_replicas(self, process_group: Any) -> None:
        self._check_kinds()
        self._process_group = process_group
        self._agreed = False

    def _check_kinds(self) -> None:
        kinds = {(p.dtype, p.device) for p in self._replica_params()}
        if len(kinds) > 1:
            raise ValueError(
                f"Invalid params value: {type(self).__name__} needs one dtype and "
                f"device, got {sorted(map(str, kinds))}"
            )

    @property
    def process_group(self) -> Any:
        """The ``torch.distributed`` process group of the replicas (None: the default group)."""
        return self._process_group

    # -- the coupling ---------------------------------------------------------------------------
    def kappa_at(self, group: dict[str, Any] | None = None, step: int | None = None) -> float:
        """:math:`\\kappa_k` of a param group (the first by default) at outer step ``step``."""
        group = self.param_groups[0] if group is None else group
        k = self.outer_steps if step is None else step  # type: ignore[attr-defined]
        return scoped_coupling(group["kappa"], group["scoping"], k, group["kappa_max"])

    def rho_at(self, group: dict[str, Any] | None = None, step: int | None = None) -> float:
        """Deprecated name of :meth:`kappa_at`."""
        warnings.warn(
            f"{type(self).__name__}.rho_at is deprecated; use kappa_at",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.kappa_at(group, step)

    def _control_weight(self, group: dict) -> float:
        return 0.0  # no controlled variant: a replica's only extra term is the elastic one

    def _outer_direction(self, chain: Chain) -> list[Tensor]:
        direction = super()._outer_direction(chain)  # type: ignore[misc]
        kappa = self.kappa_at(chain.group)
        if kappa != 0.0:
            refs = [self.state[p]["reference"] for p in chain.params]
            diff = torch._foreach_sub(chain.anchors, refs)
            direction = chain.ops.add(direction, diff, alpha=kappa)  # out of place: may be .grad
        return direction

    # -- the step: one all-reduce of the reference per outer step --------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One outer step (closure mode) or one gradient evaluation (closure-free mode); after
        each outer step, one all-reduce sets :math:`r` to the replica mean."""
        if self.inner_index == 0:  # type: ignore[attr-defined]
            self._replica_start()
        k = self.outer_steps  # type: ignore[attr-defined]
        try:
            loss = super().step(closure)  # type: ignore[misc]
            ok = True
        except NonFiniteLossError:
            loss, ok = None, False
        if self.inner_index == 0:  # type: ignore[attr-defined]  # every rank ends a step here
            self._replica_sync(ok, k)
        return loss

    def _replica_params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def references(self) -> list[Tensor]:
        """The reference :math:`r=\\frac1n\\sum_a x_a`, one tensor per parameter."""
        return [self.state[p]["reference"] for p in self._replica_params()]

    def replica_config(self) -> dict[str, Any]:
        """What every rank must agree on: optimizer class, hyper-parameters, parameter shapes."""
        hyper = [{k: v for k, v in g.items() if k != "params"} for g in self.param_groups]
        shapes = [tuple(p.shape) for p in self._replica_params()]
        return {"optimizer": type(self).__name__, "param_groups": hyper, "param_shapes": shapes}

    def _agree(self) -> None:
        """Every rank has the same configuration (checked once, and again after a group is added)."""
        if not self._agreed:
            check_agreement(
                self.replica_config(), self._process_group, what="optimizer configuration"
            )
            self._agreed = True

    def _replica_start(self) -> None:
        """First step of this process: agree on the configuration; set up :math:`r` if new."""
        fresh = not self._agreed  # the first step, or a group added since
        self._agree()
        params = self._replica_params()
        if (fresh or "reference" not in self.state[params[0]]) and self._new_references():
            all_reduce_reference(
                params, self.references(), True, self._process_group, self.outer_steps
            )  # type: ignore[attr-defined]

    def _new_references(self) -> bool:
        """References for the parameters that have none yet, their own x until the next
        all-reduce sets them (no coupling meanwhile); whether there were any."""
        new = [p for p in self._replica_params() if "reference" not in self.state[p]]
        for p in new:
            self.state[p]["reference"] = p.detach().clone(memory_format=torch.preserve_format)
        return bool(new)

    def _replica_sync(self, ok: bool, step: int) -> None:
        """End of an outer step: :math:`r\\leftarrow` mean of the replicas, finiteness agreed."""
        if not self._agreed:  # a group added mid-chain: the ranks must have added the same one,
            self._agree()
            self._new_references()  # and its r is set by this all-reduce
        all_reduce_reference(
            self._replica_params(), self.references(), ok, self._process_group, step
        )

    # -- param groups and state of earlier releases --------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group (every rank must add the same one: checked again at the next step); its
        references are set at the next outer step's start, to the replica mean."""
        super().add_param_group(  # type: ignore[misc]
            _renamed(type(self).__name__, param_group, "param group key", stacklevel=2)
        )
        try:
            self._check_kinds()
        except ValueError:
            for p in self.param_groups.pop()["params"]:
                self.state.pop(p, None)
            raise
        self._agreed = False

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        for group in self.param_groups:  # saved before the coupling was called kappa
            for old in ("rho", "rho_max"):
                if old in group:
                    group.setdefault(RENAMED[old], group.pop(old))
            group.setdefault("kappa_max", KAPPA_MAX)

"""Validation of hyper-parameters: ``ValueError("Invalid <name> value: ...")`` naming the argument.

Numbers may come from config files: any ``numbers.Real`` (numpy scalars included), a 0-d tensor,
and for counts such as ``L`` an integral float (``L: 20.0`` from YAML).  Every param group is
validated, not only the defaults: a group override is as likely to be wrong as a default.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float within the bounds, or ``ValueError`` naming ``name``."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(
                f"Invalid {name} value: a tensor of shape {tuple(value.shape)} "
                "(a real number or a 0-d tensor)"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"Invalid {name} value: {value!r} (a real number)")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"Invalid {name} value: {value!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(
            f"Invalid {name} value: {value} (must be {'>' if low_open else '>='} {low})"
        )
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(
            f"Invalid {name} value: {value} (must be {'<' if high_open else '<='} {high})"
        )
    return number


def count(name: str, value: Any) -> int:
    """A non-negative integer; integral floats (``20.0``) and 0-d integer tensors are accepted."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"Invalid {name} value: {value!r} (a non-negative int)")
    if not math.isfinite(float(value)) or float(value) != int(value) or int(value) < 0:
        raise ValueError(f"Invalid {name} value: {value!r} (a non-negative int)")
    return int(value)


def nesterov_flag(nesterov: Any, momentum: float, name: str = "nesterov") -> bool | None:
    """``None`` (Nesterov when momentum > 0) or a bool; ``True`` needs momentum > 0, as in SGD."""
    if nesterov is None:
        return None
    if not isinstance(nesterov, bool):
        raise ValueError(f"Invalid {name} value: {nesterov!r} (True, False or None)")
    if nesterov and momentum <= 0.0:
        raise ValueError(f"Invalid {name} value: True (Nesterov momentum requires momentum > 0)")
    return nesterov


def uses_nesterov(nesterov: bool | None, momentum: float) -> bool:
    """The resolved flag: ``None`` means Nesterov whenever there is momentum."""
    return momentum > 0.0 if nesterov is None else bool(nesterov) and momentum > 0.0


def check_common(group: dict[str, Any]) -> None:
    """Validate (and normalise in place) the keywords every relaxation optimizer has."""
    lr = group["lr"]
    if isinstance(lr, torch.Tensor):
        real("lr", lr, low=0.0)  # kept as a tensor: schedulers may update it in place
    else:
        group["lr"] = real("lr", lr, low=0.0)
    group["momentum"] = real("momentum", group["momentum"], low=0.0, high=1.0, high_open=True)
    group["nesterov"] = nesterov_flag(group["nesterov"], group["momentum"])
    group["weight_decay"] = real("weight_decay", group["weight_decay"], low=0.0)
    maximize = group.setdefault("maximize", False)
    if not isinstance(maximize, bool):
        raise ValueError(f"Invalid maximize value: {maximize!r} (True or False)")
    group["L"] = count("L", group["L"])
    if "rho" in group:
        group["rho"] = real("rho", group["rho"], low=0.0)


def check_coupling(group: dict[str, Any], positive: bool) -> None:
    """``gamma`` (> 0 when ``positive``), ``scoping`` >= 0 and an optional cap ``gamma_max``."""
    group["gamma"] = real("gamma", group["gamma"], low=0.0, low_open=positive)
    group["scoping"] = real("scoping", group["scoping"], low=0.0)
    if group.get("gamma_max") is not None:
        group["gamma_max"] = real(
            "gamma_max",
            group["gamma_max"],
            low=group["gamma"],
            low_open=positive and group["gamma"] == 0.0,
        )


def check_number(name: str, value: Any, **bounds: Any) -> float:
    """Validate one keyword of an optimizer's own; returns it as a float."""
    return real(name, value, **bounds)


def check_kappa(group: dict[str, Any]) -> None:
    """The replicas' elastic coupling: ``kappa`` >= 0 and finite, an optional cap ``kappa_max`` > 0."""
    group["kappa"] = real("kappa", group["kappa"], low=0.0)
    if group.get("kappa_max") is not None:
        group["kappa_max"] = real("kappa_max", group["kappa_max"], low=0.0, low_open=True)

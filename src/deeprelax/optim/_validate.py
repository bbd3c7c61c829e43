"""Validation of hyper-parameters: ``ValueError("Invalid <name> value: ...")`` naming the argument."""

from __future__ import annotations

import math
from typing import Any


def check_common(
    lr: float, momentum: float, nesterov: bool, weight_decay: float, L: int, rho: float
) -> None:
    """Validate the keywords every relaxation optimizer has (ValueError naming the argument)."""
    _check_number("lr", lr, low=0.0)
    _check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
    if nesterov not in (True, False):
        raise ValueError(f"Invalid nesterov value: {nesterov!r}")
    if nesterov and momentum <= 0.0:
        raise ValueError(f"Invalid nesterov value: {nesterov} (Nesterov momentum requires momentum > 0)")
    _check_number("weight_decay", weight_decay, low=0.0)
    if isinstance(L, bool) or not isinstance(L, int) or L < 0:
        raise ValueError(f"Invalid L value: {L!r} (a non-negative int)")
    _check_number("rho", rho, low=0.0)


def check_coupling(gamma: float, scoping: float, gamma_max: float | None, positive: bool) -> None:
    _check_number("gamma", gamma, low=0.0, low_open=positive)
    _check_number("scoping", scoping, low=0.0)
    if gamma_max is not None:
        _check_number("gamma_max", gamma_max, low=gamma)


def _check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Invalid {name} value: {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"Invalid {name} value: {value} (must be {'>' if low_open else '>='} {low})")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"Invalid {name} value: {value} (must be {'<' if high_open else '<='} {high})")


def check_number(name: str, value: Any, **bounds: Any) -> None:
    """Public alias used by the optimizer files for their own keywords."""
    _check_number(name, value, **bounds)

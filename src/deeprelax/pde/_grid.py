"""Argument checks and grid helpers shared by the solvers (numpy only)."""

from __future__ import annotations

import math

import numpy as np


def as_field(f: object, name: str = "f") -> np.ndarray:
    """``f`` as a finite float64 array of dimension 1 or 2 with at least 2 points per axis."""
    try:
        arr = np.asarray(f, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Invalid {name} value: not a numeric array ({exc})") from None
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"Invalid {name} value: expected a 1-D or 2-D array, got shape {arr.shape}"
        )
    if min(arr.shape) < 2:
        raise ValueError(f"Invalid {name} value: need at least 2 points per axis, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"Invalid {name} value: {bad} non-finite entries")
    return arr


def as_spacing(dx: object, ndim: int, name: str = "dx") -> tuple[float, ...]:
    """Grid spacing: one positive float, or one per axis."""
    vals = np.atleast_1d(np.asarray(dx, dtype=np.float64)) if _numeric(dx) else None
    if vals is None or vals.ndim != 1 or vals.size not in (1, ndim):
        raise ValueError(f"Invalid {name} value: {dx!r} (a positive float or one per axis)")
    if not np.all(np.isfinite(vals)) or np.any(vals <= 0):
        raise ValueError(f"Invalid {name} value: {dx!r} (must be finite and > 0)")
    if vals.size == 1:
        vals = np.repeat(vals, ndim)
    return tuple(float(v) for v in vals)


def positive(value: object, name: str) -> float:
    """A finite, strictly positive float."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name} value: {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"Invalid {name} value: {value!r} (must be finite and > 0)")
    return v


def _numeric(x: object) -> bool:
    try:
        np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def axis_coords(n: int, dx: float, origin: float = 0.0) -> np.ndarray:
    """Grid coordinates ``origin + k dx``, k = 0..n-1."""
    return origin + dx * np.arange(n, dtype=np.float64)


def next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a good FFT length)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best

"""The claims' shared setup: the test function f, the constants of PAPER.md §11, the
:class:`Claim` record, pointwise Gibbs quadrature and the Richardson test."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BETA = 5.0
T = 0.3
H = 1e-3
POINTS = np.array([-1.3, -0.2, 0.55, 1.7])
YGRID = np.linspace(-8.0, 8.0, 40001)
DY = YGRID[1] - YGRID[0]


def f(y: np.ndarray) -> np.ndarray:
    return y**2 + 1.5 * np.sin(2 * np.pi * y)


def df(y: np.ndarray) -> np.ndarray:
    return 2 * y + 3 * np.pi * np.cos(2 * np.pi * y)


def d2f(y: np.ndarray) -> np.ndarray:
    return 2 - 6 * np.pi**2 * np.sin(2 * np.pi * y)


SUP_D2F = 2 + 6 * np.pi**2


@dataclass
class Claim:
    number: int
    name: str
    measured: str
    error: float
    tol: float
    note: str

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.error) and self.error <= self.tol)


# -- pointwise quadrature (independent of the fast grid solvers) ------------------------------


def gibbs(x, t=T, beta=BETA, fy=None, y=YGRID):
    """Gibbs weights rho(y; x) ~ exp(-beta f(y) - beta |x-y|^2/(2t)) and local entropy u(x, t)."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    fy = f(y) if fy is None else fy
    logw = -beta * fy[None, :] - beta * (x[:, None] - y[None, :]) ** 2 / (2 * t)
    m = logw.max(axis=1, keepdims=True)
    w = np.exp(logw - m)
    z = w.sum(axis=1, keepdims=True)
    dy = y[1] - y[0]
    logz = m[:, 0] + np.log(z[:, 0]) + math.log(dy / math.sqrt(2 * math.pi * t / beta))
    return w / z, -logz / beta


def local_entropy(x, t=T, beta=BETA, fy=None, y=YGRID):
    return gibbs(x, t, beta, fy, y)[1]


def _richardson(r1: np.ndarray, r2: np.ndarray, floor: float) -> tuple[float, float]:
    """(max |r(h)|, its tolerance 2 max|r(2h) - r(h)|/3 + floor)."""
    return float(np.max(np.abs(r1))), float(2 * np.max(np.abs(r2 - r1)) / 3 + floor)

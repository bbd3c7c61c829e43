"""PAPER.md §11 "claims that software can check", as functions (numpy only).

Each ``claim_N()`` computes the check and returns a :class:`Claim` with the measured error and
the tolerance it is held to, with the tolerance's justification in ``note``. ``deeprelax verify``
prints them; tests/pde/test_claims.py asserts them. Monte-Carlo parts are seeded.

Setup (PAPER.md §11): f(y) = y^2 + 1.5 sin(2 pi y), quadrature on [-8, 8] with 40,001 points,
finite-difference step h = 1e-3, beta = 5, t = 0.3, points x in {-1.3, -0.2, 0.55, 1.7}.
Finite-difference checks use a Richardson test: with signed residuals r(h) and r(2h), a residual
that is truncation error scales as h^2, so |r(h)| <= 2 |r(2h) - r(h)| / 3 + floor passes, while
a residual that does not vanish (the identity is false) fails.

Split by claim family: :mod:`.viscous` (claims 1-3, 7, 8), :mod:`.nonviscous` (4-6, 12) and
:mod:`.dynamics` (9-11); the shared setup is in :mod:`._setup`.
"""

from __future__ import annotations

from collections.abc import Callable

from ._setup import (
    BETA,
    DY,
    POINTS,
    SUP_D2F,
    YGRID,
    Claim,
    H,
    T,
    d2f,
    df,
    f,
    gibbs,
    local_entropy,
)
from ._setup import (
    _richardson as _richardson,  # the Richardson test, for tests
)
from .dynamics import (
    claim_9,
    claim_10,
    claim_11,
    controlled_sgd,
    figure1_function,
    langevin_average,
    relaxed_flows,
)
from .nonviscous import claim_4, claim_5, claim_6, claim_12, fixed_point
from .viscous import claim_1, claim_2, claim_3, claim_7, claim_8, hessian_gibbs

__all__ = [
    "ALL",
    "BETA",
    "DY",
    "H",
    "POINTS",
    "SUP_D2F",
    "T",
    "YGRID",
    "Claim",
    "controlled_sgd",
    "d2f",
    "df",
    "f",
    "figure1_function",
    "fixed_point",
    "gibbs",
    "hessian_gibbs",
    "langevin_average",
    "local_entropy",
    "relaxed_flows",
    "verify",
    *(f"claim_{n}" for n in range(1, 13)),
]

#: every claim, in PAPER.md §11's order
ALL = (
    claim_1,
    claim_2,
    claim_3,
    claim_4,
    claim_5,
    claim_6,
    claim_7,
    claim_8,
    claim_9,
    claim_10,
    claim_11,
    claim_12,
)


def verify(only: list[int] | None = None, log: Callable[[str], None] = print) -> int:
    """Run the claims numbered ``only`` (default: all) in order, logging three lines per claim
    (status and name, the measured values, error against tolerance) and a closing count as each
    completes; returns the number of claims that fail."""
    import sys
    import time

    wanted = set(only or range(1, len(ALL) + 1))
    bad = sorted(wanted - set(range(1, len(ALL) + 1)))
    if bad:
        raise ValueError(f"Invalid --only value: {bad} (claims are 1..{len(ALL)})")
    failures = 0
    start = time.process_time()
    for fn in ALL:
        if int(fn.__name__.split("_")[1]) not in wanted:
            continue
        c = fn()
        failures += not c.passed
        log(f"[{'PASS' if c.passed else 'FAIL'}] claim {c.number:2d}: {c.name}")
        log(f"           {c.measured}")
        log(f"           error {c.error:.3g} <= tol {c.tol:.3g}  ({c.note})")
        sys.stdout.flush()
    log(
        f"{len(wanted) - failures}/{len(wanted)} claims pass "
        f"({time.process_time() - start:.1f} s CPU)"
    )
    return failures

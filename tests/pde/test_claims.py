"""PAPER.md §11: each checkable claim holds within its justified tolerance."""

import pytest

from deeprelax.pde import claims


@pytest.mark.parametrize("fn", [c for c in claims.ALL if c.__name__ not in ("claim_9", "claim_10")])
def test_claim(fn):
    c = fn()
    assert c.passed, f"claim {c.number}: {c.measured} (error {c.error} > tol {c.tol})"


def test_claim_9_homogenization():
    c = claims.claim_9(chains=1000, steps=20000)
    assert c.passed, c.measured


def test_claim_10_control_theorem():
    c = claims.claim_10(paths=5000)
    assert c.passed, c.measured


def test_a_false_identity_fails_the_richardson_check():
    """The Richardson test must reject a residual that does not vanish with h."""
    import numpy as np

    r1 = np.array([1e-3, 2e-3])
    err, tol = claims._richardson(r1, r1 + 1e-9, 1e-7)
    assert err > tol

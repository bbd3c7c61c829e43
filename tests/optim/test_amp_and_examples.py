"""Closure-free mode under GradScaler, and the closure-free AMP example."""

from __future__ import annotations

import torch

from deeprelax.optim import EntropySGD, Heat
from tests.support.files import load_file

from .helpers import Problem, assert_same, params_of


def test_grad_scaler_closure_free_equals_closure_mode():
    """Scaling by a power of two and unscaling is exact, so the trajectories agree bit for bit."""
    for cls, kw in ((EntropySGD, dict(L=4, noise=1e-2)), (Heat, dict(L=3, gamma=100.0))):
        prob = Problem()
        m1 = prob.model()
        o1 = cls(m1.parameters(), **kw, generator=torch.Generator().manual_seed(0))
        closure = prob.closure(m1, o1, prob.batches())
        for _ in range(3):
            o1.step(closure)

        m2 = prob.model()
        o2 = cls(
            m2.parameters(), **kw, generator=torch.Generator().manual_seed(0), closure_free=True
        )
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        stream = prob.batches()
        for _ in range(3 * o2.evals_per_step):
            x, y = next(stream)
            loss = ((m2(x) - y) ** 2).mean()
            o2.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(o2)
            scaler.update()
        assert o2.inner_index == 0 and o2.outer_steps == 3
        assert_same(params_of(m1), params_of(m2))


def test_closure_free_amp_example_runs_and_learns():
    error = load_file("examples/closure_free_amp.py", "closure_free_amp").main(
        ["--steps", "300", "--device", "cpu"]
    )
    assert error < 20.0  # a linearly separable problem; chance is 50 %

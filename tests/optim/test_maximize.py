"""``maximize=True``, torch.optim.SGD's keyword: ascend f, i.e. the same run as descending -f.

The gradients are negated out of place before anything reads them, so a run that maximizes f
and one that minimizes -f see bit-identical numbers (negation and autograd's sign flip are
exact), for every method, in closure and closure-free mode, with 16-bit parameters and per
param group (``L = 0`` against torch.optim.SGD(maximize=True) itself: test_layouts.py).
"""

from __future__ import annotations

import pytest
import torch

from deeprelax.optim import ElasticSGD, Parle

from .helpers import OPTIMIZERS, Problem, assert_same, params_of
from .test_fused import _compile_tests_on_request  # noqa: F401 - the compile marker's gate
from .test_layouts import CLASSES, groups_of

TABLE = [
    *OPTIMIZERS,
    ("elastic_sgd", ElasticSGD, dict(lr=0.05, kappa=0.1, weight_decay=1e-3)),
    ("parle", Parle, dict(lr=0.05, L=3, gamma=0.5, noise=1e-2, weight_decay=1e-3)),
]
IDS = [name for name, _, _ in TABLE]


def run(cls, kw, sign, maximize, steps=4, closure_free=False, dtype=torch.float64, **extra):
    """Parameters after ``steps`` outer steps on ``sign * f``; a fixed generator where there is noise."""
    prob = Problem(dtype=torch.float64)
    model = prob.model().to(dtype)
    if "noise" in kw or cls.__name__ in ("Heat", "EntropySGD", "Parle"):
        extra.setdefault("generator", torch.Generator().manual_seed(7))
    if closure_free:
        extra["closure_free"] = True
    opt = cls(model.parameters(), maximize=maximize, **kw, **extra)
    stream = prob.batches()
    seen = []

    def closure():
        opt.zero_grad()
        x, y = next(stream)
        loss = sign * ((model(x.to(dtype)) - y.to(dtype)) ** 2).mean()
        loss.backward()
        seen.append([p.grad.clone() for p in model.parameters()])
        return loss

    for _ in range(steps):
        if closure_free:
            for _ in range(opt.evals_per_step):
                opt.step(closure)
        else:
            opt.step(closure)
    grads = [p.grad for p in model.parameters()]
    return params_of(model), grads, seen[-1]


@pytest.mark.parametrize(("name", "cls", "kw"), TABLE, ids=IDS)
@pytest.mark.parametrize("closure_free", [False, True])
def test_maximizing_f_is_minimizing_minus_f_bit_for_bit(name, cls, kw, closure_free):
    if closure_free and cls is ElasticSGD:
        pytest.skip("ElasticSGD takes one evaluation per step: it has no closure-free mode")
    up, grads, last = run(cls, kw, sign=1.0, maximize=True, closure_free=closure_free)
    down, _, _ = run(cls, kw, sign=-1.0, maximize=False, closure_free=closure_free)
    assert_same(up, down)
    start = params_of(Problem().model())
    assert not all(torch.equal(a, b) for a, b in zip(up, start))  # it moved
    assert_same(grads, last)  # .grad is what the closure left: f's gradient, not negated


@pytest.mark.parametrize(("name", "cls", "kw"), TABLE[:5], ids=IDS[:5])
def test_maximize_with_bfloat16_parameters_and_float32_state(name, cls, kw):
    up, _, _ = run(cls, kw, sign=1.0, maximize=True, dtype=torch.bfloat16)
    down, _, _ = run(cls, kw, sign=-1.0, maximize=False, dtype=torch.bfloat16)
    assert_same(up, down)


@pytest.mark.parametrize(("name", "cls", "kw"), TABLE[:5], ids=IDS[:5])
def test_maximize_per_param_group(name, cls, kw):
    """Weights ascend f and biases descend it, given as (True, False) on f or (False, True) on -f."""

    def after(sign, flags):
        prob = Problem()
        model = prob.model()
        groups = groups_of(model)
        for group, flag in zip(groups, flags):
            group["maximize"] = flag
        extra = {"generator": torch.Generator().manual_seed(7)} if cls.__name__ != "HJ" else {}
        opt = cls(groups, **{k: v for k, v in kw.items() if k != "weight_decay"}, **extra)
        stream = prob.batches()

        def closure():
            opt.zero_grad()
            x, y = next(stream)
            loss = sign * ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        assert [g["maximize"] for g in opt.param_groups] == list(flags)
        return params_of(model)

    assert_same(after(1.0, (True, False)), after(-1.0, (False, True)))


@pytest.mark.parametrize("cls", [*CLASSES, ElasticSGD, Parle])
def test_maximize_value_is_checked(cls):
    model = Problem().model()
    with pytest.raises(ValueError, match="Invalid maximize value: 'yes'"):
        cls(model.parameters(), maximize="yes")
    with pytest.raises(ValueError, match="Invalid maximize value: 1"):
        cls([{"params": model.parameters(), "maximize": 1}])


def test_state_dict_saved_without_maximize_loads_as_minimize():
    cls, kw = OPTIMIZERS[0][1], OPTIMIZERS[0][2]
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kw)
    opt.step(prob.closure(model, opt, prob.batches()))
    sd = opt.state_dict()
    for group in sd["param_groups"]:
        del group["maximize"]  # as written before the keyword existed
    again = cls(model.parameters(), maximize=True, **kw)
    again.load_state_dict(sd)
    assert again.param_groups[0]["maximize"] is False
    again.step(prob.closure(model, again, prob.batches()))


@pytest.mark.compile
def test_fused_maximize_equals_fused_on_minus_f():
    cls, kw = OPTIMIZERS[0][1], OPTIMIZERS[0][2]
    up, _, _ = run(cls, kw, sign=1.0, maximize=True, fused=True)
    down, _, _ = run(cls, kw, sign=-1.0, maximize=False, fused=True)
    assert_same(up, down)

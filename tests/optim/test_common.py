"""The common battery, driven by the table of optimizers in helpers.OPTIMIZERS."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch

from deeprelax.optim import EntropySGD, NonFiniteLossError

from .helpers import OPTIMIZERS, Problem, assert_same, params_of

IDS = [name for name, _, _ in OPTIMIZERS]


def run(cls, kwargs, steps, *, seed=0, closure_free=False, foreach=None, state=None, gen_seed=7):
    prob = Problem(seed)
    model = prob.model()
    gen = torch.Generator().manual_seed(gen_seed)
    opt = cls(
        model.parameters(), **kwargs, generator=gen, foreach=foreach, closure_free=closure_free
    )
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    stream = state["stream"] if state is not None else prob.batches()
    closure = prob.closure(model, opt, stream)
    losses = []
    for _ in range(steps):
        if closure_free:
            for _ in range(opt.evals_per_step):
                closure()
                opt.step()
        else:
            losses.append(float(opt.step(closure).detach()))
    return model, opt, stream, losses


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_foreach_equals_loop(name, cls, kwargs):
    m1, o1, _, _ = run(cls, kwargs, 6, foreach=False)
    m2, o2, _, _ = run(cls, kwargs, 6, foreach=True)
    assert_same(params_of(m1), params_of(m2), exact=False, tol=1e-13)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        s1, s2 = o1.state[p1], o2.state[p2]
        assert s1.keys() == s2.keys()
        for key, value in s1.items():
            if torch.is_tensor(value):
                torch.testing.assert_close(value, s2[key], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_closure_free_equals_closure(name, cls, kwargs):
    m1, o1, _, _ = run(cls, kwargs, 5)
    m2, o2, _, _ = run(cls, kwargs, 5, closure_free=True)
    assert_same(params_of(m1), params_of(m2))
    assert o1.grad_evals == o2.grad_evals == 5 * o1.evals_per_step
    assert o2.inner_index == 0


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_lockstep_resume(name, cls, kwargs):
    """Save after 3 steps (through torch.save), load into fresh objects, continue: identical."""
    m_full, o_full, _, losses_full = run(cls, kwargs, 6)
    m_a, o_a, stream, losses_a = run(cls, kwargs, 3)
    buf = io.BytesIO()
    torch.save({"model": m_a.state_dict(), "opt": o_a.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    saved["stream"] = stream
    # a different generator seed: the saved generator state must win
    m_b, o_b, _, losses_b = run(cls, kwargs, 3, state=saved, gen_seed=99)
    assert_same(params_of(m_full), params_of(m_b))
    assert losses_full == losses_a + losses_b
    assert o_b.grad_evals == o_full.grad_evals
    assert o_b.outer_steps == o_full.outer_steps == 6


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_resume_in_the_middle_of_an_outer_step(name, cls, kwargs):
    """Closure-free mode saved mid-cycle resumes to the same trajectory."""
    prob = Problem()
    n_calls = 0

    def make(state=None):
        model = prob.model()
        opt = cls(
            model.parameters(),
            **kwargs,
            generator=torch.Generator().manual_seed(3),
            closure_free=True,
        )
        if state:
            model.load_state_dict(state[0])
            opt.load_state_dict(state[1])
        return model, opt

    model, opt = make()
    stream = prob.batches()
    total = 4 * opt.evals_per_step
    half = opt.evals_per_step + 1
    for n_calls in range(total):
        prob.closure(model, opt, stream)()
        opt.step()
        if n_calls + 1 == half:
            snapshot = copy.deepcopy((model.state_dict(), opt.state_dict()))
            stream_copy = copy.deepcopy(stream)
    assert opt.inner_index == 0
    model2, opt2 = make(snapshot)
    assert opt2.inner_index == 1 or opt2.evals_per_step == 1
    for _ in range(total - half):
        prob.closure(model2, opt2, stream_copy)()
        opt2.step()
    assert_same(params_of(model), params_of(model2))


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_counts_gradient_evaluations(name, cls, kwargs):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kwargs)
    calls = []
    closure = prob.closure(model, opt, prob.batches(), counter=calls)
    for _ in range(3):
        opt.step(closure)
    assert len(calls) == opt.grad_evals == 3 * opt.evals_per_step
    assert opt.outer_steps == 3


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_returned_loss_is_the_loss_at_the_anchor(name, cls, kwargs):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kwargs)
    x, y = prob.X[:8], prob.Y[:8]

    def closure():  # the same batch each time, so the loss at x is known
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    with torch.no_grad():
        before = float(((model(x) - y) ** 2).mean())
    assert float(opt.step(closure).detach()) == pytest.approx(before, rel=1e-14)


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_nan_loss_stops_and_keeps_the_last_finite_anchor(name, cls, kwargs):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kwargs)
    stream = prob.batches()
    good = prob.closure(model, opt, stream)
    opt.step(good)
    anchor = params_of(model)
    bad_at = min(2, opt.evals_per_step - 1)
    calls = []

    def closure():
        loss = good()
        calls.append(1)
        return loss * float("nan") if len(calls) == bad_at + 1 else loss

    with pytest.raises(NonFiniteLossError, match=f"inner step {bad_at} of outer step 1"):
        opt.step(closure)
    assert_same(params_of(model), anchor)
    assert opt.inner_index == 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
    opt.step(good)  # the optimizer carries on
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_nan_gradient_in_closure_free_mode_is_caught_before_the_weights(name, cls, kwargs):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kwargs, closure_free=True)
    closure = prob.closure(model, opt, prob.batches())
    anchor = params_of(model)
    with pytest.raises(NonFiniteLossError, match="non-finite update direction"):
        for i in range(opt.evals_per_step):
            closure()
            if i == 1:
                next(model.parameters()).grad[0, 0] = float("inf")
            opt.step()
    assert_same(params_of(model), anchor)


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_step_without_closure_is_a_clear_error(name, cls, kwargs):
    model = Problem().model()
    opt = cls(model.parameters(), **kwargs)
    with pytest.raises(RuntimeError, match="step\\(closure\\)"):
        opt.step()


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_deepcopy_and_pickle(name, cls, kwargs):
    m1, o1, stream, _ = run(cls, kwargs, 2)
    o2 = pickle.loads(pickle.dumps(o1))
    o3 = copy.deepcopy(o1)
    assert o2.state_dict()["param_groups"] == o1.state_dict()["param_groups"]
    assert o3.grad_evals == o1.grad_evals


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_scheduler_acts_on_lr(name, cls, kwargs):
    """Halving lr halves the first outer update (momentum buffers start from the same D)."""
    kw = dict(kwargs, momentum=0.0, nesterov=False)
    deltas = []
    for factor in (1.0, 0.5):
        prob = Problem()
        model = prob.model()
        opt = cls(model.parameters(), **kw, generator=torch.Generator().manual_seed(1))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k, f=factor: f)
        before = params_of(model)
        opt.step(prob.closure(model, opt, prob.batches()))
        sched.step()
        deltas.append([b - a for a, b in zip(before, params_of(model))])
        assert opt.param_groups[0]["lr"] == kw["lr"] * factor
    for d1, d2 in zip(*deltas):
        torch.testing.assert_close(d2, 0.5 * d1, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_reaches_the_minimum_of_a_quadratic(name, cls, kwargs):
    torch.manual_seed(0)
    A = torch.diag(torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64))
    x = torch.nn.Parameter(torch.tensor([1.0, -2.0, 1.5], dtype=torch.float64))
    kw = dict(kwargs, weight_decay=0.0)
    kw.pop("scoping", None)
    if "noise" in kw:
        kw["noise"] = 0.0
    if name == "heat":  # its Monte-Carlo noise does not vanish at the minimum: make it tiny
        kw["gamma"] = 1e14
    opt = cls([x], **kw)

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ A @ x
        loss.backward()
        return loss

    for _ in range(3000):
        opt.step(closure)
    assert float(x.detach().norm()) < 1e-6


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_param_group_overrides(name, cls, kwargs):
    """Two groups with their own lr and gamma move like two optimizers with those settings."""
    kw = dict(kwargs)
    prob = Problem()
    model = prob.model()
    first, second = list(model[0].parameters()), list(model[2].parameters())
    groups = [{"params": first}, {"params": second, "lr": 0.01, "gamma": kw["gamma"] * 2}]
    opt = cls(groups, **kw, generator=torch.Generator().manual_seed(5))
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[0]["lr"] == kw["lr"]
    stream = prob.batches()
    for _ in range(3):
        opt.step(prob.closure(model, opt, stream))
    # the same with two separate optimizers stepping in lockstep on the same batches
    model2 = prob.model()
    shared = torch.Generator().manual_seed(5)  # the same draws, in the same parameter order
    o_a = cls(model2[0].parameters(), **kw, generator=shared)
    o_b = cls(model2[2].parameters(), **dict(kw, lr=0.01, gamma=kw["gamma"] * 2), generator=shared)
    stream2 = prob.batches()
    for _ in range(3):
        for _ in range(o_a.evals_per_step):
            o_a.zero_grad()
            o_b.zero_grad()
            xb, yb = next(stream2)
            ((model2(xb) - yb) ** 2).mean().backward()
            for o in (o_a, o_b):
                o.closure_free = True
                o.step()
    assert_same(params_of(model), params_of(model2), exact=False, tol=1e-14)


def test_groups_must_share_L():
    model = Problem().model()
    with pytest.raises(ValueError, match="L"):
        EntropySGD(
            [{"params": model[0].parameters()}, {"params": model[2].parameters(), "L": 3}], L=5
        )

"""Exact reductions (PAPER.md §5.9) and agreement with the paper-literal reference."""

from __future__ import annotations

import pytest
import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD, scoped_coupling

from .helpers import (
    Problem,
    assert_same,
    params_of,
    reference_entropy_sgd,
    reference_heat,
    reference_hj,
)

SGD_SETTINGS = [
    dict(momentum=0.9, nesterov=True, weight_decay=0.0),
    dict(momentum=0.9, nesterov=True, weight_decay=1e-2),
    dict(momentum=0.5, nesterov=False, weight_decay=1e-3),
    dict(momentum=0.0, nesterov=False, weight_decay=1e-3),
]


def sgd_trajectory(settings, steps=8, lr=0.07):
    prob = Problem()
    model = prob.model()
    opt = torch.optim.SGD(model.parameters(), lr=lr, **settings)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(steps):
        opt.step(closure)
    return params_of(model)


@pytest.mark.parametrize("cls", [EntropySGD, HJ, Heat, ProxSGD])
@pytest.mark.parametrize("settings", SGD_SETTINGS)
@pytest.mark.parametrize("foreach", [False, True])
def test_L0_is_torch_sgd_bit_for_bit(cls, settings, foreach):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), lr=0.07, L=0, foreach=foreach, **settings)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(8):
        opt.step(closure)
    assert opt.grad_evals == 8
    assert_same(params_of(model), sgd_trajectory(settings))


def test_L0_without_a_closure_is_torch_sgd():
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(model.parameters(), lr=0.07, L=0)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(8):
        closure()
        opt.step()
    assert_same(params_of(model), sgd_trajectory(SGD_SETTINGS[0]))


def test_entropy_sgd_L1_is_sgd_with_scaled_lr():
    """eps = 0, rho = 0, L = 1, no inner momentum: SGD with lr eta * alpha * eta' (PAPER.md §5.9)."""
    lr, alpha, inner_lr = 0.5, 0.3, 0.2
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(
        model.parameters(),
        lr=lr,
        L=1,
        noise=0.0,
        alpha=alpha,
        inner_lr=inner_lr,
        inner_momentum=0.0,
        weight_decay=1e-2,
        gamma=3.0,
    )
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(8):
        opt.step(closure)
    expected = sgd_trajectory(
        dict(momentum=0.9, nesterov=True, weight_decay=1e-2), lr=lr * alpha * inner_lr
    )
    assert_same(params_of(model), expected, exact=False, tol=1e-12)


def test_entropy_sgd_with_unit_lr_and_no_momentum_jumps_to_the_mean():
    """c = 1, eta = 1, no outer momentum: x <- mu (the Lua Entropy-SGD's first epochs)."""
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(model.parameters(), lr=1.0, momentum=0.0, nesterov=False, L=5, noise=1e-2)
    means = []
    real_direction = opt._direction

    def spy(chain):  # record mu just before it is turned into x - mu
        means.append([m.clone() for m in opt._buffers_for(chain.params, "inner_mean")])
        return real_direction(chain)

    opt._direction = spy
    opt.step(prob.closure(model, opt, prob.batches()))
    assert_same(params_of(model), means[0], exact=False, tol=1e-15)


def test_prox_sgd_is_entropy_sgd_without_noise_and_with_alpha_one():
    trajectories = []
    for make in (
        lambda ps: ProxSGD(ps, L=4, gamma=2.0, inner_lr=0.1),
        lambda ps: EntropySGD(ps, L=4, gamma=2.0, inner_lr=0.1, noise=0.0, alpha=1.0),
    ):
        prob = Problem()
        model = prob.model()
        opt = make(model.parameters())
        closure = prob.closure(model, opt, prob.batches())
        for _ in range(4):
            opt.step(closure)
        trajectories.append(params_of(model))
    assert_same(*trajectories)


def test_entropy_sgd_with_zero_coupling_is_lookahead():
    """gamma = 0, noise = 0, alpha = 1, no outer momentum: Lookahead(SGD, k = L, slow step = lr)
    whose fast weights restart from the slow weights (PEERS.md's Lookahead identity)."""
    L, lr, inner_lr = 5, 0.6, 0.05
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(
        model.parameters(),
        lr=lr,
        momentum=0.0,
        nesterov=False,
        L=L,
        gamma=0.0,
        noise=0.0,
        alpha=1.0,
        inner_lr=inner_lr,
        inner_momentum=0.0,
    )
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(3):
        opt.step(closure)

    model2 = prob.model()
    fast = torch.optim.SGD(model2.parameters(), lr=inner_lr)
    closure2 = prob.closure(model2, fast, prob.batches())
    for _ in range(3):
        slow = params_of(model2)
        for _ in range(L):
            fast.step(closure2)
        with torch.no_grad():
            for p, s in zip(model2.parameters(), slow):
                p.copy_(s + lr * (p - s))
    assert_same(params_of(model), params_of(model2), exact=False, tol=1e-13)


def grad_at_factory(prob, stream):
    """Reference-side gradient: a fresh batch from the same stream, at the given point."""
    model = prob.model()

    def grad_at(point):
        with torch.no_grad():
            for p, v in zip(model.parameters(), point):
                p.copy_(v)
        model.zero_grad()
        x, y = next(stream)
        ((model(x) - y) ** 2).mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    return grad_at


@pytest.mark.parametrize(
    "inner_momentum,nesterov,rho", [(0.9, True, 0.0), (0.5, False, 0.3), (0.0, True, 0.0)]
)
def test_entropy_sgd_matches_the_paper_literal_reference(inner_momentum, nesterov, rho):
    kw = dict(
        lr=0.1,
        momentum=0.9,
        nesterov=nesterov,
        weight_decay=1e-3,
        L=5,
        gamma=0.7,
        scoping=0.2,
        inner_lr=0.05,
        inner_momentum=inner_momentum,
        noise=0.01,
        alpha=0.3,
        rho=rho,
    )
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(model.parameters(), **kw, generator=torch.Generator().manual_seed(11))
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(4):
        opt.step(closure)
    ref = reference_entropy_sgd(
        params_of(prob.model()),
        grad_at_factory(prob, prob.batches()),
        4,
        **kw,
        generator=torch.Generator().manual_seed(11),
    )
    assert_same(params_of(model), ref, exact=False, tol=1e-12)


def test_hj_matches_the_paper_literal_reference():
    kw = dict(
        lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-3,
        L=4,
        gamma=3.0,
        scoping=0.3,
        damping=0.25,
    )
    prob = Problem()
    model = prob.model()
    opt = HJ(model.parameters(), **kw)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(4):
        opt.step(closure)
    ref = reference_hj(params_of(prob.model()), grad_at_factory(prob, prob.batches()), 4, **kw)
    assert_same(params_of(model), ref, exact=False, tol=1e-12)


def test_heat_matches_the_paper_literal_reference():
    kw = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, L=4, gamma=50.0)
    prob = Problem()
    model = prob.model()
    opt = Heat(model.parameters(), **kw, generator=torch.Generator().manual_seed(4))
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(4):
        opt.step(closure)
    ref = reference_heat(
        params_of(prob.model()),
        grad_at_factory(prob, prob.batches()),
        4,
        **kw,
        generator=torch.Generator().manual_seed(4),
    )
    assert_same(params_of(model), ref, exact=False, tol=1e-12)


def test_scoping_grows_the_coupling_per_outer_step_and_respects_the_cap():
    prob = Problem()
    model = prob.model()
    opt = EntropySGD(model.parameters(), L=2, gamma=0.1, scoping=0.5, gamma_max=0.3)
    closure = prob.closure(model, opt, prob.batches())
    seen = []
    for _ in range(5):
        seen.append(opt.coupling())
        opt.step(closure)
    assert seen == pytest.approx([0.1, 0.15, 0.225, 0.3, 0.3])
    assert opt.outer_steps == 5 and opt.state_dict()["state"][0]["outer"]["step"] == 5
    assert scoped_coupling(1.0, 1.0, 10_000) == float("inf")
    assert scoped_coupling(1.0, 1.0, 10_000, gamma_max=7.0) == 7.0


def test_rho_zero_is_entropy_sgd_and_rho_adds_the_anchor_gradient():
    """With alpha tiny the chain barely moves mu, so D ~ rho * grad f(x) is checkable."""
    prob = Problem()
    x, y = prob.X[:8], prob.Y[:8]
    outs = []
    for rho in (0.0, 2.0):
        model = prob.model()
        opt = EntropySGD(
            model.parameters(),
            lr=1.0,
            momentum=0.0,
            nesterov=False,
            L=1,
            noise=0.0,
            rho=rho,
            alpha=1e-300,
        )

        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        before = params_of(model)
        opt.step(closure)
        outs.append([b - a for a, b in zip(params_of(model), before)])
    model = prob.model()
    ((model(x) - y) ** 2).mean().backward()
    for d0, d2, p in zip(outs[0], outs[1], model.parameters()):
        assert d0.abs().max() < 1e-250
        torch.testing.assert_close(d2, 2.0 * p.grad, rtol=1e-12, atol=1e-14)


def test_inner_mean_holds_the_chain_mean_after_the_outer_step():
    # lr = 1, no momentum, L = 1, alpha = 1: x_new = x - (x - mu) = mu, so the state's mean must
    # equal the new parameter (it held D = x - mu once, a name that lied between outer steps)
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = EntropySGD([w], lr=1.0, momentum=0.0, L=1, gamma=0.5, inner_lr=0.1,
                     inner_momentum=0.0, noise=0.0, alpha=1.0)  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = (w**4).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
        torch.testing.assert_close(opt.state[w]["inner_mean"], w.detach(), rtol=0, atol=1e-15)

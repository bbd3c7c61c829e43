"""The layouts real training code hands an optimizer: L in {0, 1}, several param groups, frozen
and empty groups, 16-bit parameters, a closure that raises, deepcopy, DCP.  Each defect that was
once reproduced on these layouts has a test here."""

from __future__ import annotations

import copy

import pytest
import torch

from deeprelax.optim import HJ, EntropySGD, Heat, NonFiniteLossError, ProxSGD

from .helpers import Problem, assert_same, params_of

CLASSES = [EntropySGD, HJ, ProxSGD, Heat]
CLASS_IDS = [c.__name__ for c in CLASSES]
# small, noisy where the method has noise, all four with weight decay and momentum
KW = {
    EntropySGD: dict(lr=0.05, gamma=0.5, scoping=0.1, noise=1e-2, weight_decay=1e-3),
    HJ: dict(lr=0.05, gamma=5.0, weight_decay=1e-3),
    ProxSGD: dict(lr=0.05, gamma=1.0, inner_lr=0.05, weight_decay=1e-3),
    Heat: dict(lr=0.05, gamma=100.0, weight_decay=1e-3),
}


def groups_of(model, decay=1e-2):
    """The usual decay / no-decay split, with per-group lr and weight decay."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return [
        {"params": weights, "weight_decay": decay, "lr": 0.05},
        {"params": biases, "weight_decay": 0.0, "lr": 0.2},
    ]


def drive(model, opt, stream, steps, closure_free=False):
    prob = Problem()
    closure = prob.closure(model, opt, stream)
    for _ in range(steps):
        if closure_free:
            for _ in range(opt.evals_per_step):
                closure()
                opt.step()
        else:
            opt.step(closure)


# -- L = 0 is torch.optim.SGD, bit for bit, in every layout --------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("nesterov", [None, False])
@pytest.mark.parametrize("maximize", [False, True])
def test_L0_with_param_groups_is_sgd_bit_for_bit(cls, nesterov, maximize):
    prob = Problem()
    m1, m2 = prob.model(), prob.model()
    sgd = torch.optim.SGD(
        groups_of(m1), lr=0.1, momentum=0.9, nesterov=nesterov is None, maximize=maximize
    )
    opt = cls(groups_of(m2), lr=0.1, momentum=0.9, nesterov=nesterov, L=0, maximize=maximize)
    s1, s2 = prob.batches(), prob.batches()
    for _ in range(5):
        for model, o, s in ((m1, sgd, s1), (m2, opt, s2)):
            o.zero_grad()
            x, y = next(s)
            ((model(x) - y) ** 2).mean().backward()
            o.step()
    assert_same(params_of(m1), params_of(m2))
    assert opt.grad_evals == 5


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_L0_leaves_frozen_parameters_and_grad_alone_like_sgd(cls):
    prob = Problem()
    m1, m2 = prob.model(), prob.model()
    for m in (m1, m2):
        m[0].bias.requires_grad_(False)
    sgd = torch.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    opt = cls(m2.parameters(), lr=0.1, momentum=0.9, L=0, weight_decay=0.1)
    s1, s2 = prob.batches(), prob.batches()
    for _ in range(3):
        for model, o, s in ((m1, sgd, s1), (m2, opt, s2)):
            o.zero_grad()
            x, y = next(s)
            ((model(x) - y) ** 2).mean().backward()
            grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
            o.step()
            after = [p.grad for p in model.parameters() if p.grad is not None]
            assert_same(grads, after)  # .grad is not rewritten (weight decay, momentum)
    assert_same(params_of(m1), params_of(m2))


# -- several groups with L > 0: each group steps with its own gradient -----------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_param_groups_equal_separate_optimizers(cls):
    """Two groups with their own lr / weight decay step as two optimizers on the same chain would:
    checked against one optimizer per group driven with the same batches (noise-free methods) and
    against loop = foreach (all)."""
    prob = Problem()
    kw = dict(KW[cls], L=3)
    kw.pop("weight_decay")
    if cls in (EntropySGD, Heat):
        kw.update(noise=0.0) if cls is EntropySGD else None
    m1 = prob.model()
    opt = cls(groups_of(m1), **kw, generator=torch.Generator().manual_seed(3))
    drive(m1, opt, prob.batches(), 3)
    m2 = prob.model()
    opt2 = cls(groups_of(m2), **kw, generator=torch.Generator().manual_seed(3), foreach=False)
    drive(m2, opt2, prob.batches(), 3)
    assert_same(params_of(m1), params_of(m2), exact=False, tol=1e-13)
    if cls is Heat:
        return  # one generator shared by the groups: the split draws differ, checked above only
    # one optimizer per group, stepped in lockstep on the same batches
    m3 = prob.model()
    opts = [cls([g], **kw) for g in groups_of(m3)]
    stream = prob.batches()
    for _ in range(3):
        for _ in range(opts[0].evals_per_step):
            for o in opts:
                o.zero_grad()
            x, y = next(stream)
            ((m3(x) - y) ** 2).mean().backward()
            for o in opts:
                o.closure_free = True
                o.step()
    assert_same(params_of(m1), params_of(m3), exact=False, tol=1e-13)


# -- frozen and empty groups ---------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("L", [0, 1, 3])
def test_frozen_group_and_empty_first_group(cls, L):
    prob = Problem()
    model = prob.model()
    for p in model[0].parameters():
        p.requires_grad_(False)
    frozen = params_of(model)[:2]
    groups = [
        {"params": []},
        {"params": list(model[0].parameters())},
        {"params": list(model[2].parameters())},
    ]
    opt = cls(groups, **KW[cls], L=L)
    drive(model, opt, prob.batches(), 3)
    assert_same(params_of(model)[:2], frozen)
    assert not torch.equal(params_of(model)[2], Problem().model()[2].weight.detach())
    assert opt.grad_evals == 3 * opt.evals_per_step
    for p in model[0].parameters():
        assert "anchor" not in opt.state.get(p, {})  # no state for frozen weights


def extra_closure(model, opt, stream, extra, zeroed=None):
    """The regression loss plus |extra|^2 while ``extra`` requires grad; with ``zeroed[0]`` set,
    its gradient is replaced by explicit zeros."""

    def closure():
        opt.zero_grad()
        x, y = next(stream)
        loss = ((model(x) - y) ** 2).mean()
        if extra.requires_grad:
            loss = loss + (extra**2).sum()
        loss.backward()
        if zeroed is not None and zeroed[0]:
            extra.grad = torch.zeros_like(extra)
        return loss

    return closure


# -- a parameter that first takes part mid-chain -------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("how", ["requires_grad", "add_param_group"])
def test_parameter_joining_mid_chain_waits_for_the_next_outer_step(cls, how):
    prob = Problem()
    model = prob.model()
    extra = torch.nn.Parameter(torch.full((2,), 5.0, dtype=torch.float64))
    if how == "requires_grad":
        extra.requires_grad_(False)
        opt = cls(
            [{"params": list(model.parameters())}, {"params": [extra]}],
            **KW[cls],
            L=3,
            closure_free=True,
        )
    else:
        opt = cls(model.parameters(), **KW[cls], L=3, closure_free=True)
    closure = extra_closure(model, opt, prob.batches(), extra)
    opt.step(closure)
    assert opt.inner_index == 1
    if how == "requires_grad":
        extra.requires_grad_(True)
    else:
        opt.add_param_group({"params": [extra]})
    while opt.inner_index != 0:
        opt.step(closure)
    assert torch.equal(extra.detach(), torch.full((2,), 5.0, dtype=torch.float64))
    for _ in range(opt.evals_per_step):
        opt.step(closure)
    # one outer step on |extra|^2 from 5.0: it moved towards 0, and by a sane amount
    assert torch.all(extra.detach() < 5.0) and torch.all(extra.detach() > 3.0)


# -- DCP: the state exists at construction, a save/load round trip resumes ------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_state_exists_at_construction_and_dcp_round_trip(cls, tmp_path):
    dcp = pytest.importorskip("torch.distributed.checkpoint")
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    prob = Problem()
    model = prob.model()
    opt = cls(
        model.parameters(),
        **KW[cls],
        L=2,
        closure_free=True,
        generator=torch.Generator().manual_seed(5),
    )
    before = params_of(model)
    sd = get_optimizer_state_dict(model, opt)  # calls step(None) with lr=0 if the state is empty
    assert_same(params_of(model), before)
    assert opt.inner_index == 0 and opt.grad_evals == 0
    stream = prob.batches()
    drive(model, opt, stream, 2, closure_free=True)
    closure = prob.closure(model, opt, stream)
    closure()
    opt.step()  # mid-chain
    sd = {"model": model.state_dict(), "optim": get_optimizer_state_dict(model, opt)}
    dcp.save(sd, checkpoint_id=str(tmp_path / "ckpt"))
    snapshot = copy.deepcopy(stream)
    drive(model, opt, stream, 2, closure_free=True) if opt.inner_index == 0 else None
    for _ in range(opt.evals_per_step - opt.inner_index + opt.evals_per_step):
        closure()
        opt.step()
    expected = params_of(model)

    m2 = prob.model(seed=9)
    o2 = cls(
        m2.parameters(),
        **KW[cls],
        L=2,
        closure_free=True,
        generator=torch.Generator().manual_seed(99),
    )
    target = {"model": m2.state_dict(), "optim": get_optimizer_state_dict(m2, o2)}
    dcp.load(target, checkpoint_id=str(tmp_path / "ckpt"))
    m2.load_state_dict(target["model"])
    set_optimizer_state_dict(m2, o2, target["optim"])
    assert o2.inner_index == 1
    c2 = prob.closure(m2, o2, snapshot)
    for _ in range(o2.evals_per_step - o2.inner_index + o2.evals_per_step):
        c2()
        o2.step()
    assert_same(params_of(m2), expected)


# -- non-finite values ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("L", [0, 1])
def test_nan_gradient_with_small_L_restores_the_weights(cls, L):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **KW[cls], L=L, closure_free=True)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(opt.evals_per_step):
        closure()
        opt.step()
    anchor = params_of(model)
    with pytest.raises(NonFiniteLossError, match="left at the last finite anchor"):
        for i in range(opt.evals_per_step):
            closure()
            if i == opt.evals_per_step - 1:
                next(model.parameters()).grad[0, 0] = float("nan")
            opt.step()
    assert_same(params_of(model), anchor)
    assert opt.inner_index == 0


@pytest.mark.parametrize("L", [0, 2])
@pytest.mark.parametrize("state_dtype", [None, torch.float16])
def test_finite_check_does_not_overflow_in_float16(L, state_dtype):
    """100k weights with gradients of 1 sum to 1e5 > float16's max: still a finite step."""
    p = torch.nn.Parameter(torch.zeros(100_000, dtype=torch.float16))
    opt = EntropySGD([p], lr=0.01, L=L, noise=0.0, closure_free=True, state_dtype=state_dtype)
    for _ in range(2 * opt.evals_per_step):
        p.grad = torch.ones_like(p)
        opt.step()
    assert torch.isfinite(p).all() and p.abs().max() > 0


# -- 16-bit parameters: state in float32 -----------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("inner_lr", [0.1, 0.01, 0.001])
def test_16bit_parameters_keep_float32_state(dtype, inner_lr):
    """D = x - mu from 16-bit parameters matches float32 parameters to the 16-bit rounding of the
    gradients only; with the state in the parameter's dtype it does not (the defect)."""
    torch.manual_seed(0)
    target = torch.randn(4096)

    def direction(param_dtype, state_dtype=None):
        p = torch.nn.Parameter(torch.zeros(4096, dtype=param_dtype) + 0.5)
        opt = EntropySGD(
            [p],
            lr=1.0,
            momentum=0.0,
            L=5,
            gamma=1.0,
            inner_lr=inner_lr,
            inner_momentum=0.0,
            noise=1e-4,
            alpha=1.0,
            closure_free=True,
            generator=torch.Generator().manual_seed(1),
            state_dtype=state_dtype,
        )
        for _ in range(5):
            p.grad = (p.detach().float() - target).to(param_dtype)
            opt.step()
        return opt.state[p]["anchor"].float() - 0.5  # x_new - x = -D

    exact = direction(torch.float32)
    ours = direction(dtype)
    naive = direction(dtype, state_dtype=dtype)
    assert ours.dtype == torch.float32
    err = ((ours - exact).norm() / exact.norm()).item()
    err_naive = ((naive - exact).norm() / exact.norm()).item()
    assert err < 0.01, err
    assert err_naive > 2 * err


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_16bit_state_dict_round_trip_keeps_the_state_dtype(cls):
    model = torch.nn.Linear(5, 3).to(torch.bfloat16)
    opt = cls(model.parameters(), **KW[cls], L=2, closure_free=True)
    for _ in range(3):
        model.zero_grad()
        model(torch.randn(4, 5, dtype=torch.bfloat16)).float().pow(2).mean().backward()
        opt.step()
    sd = copy.deepcopy(opt.state_dict())
    o2 = cls(model.parameters(), **KW[cls], L=2, closure_free=True)
    o2.load_state_dict(sd)
    for p in model.parameters():
        for name, value in opt.state[p].items():
            if torch.is_tensor(value) and value.is_floating_point():
                assert o2.state[p][name].dtype == torch.float32
                assert torch.equal(o2.state[p][name], value)


def test_external_write_to_16bit_parameters_is_adopted():
    """Loading model weights after building the optimizer: the float32 anchor follows them."""
    model = torch.nn.Linear(4, 2).to(torch.bfloat16)
    opt = EntropySGD(model.parameters(), lr=0.0, L=2, noise=0.0, closure_free=True)
    with torch.no_grad():
        model.weight.fill_(3.0)
    for _ in range(2):
        model.zero_grad()
        model(torch.ones(1, 4, dtype=torch.bfloat16)).float().sum().backward()
        opt.step()
    assert torch.all(model.weight == 3.0)


# -- the global RNG, generators and devices ------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: HJ(ps),
        lambda ps: ProxSGD(ps),
        lambda ps: EntropySGD(ps, L=0),
        lambda ps: EntropySGD(ps, noise=0.0),
        lambda ps: Heat(ps, L=0),
    ],
    ids=["hj", "prox_sgd", "entropy_sgd_L0", "entropy_sgd_noise0", "heat_L0"],
)
def test_noise_free_methods_leave_the_global_rng_alone(make):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    torch.manual_seed(0)
    opt = make(model.parameters())
    assert opt.generator is None
    assert torch.equal(torch.rand(3), expected)


def test_generator_on_another_device_is_refused_by_name():
    p = torch.nn.Parameter(torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match="generator on cpu for parameters on meta"):
        EntropySGD([p], generator=torch.Generator())


def test_generator_state_from_another_device_type_restores_with_a_warning():
    model = torch.nn.Linear(3, 1)
    opt = EntropySGD(model.parameters(), L=2, closure_free=True)
    sd = opt.state_dict()
    sd["state"][0]["outer"]["rng_state"] = torch.arange(16, dtype=torch.uint8)  # a CUDA-sized state
    sd["state"][0]["outer"]["rng_device"] = "cuda"
    o2 = EntropySGD(model.parameters(), L=2, closure_free=True)
    with pytest.warns(UserWarning, match="saved on cuda and is restored on cpu"):
        o2.load_state_dict(sd)
    o3 = EntropySGD(model.parameters(), L=2, closure_free=True)
    with pytest.warns(UserWarning):
        o3.load_state_dict(sd)
    assert torch.equal(o2.generator.get_state(), o3.generator.get_state())  # repeatable


# -- a closure that raises -----------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("closure_free", [False, True])
def test_closure_raising_mid_chain_restores_x(cls, closure_free):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **KW[cls], L=3, closure_free=closure_free)
    stream = prob.batches()
    good = prob.closure(model, opt, stream)
    drive(model, opt, stream, 1, closure_free=True) if closure_free else opt.step(good)
    anchor = params_of(model)
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 2:
            raise StopIteration("the loader ran out")
        return good()

    with pytest.raises(StopIteration):
        if closure_free:
            for _ in range(3):
                opt.step(closure)
        else:
            opt.step(closure)
    assert_same(params_of(model), anchor)
    assert opt.inner_index == 0 and opt.at_anchor
    opt.step(good)  # carries on from x


# -- the same optimizer reloaded mid-chain ---------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("telemetry", [False, True])
def test_reloading_the_same_optimizer_mid_chain_resumes_exactly(cls, telemetry):
    """load_state_dict into the optimizer that is mid-chain replaces its state tensors: the lists
    of the running outer step must follow (a stale one would update the old tensors), and the
    telemetry, which starts empty there, must not fail."""
    reload_mid_chain(cls, telemetry=telemetry, fused=False)


def reload_mid_chain(cls, telemetry: bool, fused: bool) -> None:
    """Three outer steps straight, against the same with a reload of the same optimizer mid-chain."""

    def fresh():
        prob = Problem()
        model = prob.model()
        kw = dict(KW[cls], L=4, closure_free=True, telemetry=telemetry, fused=fused)
        gen = {"generator": torch.Generator().manual_seed(3)} if cls in (EntropySGD, Heat) else {}
        return prob, model, cls(model.parameters(), **kw, **gen), prob.batches()

    def evals(prob, model, opt, stream, n):
        closure = prob.closure(model, opt, stream)
        for _ in range(n):
            opt.step(closure)

    prob, model, opt, stream = fresh()  # straight through: three outer steps
    n = opt.evals_per_step
    evals(prob, model, opt, stream, 3 * n)
    straight = params_of(model)

    prob, model, opt, stream = fresh()
    evals(prob, model, opt, stream, n + 2)
    snapshot = copy.deepcopy((model.state_dict(), opt.state_dict(), stream))
    evals(prob, model, opt, stream, n - 1)  # on, past the outer step: then back to the snapshot
    assert opt.inner_index == 1
    evals(prob, model, opt, stream, 1)  # mid-chain again, lists of this outer step alive
    model.load_state_dict(snapshot[0])
    opt.load_state_dict(snapshot[1])
    assert opt.inner_index == 2
    evals(prob, model, opt, snapshot[2], 2 * n - 2)
    assert_same(params_of(model), straight)


# -- deepcopy in lockstep --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_deepcopy_steps_in_lockstep(cls):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **KW[cls], L=3, generator=torch.Generator().manual_seed(2))
    stream = prob.batches()
    drive(model, opt, stream, 2)
    m2, o2, s2 = copy.deepcopy((model, opt, stream))
    drive(model, opt, stream, 2)
    drive(m2, o2, s2, 2)
    assert_same(params_of(model), params_of(m2))


# -- the anchor API and closure-free step(closure) --------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_eval_puts_x_and_train_puts_the_chain_point_back(cls, dtype):
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2).to(dtype)
    opt = cls(model.parameters(), **KW[cls], L=3, closure_free=True)

    def closure():
        opt.zero_grad()
        loss = model(torch.randn(8, 5, dtype=dtype)).float().pow(2).mean()
        loss.backward()
        return loss

    for _ in range(opt.evals_per_step):
        opt.step(closure)
    x = params_of(model)
    opt.step(closure)
    assert opt.inner_index == 1 and not opt.at_anchor
    y = params_of(model)
    assert not all(torch.equal(a, b) for a, b in zip(x, y))
    opt.eval()
    assert opt.at_anchor
    assert_same(params_of(model), x)
    with pytest.raises(RuntimeError, match="call opt.train"):
        opt.step(closure)
    opt.eval()  # idempotent
    opt.train()
    assert_same(params_of(model), y)
    opt.train()  # idempotent
    assert opt.grad_evals == opt.evals_per_step + 1


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_closure_free_step_with_closure_is_one_evaluation(cls):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **KW[cls], L=3, closure_free=True)
    calls = []
    closure = prob.closure(model, opt, prob.batches(), counter=calls)
    loss = opt.step(closure)
    assert len(calls) == 1 and opt.grad_evals == 1 and opt.inner_index == 1
    assert torch.is_tensor(loss)


# -- torch.optim.SGD's conventions ---------------------------------------------------------------
def test_momentum_zero_works_with_the_default_nesterov():
    model = torch.nn.Linear(2, 1)
    for cls in CLASSES:
        cls(model.parameters(), momentum=0)
        with pytest.raises(ValueError, match="Invalid nesterov value"):
            cls(model.parameters(), momentum=0, nesterov=True)


def test_numbers_from_config_files():
    model = torch.nn.Linear(2, 1)
    np = pytest.importorskip("numpy")
    opt = EntropySGD(
        model.parameters(),
        lr=torch.tensor(0.1),
        L=20.0,
        gamma=np.float32(0.03),
        noise=np.float64(1e-4),
    )
    assert opt.param_groups[0]["L"] == 20 and isinstance(opt.param_groups[0]["L"], int)
    assert torch.is_tensor(opt.param_groups[0]["lr"])
    with pytest.raises(ValueError, match="Invalid L value"):
        EntropySGD(model.parameters(), L=20.5)
    with pytest.raises(ValueError, match="Invalid lr value"):
        EntropySGD(model.parameters(), lr=torch.tensor([0.1, 0.2]))


def test_tensor_lr_steps_like_a_float_lr():
    prob = Problem()
    m1, m2 = prob.model(), prob.model()
    o1 = HJ(m1.parameters(), lr=0.05, L=2)
    o2 = HJ(m2.parameters(), lr=torch.tensor(0.05, dtype=torch.float64), L=2)
    drive(m1, o1, prob.batches(), 2)
    drive(m2, o2, prob.batches(), 2)
    assert_same(params_of(m1), params_of(m2))


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_keywords_after_lr_are_keyword_only(cls):
    with pytest.raises(TypeError):
        cls(torch.nn.Linear(2, 1).parameters(), 0.1, 0.9)


@pytest.mark.parametrize(
    "cls,bad",
    [
        (HJ, {"gamma": 0}),
        (Heat, {"gamma": 0.0}),
        (EntropySGD, {"alpha": 0}),
        (EntropySGD, {"lr": -1}),
        (ProxSGD, {"inner_lr": 0}),
        (HJ, {"damping": 2}),
        (EntropySGD, {"L": 3}),
    ],
    ids=["hj_gamma", "heat_gamma", "esgd_alpha", "esgd_lr", "prox_inner_lr", "hj_damping", "L"],
)
def test_every_param_group_is_validated(cls, bad):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        cls([{"params": model[0].parameters()}, {"params": model[1].parameters(), **bad}])
    opt = cls(model[0].parameters())
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        opt.add_param_group({"params": model[1].parameters(), **bad})
    assert len(opt.param_groups) == 1  # the bad group was not kept


# -- GradScaler: a step that is really skipped (positive control) --------------------------------
def test_gradscaler_skips_a_step_with_inf_gradients():
    prob = Problem(dtype=torch.float32)
    model = prob.model()
    ref = prob.model()
    opt = EntropySGD(model.parameters(), lr=0.05, L=3, noise=0.0, closure_free=True)
    ref_opt = EntropySGD(ref.parameters(), lr=0.05, L=3, noise=0.0, closure_free=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    s1 = prob.batches()
    skipped = 0
    for i in range(9):
        x, y = next(s1)
        opt.zero_grad()
        scaler.scale(((model(x) - y) ** 2).mean()).backward()
        if i == 4:
            next(model.parameters()).grad[0, 0] = float("inf")
            skipped += 1
        before = opt.grad_evals
        scaler.step(opt)
        scaler.update()
        if i == 4:
            assert opt.grad_evals == before  # really skipped
            continue
        # the reference sees the same batches, minus the skipped one
        ref_opt.zero_grad()
        ((ref(x) - y) ** 2).mean().backward()
        ref_opt.step()
    assert skipped == 1 and opt.grad_evals == 8 == ref_opt.grad_evals
    assert scaler.get_scale() < 2.0**8
    assert_same(params_of(model), params_of(ref), exact=False, tol=1e-6)


# -- a parameter that stops taking part mid-chain, and tensors with no entries --------------------
@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_parameter_leaving_mid_chain_finishes_the_step_as_with_zero_gradients(cls):
    """Frozen mid-chain (``requires_grad_(False)``, its gradient None from then on): it finishes
    the outer step it started, its missing gradients counted as zero, then stays put."""
    prob = Problem()
    runs = {}
    for how in ("freeze", "zeros"):
        model = prob.model()
        extra = torch.nn.Parameter(torch.full((2,), 5.0, dtype=torch.float64))
        opt = cls(
            [*model.parameters(), extra],
            **KW[cls],
            L=3,
            closure_free=True,
            generator=torch.Generator().manual_seed(0),
        )
        zeroed = [False]
        closure = extra_closure(model, opt, prob.batches(), extra, zeroed)
        for _ in range(opt.evals_per_step + 1):
            opt.step(closure)
        assert opt.inner_index == 1
        if how == "freeze":
            extra.requires_grad_(False)
        else:
            zeroed[0] = True  # the same step with explicit zero gradients
        while opt.inner_index != 0:
            opt.step(closure)
        runs[how] = [p.detach().clone() for p in [*model.parameters(), extra]]
        if how == "freeze":
            after_step = extra.detach().clone()
            for _ in range(2 * opt.evals_per_step):
                opt.step(closure)
            assert torch.equal(extra.detach(), after_step)  # no gradient at evaluation 0: left out
    assert_same(runs["freeze"], runs["zeros"])
    assert not torch.equal(runs["freeze"][-1], torch.full((2,), 5.0, dtype=torch.float64))


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_an_empty_parameter_tensor_changes_nothing(cls):
    """A parameter with no entries (a zero-width layer) beside the others: the same steps."""
    prob = Problem()
    finals = []
    for with_empty in (False, True):
        model = prob.model()
        params = list(model.parameters())
        if with_empty:
            empty = torch.nn.Parameter(torch.zeros(0, 3, dtype=torch.float64))
            params.insert(1, empty)
        opt = cls(params, **KW[cls], L=2, generator=torch.Generator().manual_seed(0))
        stream = prob.batches()

        def closure():
            opt.zero_grad()
            x, y = next(stream)
            loss = ((model(x) - y) ** 2).mean()
            if with_empty:
                loss = loss + empty.sum()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        finals.append(params_of(model))
    assert_same(finals[0], finals[1])


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_model_converted_after_construction_steps_like_one_built_after(cls):
    """``model.double()`` after the optimizer is built: the state follows the new dtype, and the
    run is the one an optimizer built on the float64 model takes, bit for bit."""
    prob = Problem()
    finals = []
    for convert_after in (False, True):
        model = prob.model().float()
        if not convert_after:
            model.double()
        opt = cls(model.parameters(), **KW[cls], L=2, generator=torch.Generator().manual_seed(0))
        if convert_after:
            model.double()
        drive(model, opt, prob.batches(), 3)
        finals.append(params_of(model))
        assert all(
            v.dtype == torch.float64
            for st in opt.state.values()
            for v in st.values()
            if torch.is_tensor(v) and v.is_floating_point()
        )
    assert_same(finals[0], finals[1])


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_model_cast_to_bfloat16_after_construction_keeps_float32_state(cls):
    """``model.bfloat16()`` after a step: the state stays float32 and the run follows the float32
    twin that was not cast, to bfloat16 rounding (full-batch loss, so no mini-batch noise)."""
    prob = Problem(dtype=torch.float32)
    runs = []
    for cast in (False, True):
        model = prob.model()
        opt = cls(model.parameters(), **KW[cls], L=2, generator=torch.Generator().manual_seed(0))
        drive(model, opt, prob.batches(), 1)
        if cast:
            model.bfloat16()
        dtype = next(model.parameters()).dtype

        def closure():
            opt.zero_grad()
            loss = ((model(prob.X.to(dtype)) - prob.Y.to(dtype)) ** 2).mean()
            loss.backward()
            return loss

        before = closure().item()
        for _ in range(5):
            opt.step(closure)
        runs.append([p.detach().float() for p in model.parameters()])
        assert closure().item() < before
        assert all(
            v.dtype == torch.float32
            for st in opt.state.values()
            for v in st.values()
            if torch.is_tensor(v) and v.is_floating_point()
        )
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert max((a - b).abs().max().item() for a, b in zip(*runs)) < 5e-3  # measured 1e-3

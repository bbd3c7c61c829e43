"""Bad input: every invalid hyper-parameter raises ValueError naming it; telemetry."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

from .helpers import OPTIMIZERS, Problem, assert_same

COMMON_BAD = [
    ("lr", -0.1),
    ("lr", math.nan),
    ("momentum", -0.1),
    ("momentum", 1.0),
    ("weight_decay", -1e-4),
    ("L", -1),
    ("L", 2.5),
    ("L", True),
    ("rho", -1.0),
    ("scoping", -0.1),
    ("gamma", -1.0),
    ("gamma", math.inf),
    ("gamma_max", -1.0),
]
SPECIFIC_BAD = {
    EntropySGD: [
        ("inner_lr", 0.0),
        ("inner_lr", -1.0),
        ("inner_momentum", 1.5),
        ("noise", -1e-4),
        ("alpha", 0.0),
        ("alpha", 1.5),
        ("lr", "0.1"),
    ],
    ProxSGD: [("inner_lr", 0.0), ("inner_momentum", -0.5)],
    HJ: [("damping", 0.0), ("damping", 1.1), ("gamma", 0.0)],
    Heat: [("gamma", 0.0)],
}
CASES = [
    (cls, name, value) for cls in SPECIFIC_BAD for name, value in COMMON_BAD + SPECIFIC_BAD[cls]
]


@pytest.mark.parametrize(
    "cls,name,value", CASES, ids=[f"{c.__name__}-{n}={v!r}" for c, n, v in CASES]
)
def test_invalid_hyper_parameter_names_the_argument(cls, name, value):
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        cls(model.parameters(), **{name: value})


@pytest.mark.parametrize("cls", [EntropySGD, ProxSGD, HJ, Heat])
def test_nesterov_without_momentum_is_rejected(cls):
    with pytest.raises(ValueError, match="Invalid nesterov value"):
        cls(torch.nn.Linear(2, 1).parameters(), momentum=0.0, nesterov=True)


def _stepped(cls, kwargs, steps=3):
    """A model and optimizer after a few outer steps, with the closure that continues them."""
    problem = Problem()
    model = problem.model()
    opt = cls(model.parameters(), generator=torch.Generator().manual_seed(0), **kwargs)
    closure = problem.closure(model, opt, problem.batches())
    for _ in range(steps):
        opt.step(closure)
    return model, opt, closure


def _saved_sgd_state(model):
    """torch.optim.SGD's state_dict for the same layout (on a copy: the model is not touched)."""
    model = copy.deepcopy(model)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    sgd.step()
    return copy.deepcopy(sgd.state_dict())


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_loading_another_optimizers_state_is_a_value_error_and_loads_nothing(name, cls, kwargs):
    model, opt, closure = _stepped(cls, kwargs)
    twin_model, twin, twin_closure = _stepped(cls, kwargs)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=f"{cls.__name__}.load_state_dict: param group 0 has no"):
        opt.load_state_dict(_saved_sgd_state(model))
    assert opt.state_dict()["param_groups"] == before["param_groups"]
    for _ in range(2):  # the optimizer goes on as if nothing had happened, like its twin
        opt.step(closure)
        twin.step(twin_closure)
    assert_same(list(model.parameters()), list(twin_model.parameters()))


@pytest.mark.parametrize(
    "key,value,match",
    [("L", -1, "Invalid L value"), ("lr", math.nan, "Invalid lr value"),
     ("momentum", 1.5, "Invalid momentum value")],
)  # fmt: skip
def test_a_corrupt_hyper_parameter_in_a_state_dict_names_group_and_argument(key, value, match):
    _, opt, _ = _stepped(HJ, dict(lr=0.05, L=3, gamma=5.0))
    saved = copy.deepcopy(opt.state_dict())
    saved["param_groups"][0][key] = value
    with pytest.raises(ValueError, match=f"HJ.load_state_dict: param group 0: {match}"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0][key] != value or key == "lr"  # nan != nan
    assert math.isfinite(opt.param_groups[0]["lr"])


def test_state_dict_groups_with_different_L_are_rejected():
    problem = Problem()
    model = problem.model()
    opt = EntropySGD([{"params": [p]} for p in model.parameters()], L=2)
    saved = copy.deepcopy(opt.state_dict())
    saved["param_groups"][1]["L"] = 3
    with pytest.raises(ValueError, match="different L values"):
        opt.load_state_dict(saved)
    assert {g["L"] for g in opt.param_groups} == {2}


def test_generator_must_be_a_generator():
    with pytest.raises(ValueError, match="Invalid generator value"):
        EntropySGD(torch.nn.Linear(2, 1).parameters(), generator=42)


@pytest.mark.parametrize("cls", [EntropySGD, ProxSGD, HJ, Heat])
def test_telemetry(cls):
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), L=3, telemetry=True)
    assert opt.last_telemetry is None
    opt.step(prob.closure(model, opt, prob.batches()))
    t = opt.last_telemetry
    assert set(t) >= {
        "grad_norm",
        "relaxed_grad_norm",
        "cosine",
        "gamma",
        "noise_norm",
        "mean_chain_distance",
    }
    assert t["grad_norm"] > 0 and t["relaxed_grad_norm"] > 0 and -1 <= t["cosine"] <= 1
    assert t["gamma"] == opt.coupling()
    assert (t["noise_norm"] > 0) == (cls in (EntropySGD, Heat))


def test_telemetry_grad_norm_is_the_gradient_at_the_anchor():
    prob = Problem()
    model = prob.model()
    x, y = prob.X[:8], prob.Y[:8]
    opt = EntropySGD(model.parameters(), L=3, telemetry=True)

    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    model.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    expected = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in model.parameters()))
    opt.step(closure)
    assert opt.last_telemetry["grad_norm"] == pytest.approx(expected, rel=1e-12)


def test_replica_group_of_another_dtype_is_refused_and_leaves_no_trace():
    from deeprelax.optim import ElasticSGD

    problem = Problem()
    model = problem.model()
    opt = ElasticSGD(model.parameters(), lr=0.05, kappa=0.5)
    closure = problem.closure(model, opt, problem.batches())
    opt.step(closure)
    stray = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    with pytest.raises(ValueError, match="Invalid params value: ElasticSGD needs one dtype"):
        opt.add_param_group({"params": [stray]})
    assert len(opt.param_groups) == 1 and stray not in opt.state
    opt.step(closure)
    assert len(opt.state_dict()["state"]) == len(list(model.parameters()))

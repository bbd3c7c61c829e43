"""The optimizer battery on CUDA (skipped without a CUDA device).

Run on a GPU machine with ``pytest -m cuda tests/optim`` (``benchmarks/gpu_check.sh`` does it).
"""

from __future__ import annotations

import copy
import io

import pytest
import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD

from .helpers import OPTIMIZERS, Problem, assert_same

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
IDS = [name for name, _, _ in OPTIMIZERS]
CLASSES = [EntropySGD, HJ, ProxSGD, Heat]


def cuda_problem(dtype=torch.float32):
    prob = Problem(dtype=dtype)
    prob.X, prob.Y = prob.X.cuda(), prob.Y.cuda()
    return prob


class CudaStream:
    def __init__(self, prob, seed):
        self.prob = prob
        self.gen = torch.Generator(device="cuda").manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        idx = torch.randint(0, len(self.prob.X), (8,), generator=self.gen, device="cuda")
        return self.prob.X[idx], self.prob.Y[idx]


def run(cls, kwargs, steps, *, closure_free=False, foreach=None, dtype=torch.float32, state=None):
    prob = cuda_problem(dtype)
    model = prob.model().cuda()
    opt = cls(
        model.parameters(),
        **kwargs,
        foreach=foreach,
        closure_free=closure_free,
        generator=torch.Generator(device="cuda").manual_seed(7),
    )
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    stream = state["stream"] if state is not None else CudaStream(prob, 2)
    closure = prob.closure(model, opt, stream)
    for _ in range(steps):
        if closure_free:
            for _ in range(opt.evals_per_step):
                closure()
                opt.step()
        else:
            opt.step(closure)
    return model, opt, stream


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_cuda_closure_free_equals_closure(name, cls, kwargs):
    m1, _, _ = run(cls, kwargs, 4)
    m2, _, _ = run(cls, kwargs, 4, closure_free=True)
    assert_same(list(m1.parameters()), list(m2.parameters()))


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_cuda_foreach_equals_loop(name, cls, kwargs):
    m1, _, _ = run(cls, kwargs, 4, foreach=True, dtype=torch.float64)
    m2, _, _ = run(cls, kwargs, 4, foreach=False, dtype=torch.float64)
    assert_same(list(m1.parameters()), list(m2.parameters()), exact=False, tol=1e-12)


@pytest.mark.parametrize("name,cls,kwargs", OPTIMIZERS, ids=IDS)
def test_cuda_lockstep_resume_with_the_cuda_generator(name, cls, kwargs):
    full, _, _ = run(cls, kwargs, 4)
    m, o, stream = run(cls, kwargs, 2)
    buf = io.BytesIO()
    torch.save({"model": m.state_dict(), "opt": o.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    saved["stream"] = stream
    resumed, _, _ = run(cls, kwargs, 2, state=saved)
    assert_same(list(full.parameters()), list(resumed.parameters()))


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_cuda_L0_is_sgd(cls):
    prob = cuda_problem()
    m1, m2 = prob.model().cuda(), prob.model().cuda()
    sgd = torch.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    opt = cls(m2.parameters(), lr=0.1, L=0, weight_decay=1e-3)
    for model, o in ((m1, sgd), (m2, opt)):
        stream = CudaStream(prob, 3)
        closure = prob.closure(model, o, stream)
        for _ in range(4):
            closure()
            o.step()
    assert_same(list(m1.parameters()), list(m2.parameters()))


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_cuda_bf16_parameters_with_float32_state_and_the_anchor_api(cls):
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 4).cuda().to(torch.bfloat16)
    opt = cls(model.parameters(), lr=0.05, L=3, closure_free=True)
    for p in model.parameters():
        assert opt.state[p]["anchor"].dtype == torch.float32

    def closure():
        opt.zero_grad()
        loss = model(torch.randn(8, 16, device="cuda", dtype=torch.bfloat16)).float().pow(2).mean()
        loss.backward()
        return loss

    for _ in range(opt.evals_per_step + 1):
        opt.step(closure)
    y = [p.detach().clone() for p in model.parameters()]
    opt.eval()
    x = [opt.state[p]["anchor"].to(torch.bfloat16) for p in model.parameters()]
    assert_same([p.detach() for p in model.parameters()], x)
    opt.train()
    assert_same([p.detach() for p in model.parameters()], y)


def test_cuda_optimizer_built_before_model_cuda_follows_the_parameters():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 2)
    opt = EntropySGD(model.parameters(), lr=0.05, L=2, closure_free=True)
    model.cuda()
    for _ in range(4):
        opt.zero_grad()
        model(torch.randn(4, 8, device="cuda")).pow(2).mean().backward()
        opt.step()
    assert opt.generator.device.type == "cuda"
    assert all(
        v.is_cuda for p in model.parameters() for v in opt.state[p].values() if torch.is_tensor(v)
    )


def test_cuda_cpu_generator_with_cuda_parameters_is_refused():
    model = torch.nn.Linear(3, 1).cuda()
    with pytest.raises(ValueError, match="generator on cpu for parameters on cuda"):
        EntropySGD(model.parameters(), generator=torch.Generator())


def test_cuda_checkpoint_saved_on_cpu_resumes_on_cuda():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 2)
    opt = EntropySGD(model.parameters(), lr=0.05, L=2, closure_free=True)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 8)).pow(2).mean().backward()
        opt.step()
    sd = copy.deepcopy(opt.state_dict())
    m2 = copy.deepcopy(model).cuda()
    o2 = EntropySGD(m2.parameters(), lr=0.05, L=2, closure_free=True)
    with pytest.warns(UserWarning, match="saved on cpu and is restored on cuda"):
        o2.load_state_dict(sd)
    assert o2.inner_index == 1
    o2.zero_grad()
    m2(torch.randn(4, 8, device="cuda")).pow(2).mean().backward()
    o2.step()
    assert o2.inner_index == 0 and all(torch.isfinite(p).all() for p in m2.parameters())


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_cuda_no_host_sync_inside_the_chain(cls):
    """Every evaluation but the last of an outer step runs without a host-device sync."""
    torch.manual_seed(0)
    model = torch.nn.Linear(32, 4).cuda()
    opt = cls(model.parameters(), lr=0.05, L=4, closure_free=True)
    x = torch.randn(8, 32, device="cuda")

    def closure():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        return loss

    for _ in range(opt.evals_per_step):  # warm-up: allocations, generator, state
        opt.step(closure)
    for i in range(opt.evals_per_step):
        last = i == opt.evals_per_step - 1
        if not last:
            torch.cuda.set_sync_debug_mode("error")
        try:
            opt.step(closure)
        finally:
            torch.cuda.set_sync_debug_mode("default")

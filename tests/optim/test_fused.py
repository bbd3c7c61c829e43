"""``fused=True`` (one compiled pass per gradient evaluation) against the eager path, the reference.

Tolerances: float64 to 1e-12 (absolute and relative), float32 to a few ulps (relative 1e-6, about
8 ulps, absolute 1e-7 near zero) — the compiled loops may contract ``a + b * c`` into an FMA, the
only difference from the eager arithmetic.  The generator's stream must be identical, bit for bit.

Compiling takes seconds per kernel, so most tests here carry the ``compile`` marker and run with
``pytest -m compile tests/optim`` (or ``-m cuda`` on a GPU machine); the default run keeps the
compiler check and one equivalence test.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from deeprelax.optim import HJ, EntropySGD, Heat, ProxSGD, _fused, _philox

from .helpers import OPTIMIZERS, Problem, params_of
from .test_layouts import reload_mid_chain

IDS = [name for name, _, _ in OPTIMIZERS]
CLASSES = [EntropySGD, HJ, ProxSGD, Heat]
KW = {name: (cls, kw) for name, cls, kw in OPTIMIZERS}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def _compile_tests_on_request(request):
    """``compile`` tests run when selected (``-m compile``/``-m cuda``) or DEEPRELAX_TEST_COMPILE=1."""
    if request.node.get_closest_marker("compile") is None:
        return
    expr = request.config.getoption("markexpr", "") or ""
    if (
        "compile" not in expr
        and "cuda" not in expr
        and not os.environ.get("DEEPRELAX_TEST_COMPILE")
    ):
        pytest.skip("compile-heavy: run with -m compile")


def assert_close(a, b, dtype):
    for x, y in zip(a, b, strict=True):
        if x.dtype in (torch.float64,):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
        else:
            torch.testing.assert_close(x.float(), y.float(), rtol=1e-6, atol=1e-7)


def state_tensors(opt):
    """Every floating state tensor, keyed by (parameter index, name); keys must match across modes."""
    sd = opt.state_dict()["state"]
    return {
        (k, n): v
        for k, st in sd.items()
        for n, v in st.items()
        if torch.is_tensor(v) and v.is_floating_point()
    }


def assert_same_run(eager, fused, dtype):
    (m1, o1), (m2, o2) = eager, fused
    assert_close(params_of(m1), params_of(m2), dtype)
    s1, s2 = state_tensors(o1), state_tensors(o2)
    assert s1.keys() == s2.keys()
    assert_close([s1[k] for k in s1], [s2[k] for k in s1], dtype)
    assert {k: v for k, v in o1.state_dict()["param_groups"][0].items()} == {
        k: v for k, v in o2.state_dict()["param_groups"][0].items()
    }
    if o1.generator is not None:  # the same stream, to the bit
        assert torch.equal(o1.generator.get_state(), o2.generator.get_state())
    assert o1.grad_evals == o2.grad_evals and o1.outer_steps == o2.outer_steps


def train(
    cls,
    kw,
    *,
    fused,
    dtype=torch.float64,
    steps=3,
    closure_free=False,
    groups=False,
    param_dtype=None,
    device="cpu",
    **extra,
):
    prob = Problem(dtype=dtype)
    prob.X, prob.Y = prob.X.to(device), prob.Y.to(device)
    model = prob.model().to(device)
    if param_dtype is not None:
        model = model.to(param_dtype)
        prob.X, prob.Y = prob.X.to(param_dtype), prob.Y.to(param_dtype)
    params = model.parameters()
    if groups:
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        params = [
            {"params": weights, "lr": 0.05},
            {"params": biases, "lr": 0.2, "weight_decay": 0.0},
        ]
    opt = cls(
        params,
        **kw,
        **extra,
        fused=fused,
        closure_free=closure_free,
        generator=torch.Generator(device=device).manual_seed(7)
        if cls in (EntropySGD, Heat)
        else None,
    )
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(steps):
        if closure_free:
            for _ in range(opt.evals_per_step):
                closure()
                opt.step()
        else:
            opt.step(closure)
    return model, opt


# -- the default run: the compiler check and one equivalence ----------------------------------------
def test_fused_without_a_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(_fused, "_compiler_available", lambda: False)
    model = Problem().model()
    for cls in CLASSES:
        with pytest.raises(RuntimeError, match=r"fused=True.*C\+\+ compiler.*fused=False"):
            cls(model.parameters(), fused=True)
        cls(model.parameters(), fused=False)  # the eager path needs none


def test_fused_value_is_checked():
    model = Problem().model()
    with pytest.raises(ValueError, match="Invalid fused value: 'yes'"):
        EntropySGD(model.parameters(), fused="yes")


def test_fused_entropy_sgd_equals_eager_float64():
    cls, kw = KW["entropy_sgd"]
    assert_same_run(
        train(cls, kw, fused=False, steps=2), train(cls, kw, fused=True, steps=2), torch.float64
    )


# -- compile-marked: the battery's layouts ------------------------------------------------------------
@pytest.mark.compile
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", IDS)
def test_fused_equals_eager(name, dtype):
    cls, kw = KW[name]
    assert_same_run(
        train(cls, kw, fused=False, dtype=dtype), train(cls, kw, fused=True, dtype=dtype), dtype
    )


LAYOUTS = {
    "groups": dict(groups=True),
    "L0": dict(L=0),
    "L1": dict(L=1),
    "closure_free": dict(closure_free=True),
    "bf16_state_f32": dict(param_dtype=torch.bfloat16, dtype=torch.float32),
    "f16_state_f64": dict(
        param_dtype=torch.float16, dtype=torch.float32, state_dtype=torch.float64
    ),
}


@pytest.mark.compile
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", ["entropy_sgd", "prox_sgd", "hj", "heat"])
def test_fused_equals_eager_on_layouts(name, layout):
    cls, kw = KW[name]
    extra = dict(LAYOUTS[layout])
    kw = {**kw, **{k: extra.pop(k) for k in ("L",) if k in extra}}
    dtype = extra.pop("dtype", torch.float64)
    eager = train(cls, kw, fused=False, dtype=dtype, **extra)
    fused = train(cls, kw, fused=True, dtype=dtype, **extra)
    assert_same_run(eager, fused, torch.float32 if extra.get("param_dtype") else dtype)


@pytest.mark.compile
def test_fused_group_with_two_dtypes_compiles_one_call_per_dtype():
    """A group holding float32 and float64 parameters: one compiled call per (device, dtype)."""

    def run(fused):
        torch.manual_seed(0)
        a, b = torch.nn.Linear(3, 1).double(), torch.nn.Linear(3, 1)
        opt = EntropySGD(
            [*a.parameters(), *b.parameters()],
            lr=0.1,
            L=3,
            gamma=0.5,
            noise=1e-2,
            foreach=False,
            fused=fused,
            generator=torch.Generator().manual_seed(1),
        )
        gen = torch.Generator().manual_seed(2)

        def closure():
            opt.zero_grad()
            x = torch.randn(8, 3, generator=gen, dtype=torch.float64)
            # two uncoupled losses: the float64 trajectory must not inherit float32 rounding
            loss = torch.tanh(a(x)).pow(2).mean() + torch.tanh(b(x.float())).pow(2).mean()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        return [p.detach().clone() for p in (*a.parameters(), *b.parameters())]

    for x, y in zip(run(False), run(True)):
        tol = 1e-12 if x.dtype == torch.float64 else 1e-6
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)


@pytest.mark.compile
@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_fused_reload_of_the_same_optimizer_mid_chain_resumes_exactly(cls):
    reload_mid_chain(cls, telemetry=True, fused=True)


@pytest.mark.compile
@pytest.mark.parametrize("name", ["entropy_sgd", "hj", "heat"])
def test_lockstep_resume_between_fused_and_eager(name):
    """Save mid-chain from a fused optimizer, resume eagerly (and the reverse): same trajectory."""
    cls, kw = KW[name]
    prob = Problem()
    m1, m2 = prob.model(), prob.model()
    gen = dict(generator=torch.Generator().manual_seed(7)) if cls in (EntropySGD, Heat) else {}
    o1 = cls(m1.parameters(), **kw, fused=True, closure_free=True, **gen)
    stream = prob.batches()
    c1 = prob.closure(m1, o1, stream)
    for _ in range(o1.evals_per_step + 2):  # one outer step and two evaluations into the next
        c1()
        o1.step()
    gen2 = dict(generator=torch.Generator().manual_seed(99)) if gen else {}
    o2 = cls(m2.parameters(), **kw, fused=False, closure_free=True, **gen2)
    m2.load_state_dict(m1.state_dict())
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    stream2 = copy.deepcopy(stream)
    c2 = prob.closure(m2, o2, stream2)
    for i in range(2 * o1.evals_per_step):
        if i == o1.evals_per_step:  # and back: the eager state into a fresh fused optimizer
            o3 = cls(
                m1.parameters(),
                **kw,
                fused=True,
                closure_free=True,
                **({"generator": torch.Generator().manual_seed(5)} if gen else {}),
            )
            m1.load_state_dict(m2.state_dict())
            o3.load_state_dict(copy.deepcopy(o2.state_dict()))
            o1, c1 = o3, prob.closure(m1, o3, copy.deepcopy(stream2))
        c1()
        o1.step()
        c2()
        o2.step()
        assert_close(params_of(m1), params_of(m2), torch.float64)
    assert_same_run((m2, o2), (m1, o1), torch.float64)


@pytest.mark.compile
@pytest.mark.parametrize("name", ["entropy_sgd_rho", "heat"])
def test_fused_with_telemetry_matches_eager(name):
    """Telemetry's reductions stay eager; the trajectory and the figures match the eager run."""
    cls, kw = KW[name]
    eager = train(cls, kw, fused=False, telemetry=True)
    fused = train(cls, kw, fused=True, telemetry=True)
    assert_same_run(eager, fused, torch.float64)
    t1, t2 = eager[1].last_telemetry, fused[1].last_telemetry
    assert t1.keys() == t2.keys()
    for key in t1:
        assert t1[key] == pytest.approx(t2[key], rel=1e-10, abs=1e-12), key


@pytest.mark.compile
def test_many_models_in_one_process_stay_under_the_recompile_limit():
    """Twelve layouts (new shapes, new parameter counts) in one process: no recompile-limit error
    (dynamo allows 8 entries per compiled function, a hard error under fullgraph), each = eager."""
    for width in range(1, 13):
        layers = [torch.nn.Linear(3, width)] + [
            torch.nn.Linear(width, width) for _ in range(width % 3)
        ]
        layers = [m.double() for m in layers + [torch.nn.Linear(width, 1)]]
        finals = []
        for fused in (False, True):
            torch.manual_seed(width)
            model = torch.nn.Sequential(*copy.deepcopy(layers))
            opt = HJ(model.parameters(), lr=0.1, L=2, gamma=5.0, fused=fused)
            gen = torch.Generator().manual_seed(0)

            def closure():
                opt.zero_grad()
                loss = model(torch.randn(4, 3, generator=gen, dtype=torch.float64)).pow(2).mean()
                loss.backward()
                return loss

            opt.step(closure)
            finals.append(params_of(model))
        assert_close(finals[0], finals[1], torch.float64)


# -- CUDA (gpu_check.sh runs ``-m cuda``) ----------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.compile
@CUDA
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", IDS)
def test_cuda_fused_equals_eager(name, dtype):
    cls, kw = KW[name]
    assert_same_run(
        train(cls, kw, fused=False, dtype=dtype, device="cuda"),
        train(cls, kw, fused=True, dtype=dtype, device="cuda"),
        dtype,
    )


@pytest.mark.cuda
@pytest.mark.compile
@CUDA
@pytest.mark.parametrize("name", ["entropy_sgd", "heat"])
def test_cuda_fused_16bit_with_state_dtype(name):
    cls, kw = KW[name]
    extra = dict(param_dtype=torch.bfloat16, dtype=torch.float32, device="cuda")
    assert_same_run(
        train(cls, kw, fused=False, **extra), train(cls, kw, fused=True, **extra), torch.float32
    )


# -- the in-kernel (Philox) noise draw: off by default, compared with eager draws of that stream ---------
def use_philox_eagerly(opt):
    """Make an eager optimizer fill its noise from the stream the fused kernels draw in-kernel."""
    stream = {}

    def normal_(chain, tensors):
        if not stream:
            gen = opt._rng(tensors[0].device)
            seed = int(torch.randint(0, 2**63 - 1, (1,), generator=gen, device=gen.device).item())
            stream.update(seed=seed, offset=0)
        k = [torch.tensor(w, dtype=torch.int64) for w in _philox.split_seed(stream["seed"])]
        for t in tensors:
            t.copy_(_philox.normal(t, *k, torch.tensor(stream["offset"], dtype=torch.int64)))
            stream["offset"] += t.numel()

    opt._normal_ = normal_
    return stream


def kernel_noise_run(name, *, fused, device="cpu"):
    """Three outer steps, closure-free: fused with the in-kernel draw, or eager drawing that stream."""
    cls, kw = KW[name]
    prob = Problem()
    prob.X, prob.Y = prob.X.to(device), prob.Y.to(device)
    model = prob.model().to(device)
    opt = cls(
        model.parameters(),
        **kw,
        fused=fused,
        closure_free=True,
        generator=torch.Generator(device=device).manual_seed(7),
    )
    stream = None
    if fused:
        opt._fused_noise = "kernel"
    else:
        stream = use_philox_eagerly(opt)
    closure = prob.closure(model, opt, prob.batches())
    for _ in range(3 * opt.evals_per_step):
        closure()
        opt.step()
    return model, opt, stream


def test_an_unknown_noise_source_is_an_error():
    cls, kw = KW["entropy_sgd"]
    prob = Problem()
    model = prob.model()
    opt = cls(model.parameters(), **kw, fused=True)
    opt._fused_noise = "gpu"
    with pytest.raises(ValueError, match="Invalid fused noise source: 'gpu'"):
        opt.step(prob.closure(model, opt, prob.batches()))


@pytest.mark.compile
@pytest.mark.parametrize("name", ["entropy_sgd", "heat"])
def test_in_kernel_noise_equals_eager_draws_of_the_same_stream(name):
    (m1, _, stream), (m2, o2, _) = (
        kernel_noise_run(name, fused=False),
        kernel_noise_run(name, fused=True),
    )
    assert_close(params_of(m1), params_of(m2), torch.float64)
    saved = o2.state_dict()["state"][0]["fused_noise"]
    assert saved == {"seed": stream["seed"], "offset": stream["offset"]}
    draws = 3 * (o2.evals_per_step if name == "entropy_sgd" else o2.param_groups[0]["L"])
    assert saved["offset"] == draws * sum(p.numel() for p in m2.parameters())


@pytest.mark.compile
def test_in_kernel_noise_resumes_from_the_state_dict():
    """Save two evaluations into an outer step; a fresh optimizer (another generator seed) loads it
    and continues the identical Philox stream: bit-equal to the uninterrupted run."""
    cls, kw = KW["entropy_sgd"]
    prob = Problem()
    model = prob.model()
    opt = cls(
        model.parameters(),
        **kw,
        fused=True,
        closure_free=True,
        generator=torch.Generator().manual_seed(7),
    )
    opt._fused_noise = "kernel"
    stream = prob.batches()
    closure = prob.closure(model, opt, stream)
    for _ in range(opt.evals_per_step + 2):
        closure()
        opt.step()
    saved = (
        copy.deepcopy(model.state_dict()),
        copy.deepcopy(opt.state_dict()),
        copy.deepcopy(stream),
    )
    for _ in range(2 * opt.evals_per_step):
        closure()
        opt.step()
    model2 = prob.model(seed=5)
    opt2 = cls(
        model2.parameters(),
        **kw,
        fused=True,
        closure_free=True,
        generator=torch.Generator().manual_seed(99),
    )
    opt2._fused_noise = "kernel"
    model2.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    closure2 = prob.closure(model2, opt2, saved[2])
    for _ in range(2 * opt.evals_per_step):
        closure2()
        opt2.step()
    for a, b in zip(params_of(model), params_of(model2)):
        assert torch.equal(a, b)
    assert (
        opt.state_dict()["state"][0]["fused_noise"] == opt2.state_dict()["state"][0]["fused_noise"]
    )


@pytest.mark.cuda
@pytest.mark.compile
@CUDA
@pytest.mark.parametrize("name", ["entropy_sgd", "heat"])
def test_cuda_in_kernel_noise_equals_eager_draws_of_the_same_stream(name):
    (m1, _, _), (m2, _, _) = (
        kernel_noise_run(name, fused=False, device="cuda"),
        kernel_noise_run(name, fused=True, device="cuda"),
    )
    assert_close(params_of(m1), params_of(m2), torch.float64)

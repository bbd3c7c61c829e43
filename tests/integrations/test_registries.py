"""The relaxation optimizers by name in pytorch_optimizer and timm, tried with the real packages."""

from __future__ import annotations

import sys

import pytest
import torch

from deeprelax import optim
from deeprelax.integrations import (
    OPTIMIZER_NAMES,
    register_pytorch_optimizer,
    register_timm,
)

KEYWORDS = dict(L=3, gamma=0.5, noise=1e-2)  # small chains keep the tests fast


@pytest.fixture
def po_registry():
    """pytorch_optimizer's real name registry, restored after the test."""
    registry_module = pytest.importorskip("pytorch_optimizer.optimizer")
    saved = dict(registry_module.OPTIMIZERS)
    yield registry_module.OPTIMIZERS
    registry_module.OPTIMIZERS.clear()
    registry_module.OPTIMIZERS.update(saved)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int = 2) -> None:
    gen = torch.Generator().manual_seed(1)

    def closure():
        opt.zero_grad()
        x = torch.randn(8, 5, generator=gen)
        loss = model(x).pow(2).mean()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)


def test_load_optimizer_finds_every_class_by_lower_case_name(po_registry):
    import pytorch_optimizer

    added = register_pytorch_optimizer()
    assert sorted(added) == sorted(name.lower() for name in OPTIMIZER_NAMES)
    for name in OPTIMIZER_NAMES:
        assert pytorch_optimizer.load_optimizer(name.lower()) is getattr(optim, name)
        assert pytorch_optimizer.load_optimizer(name) is getattr(optim, name)  # case-insensitive
    assert "entropysgd" in pytorch_optimizer.get_supported_optimizers("entropy*")


def test_create_optimizer_steps_like_the_class_built_directly(po_registry):
    import pytorch_optimizer

    register_pytorch_optimizer()
    via_registry, direct = _model(), _model()
    opt_a = pytorch_optimizer.create_optimizer(
        via_registry, "entropysgd", lr=0.05, generator=torch.Generator().manual_seed(3), **KEYWORDS
    )
    opt_b = optim.EntropySGD(
        direct.parameters(), lr=0.05, generator=torch.Generator().manual_seed(3), **KEYWORDS
    )
    assert type(opt_a) is optim.EntropySGD
    _train(via_registry, opt_a)
    _train(direct, opt_b)
    assert opt_a.grad_evals == opt_b.grad_evals == 2 * KEYWORDS["L"]
    for a, b in zip(via_registry.parameters(), direct.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_registering_twice_is_harmless(po_registry):
    first = register_pytorch_optimizer()
    size = len(po_registry)
    assert register_pytorch_optimizer() == first
    assert len(po_registry) == size


def test_a_name_taken_by_another_optimizer_is_refused(po_registry):
    po_registry["heat"] = torch.optim.SGD
    with pytest.raises(ValueError, match=r"Invalid name 'heat'.*pytorch_optimizer"):
        register_pytorch_optimizer()
    assert po_registry["heat"] is torch.optim.SGD
    assert "entropysgd" not in po_registry  # nothing half-registered


def test_missing_pytorch_optimizer_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_optimizer", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'deeprelax\[registries\]'"):
        register_pytorch_optimizer()


def _import_timm_optim():
    # timm's wheel imports torchvision, whose PyPI build fails beside the CPU torch used here
    # (ImportError, or RuntimeError from its operator registration): skip then.
    try:
        import timm.optim
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"timm cannot be imported here: {exc}")
    return timm.optim


def test_timm_create_optimizer_v2_builds_the_relaxation_optimizers():
    timm_optim = _import_timm_optim()
    register_timm()
    for name in OPTIMIZER_NAMES:
        assert timm_optim.get_optimizer_class(name.lower(), bind_defaults=False) is getattr(
            optim, name
        )
    opt = timm_optim.create_optimizer_v2(_model(), "entropysgd", lr=0.05, **KEYWORDS)
    assert type(opt) is optim.EntropySGD
    assert opt.param_groups[0]["momentum"] == 0.9  # timm's default for optimizers with momentum

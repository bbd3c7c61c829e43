"""Checkpoints of earlier versions load and resume to the trajectory the old code took (to
float64 round-off: the fixture was computed on another CPU).

The fixture (data/legacy_checkpoints.pt, made by legacy_checkpoints.py from the old source) keeps
the optimizer-wide state under "relax", the replicas' coupling under "rho"/"rho_max", and
ElasticSGD's counters in the first parameter's state.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

import deeprelax.optim as O

from .legacy_checkpoints import NEW_KEYWORDS, SCENARIOS, flat, run, tiny_model

FIXTURE = Path(__file__).parent / "data" / "legacy_checkpoints.pt"


@pytest.fixture(scope="module")
def blob() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def _today(kwargs: dict) -> dict:
    return {NEW_KEYWORDS.get(k, k): v for k, v in kwargs.items()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_old_checkpoint_resumes_bit_for_bit(blob, name):
    cls, kwargs, before, after = SCENARIOS[name]
    saved = copy.deepcopy(blob[name])
    model = tiny_model()
    extra = {"generator": torch.Generator().manual_seed(99)} if cls != "ElasticSGD" else {}
    opt = getattr(O, cls)(model.parameters(), **_today(kwargs), **extra)  # state from the file
    model.load_state_dict(saved["model"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading an old checkpoint is not deprecated
        opt.load_state_dict(saved["optimizer"])
    assert opt.grad_evals == before
    run(model, opt, before, after)
    # The fixture's trajectory was computed on another CPU, whose math kernels round the float64
    # forward and backward passes differently in the last bit (1e-17 here): equal to round-off.
    # A state that loads wrongly moves the weights far more, which this still catches (measured on these
    # scenarios: a reseeded generator 1e-3, zeroed buffers 2e-2 to 1e-1, the outer step one off
    # 1e-4 where the coupling's scoping uses it); on one machine, resuming is
    # bit-for-bit (test_old_outer_key_written_by_hand_loads, and the resume tests).
    torch.testing.assert_close(flat(model), saved["final"], rtol=0, atol=1e-12)
    assert opt.grad_evals == before + after
    state = opt.state_dict()
    first = state["state"][0]
    assert "outer" in first and "relax" not in first
    assert not {"outer_step", "grad_evals"} & set(first)
    group = state["param_groups"][0]
    if cls != "EntropySGD":
        assert group["kappa"] == kwargs["rho"] and group["kappa_max"] == kwargs["rho_max"]
        assert "rho" not in group and "rho_max" not in group
    else:
        assert group["rho"] == 0.0  # EntropySGD's controlled variant keeps its name


def test_old_outer_key_written_by_hand_loads():
    """A state dict of today's optimizer with the optimizer-wide state moved back under "relax"."""
    torch.manual_seed(0)
    kwargs = dict(lr=0.05, L=2, gamma=0.5, noise=1e-2, closure_free=True)
    model = tiny_model()
    opt = O.EntropySGD(model.parameters(), generator=torch.Generator().manual_seed(3), **kwargs)
    run(model, opt, 0, 3)  # mid-chain
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["relax"] = sd["state"][0].pop("outer")
    straight = copy.deepcopy((model.state_dict(), opt.state_dict()))
    run(model, opt, 3, 5)
    expected = flat(model)

    model2 = tiny_model()
    opt2 = O.EntropySGD(model2.parameters(), generator=torch.Generator().manual_seed(4), **kwargs)
    model2.load_state_dict(straight[0])
    opt2.load_state_dict(sd)
    assert opt2.inner_index == 1 and opt2.grad_evals == 3
    run(model2, opt2, 3, 5)
    assert torch.equal(flat(model2), expected)

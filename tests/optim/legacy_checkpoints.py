"""Checkpoints written by deeprelax before the state keys and replica keywords were renamed.

``data/legacy_checkpoints.pt`` was made by running this file (``python legacy_checkpoints.py OUT``)
against the source of commit b21640a, the last one with the old layout: the optimizer-wide state
under ``"relax"``, Parle's and ElasticSGD's elastic coupling under ``"rho"``/``"rho_max"`` and
ElasticSGD's counters as ``"outer_step"``/``"grad_evals"`` in the first parameter's state.  For
each scenario it holds the model and optimizer state after ``before`` gradient evaluations and the
parameters that the old code reached ``after`` evaluations later, which a resumed run of today's
code must reproduce bit for bit (tests/optim/test_legacy_state.py).
"""

from __future__ import annotations

import copy
import sys

import torch

#: name -> (class, keywords of the old code, evaluations before the save, evaluations after it)
SCENARIOS = {
    "entropy_sgd": (
        "EntropySGD",
        dict(lr=0.05, L=3, gamma=0.5, scoping=0.1, noise=1e-2, weight_decay=1e-3),
        6,
        6,
    ),
    "entropy_sgd_mid_chain": (
        "EntropySGD",
        dict(lr=0.05, L=3, gamma=0.5, noise=1e-2, closure_free=True),
        5,
        7,
    ),
    "parle": (
        "Parle",
        dict(lr=0.05, L=3, gamma=0.1, scoping=0.1, noise=1e-2, rho=0.5, rho_max=0.55),
        6,
        6,
    ),
    "elastic_sgd": (
        "ElasticSGD",
        dict(lr=0.05, momentum=0.9, rho=0.3, scoping=0.2, rho_max=0.5, weight_decay=1e-3),
        3,
        3,
    ),
}

#: today's keywords for the same optimizers (the elastic coupling renamed to kappa)
NEW_KEYWORDS = {"rho": "kappa", "rho_max": "kappa_max"}


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()


def evaluate(model: torch.nn.Module, opt: torch.optim.Optimizer, index: int) -> torch.Tensor:
    """Gradient evaluation number ``index``: a fresh, deterministic mini-batch."""
    g = torch.Generator().manual_seed(100 + index)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, 2, generator=g, dtype=torch.float64)
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss


def run(model: torch.nn.Module, opt: torch.optim.Optimizer, start: int, evals: int) -> None:
    """``evals`` gradient evaluations from evaluation number ``start`` (one per closure call)."""
    counter = [start]

    def closure() -> torch.Tensor:
        counter[0] += 1
        return evaluate(model, opt, counter[0] - 1)

    while counter[0] < start + evals:
        opt.step(closure)


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def make(out: str) -> None:  # pragma: no cover - run once against the old source
    import deeprelax.optim as O

    blob = {}
    for name, (cls, kwargs, before, after) in SCENARIOS.items():
        extra = {"generator": torch.Generator().manual_seed(7)} if cls != "ElasticSGD" else {}
        model = tiny_model()
        opt = getattr(O, cls)(model.parameters(), **kwargs, **extra)
        run(model, opt, 0, before)
        saved = copy.deepcopy(dict(model=model.state_dict(), optimizer=opt.state_dict()))
        run(model, opt, before, after)
        blob[name] = dict(saved, final=flat(model).clone())
    torch.save(blob, out)


if __name__ == "__main__":  # pragma: no cover
    make(sys.argv[1])

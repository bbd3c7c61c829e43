"""DDP scenarios for test_ddp_noise.py (module-level, so spawned processes can import them)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def train(rank: int, cls_name: str, sync_noise: bool, outer_steps: int = 3) -> dict:
    from torch.nn.parallel import DistributedDataParallel as DDP

    import deeprelax.optim as optim

    torch.manual_seed(0)
    model = DDP(nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 2)))
    torch.manual_seed(1234 + 17 * rank)  # per-rank seeds: the noise generators start apart
    kwargs = dict(lr=0.1, L=3, closure_free=True, sync_noise=sync_noise)
    kwargs.update(dict(noise=1e-2, gamma=0.03) if cls_name == "EntropySGD" else dict(gamma=1e2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = getattr(optim, cls_name)(model.parameters(), **kwargs)
        for i in range(outer_steps * opt.evals_per_step):
            g = torch.Generator().manual_seed(100 * rank + i)  # each rank its own batch
            x, y = torch.randn(8, 6, generator=g), torch.randn(8, 2, generator=g)
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    return {
        "agree": optim.replicas_agree(model.parameters()),
        "deviation": optim.replica_deviation(model.parameters()),
        "outer_steps": opt.outer_steps,
        "warnings": [str(w.message) for w in caught if "sync_noise" in str(w.message)],
        "state_has_rng": "rng_state" in opt.state_dict()["state"][0]["outer"],
    }


def battery(rank: int, n: int) -> dict:
    return {
        f"{cls}-{sync}": train(rank, cls, sync)
        for cls in ("EntropySGD", "Heat")
        for sync in (True, False)
    }

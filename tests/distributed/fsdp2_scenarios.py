"""FSDP2 scenarios run by test_fsdp2.py in 2 gloo processes (module-level, so spawn can import them)."""

from __future__ import annotations

import torch
from torch import nn

STEPS_BEFORE_SAVE = 7  # 2 outer steps of L = 3, and one evaluation into the third chain
STEPS_AFTER_SAVE = 5


def sharded_model(seed: int) -> nn.Module:
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    return model


def make_optimizer(model: nn.Module, heat: bool = False, **kw):
    from deeprelax.optim import EntropySGD, Heat

    if heat:
        return Heat(model.parameters(), lr=0.1, L=2, gamma=1e2, closure_free=True, **kw)
    options = dict(lr=0.1, L=3, gamma=0.03, noise=1e-2, closure_free=True)
    options.update(kw)
    groups = [
        {"params": list(model[0].parameters())},
        {"params": list(model[2].parameters()), "lr": 0.05},
    ]  # two param groups
    return EntropySGD(groups, **options)


def evaluation(model, opt, rank: int, i: int) -> None:
    """One gradient evaluation on this rank's own batch i (data parallel: batches differ by rank)."""
    g = torch.Generator().manual_seed(1000 * rank + i)
    x, y = torch.randn(16, 8, generator=g), torch.randn(16, 4, generator=g)
    opt.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()


def full(model) -> list[torch.Tensor]:
    return [p.full_tensor().detach().clone() for p in model.parameters()]


def run(rank: int, steps: int, seed: int = 0, **kw) -> list[torch.Tensor]:
    model = sharded_model(seed)
    opt = make_optimizer(model, **kw)
    torch.manual_seed(100 + rank)  # the global RNG differs by rank after construction
    for i in range(steps):
        evaluation(model, opt, rank, i)
    return full(model)


def noise_only(rank: int) -> list[torch.Tensor]:
    """Zero loss: one outer step moves x by a multiple of the noise alone."""
    model = sharded_model(0)
    opt = make_optimizer(model, L=2, momentum=0.0, inner_momentum=0.0, gamma=0.0, lr=1.0)
    before = full(model)
    for _ in range(2):
        opt.zero_grad()
        (0.0 * model(torch.randn(2, 8)).sum()).backward()
        opt.step()
    return [a - b for a, b in zip(full(model), before)]


def dcp_round_trip(rank: int, path: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model = sharded_model(0)
    opt = make_optimizer(model)
    for i in range(STEPS_BEFORE_SAVE):
        evaluation(model, opt, rank, i)
    model_sd, opt_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": opt_sd}, checkpoint_id=path)
    for i in range(STEPS_BEFORE_SAVE, STEPS_BEFORE_SAVE + STEPS_AFTER_SAVE):
        evaluation(model, opt, rank, i)
    uninterrupted = full(model)

    model2 = sharded_model(1)  # other initial weights and another generator seed
    opt2 = make_optimizer(model2)
    model_sd, opt_sd = get_state_dict(model2, opt2)
    target = {"model": model_sd, "optim": opt_sd}
    dcp.load(target, checkpoint_id=path)
    set_state_dict(model2, opt2, model_state_dict=target["model"], optim_state_dict=target["optim"])
    assert opt2.grad_evals == STEPS_BEFORE_SAVE and opt2.inner_index == 1, (
        opt2.grad_evals,
        opt2.inner_index,
    )
    for i in range(STEPS_BEFORE_SAVE, STEPS_BEFORE_SAVE + STEPS_AFTER_SAVE):
        evaluation(model2, opt2, rank, i)
    return uninterrupted, full(model2)


def battery(rank: int, n: int, path: str) -> dict:
    first = run(rank, 9)
    again = run(rank, 9)
    heat = (run(rank, 6, heat=True), run(rank, 6, heat=True))
    return {
        "first": first,
        "again": again,
        "noise": noise_only(rank),
        "dcp": dcp_round_trip(rank, path),
        "heat": heat,
    }

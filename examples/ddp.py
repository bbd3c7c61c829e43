"""EntropySGD under DistributedDataParallel: every rank draws the same noise (sync_noise=True).

    torchrun --nproc_per_node 2 examples/ddp.py [--outer-steps 20]

Each rank trains on its own shard of the data; DDP averages each gradient evaluation, and
sync_noise=True makes every rank's Langevin noise the same, so the weights stay identical (checked
at the end with replicas_agree).  gloo on the CPU, NCCL when every rank has a GPU.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from deeprelax.optim import EntropySGD, replicas_agree


def main(argv: list[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outer-steps", type=int, default=20)
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ["WORLD_SIZE"])
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    torch.manual_seed(rank)  # ranks seeded apart on purpose: sync_noise is what keeps them together
    inputs = torch.randn(4096, 20, generator=torch.Generator().manual_seed(0))
    targets = (inputs[:, :10].sum(1) > 0).long()
    mine = torch.arange(rank, len(inputs), world)  # this rank's shard of the data
    model = DDP(nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2)).to(device))
    opt = EntropySGD(
        model.parameters(), lr=0.5, L=5, gamma=0.03, noise=1e-3, closure_free=True, sync_noise=True
    )
    for _ in range(args.outer_steps * opt.evals_per_step):  # one fresh batch per evaluation
        idx = mine[torch.randint(0, len(mine), (64,))]
        loss = nn.functional.cross_entropy(model(inputs[idx].to(device)), targets[idx].to(device))
        opt.zero_grad()
        loss.backward()  # DDP all-reduces this evaluation's gradient
        opt.step()
    agree = replicas_agree(model.parameters())
    with torch.no_grad():
        error = (model(inputs.to(device)).argmax(1).cpu() != targets).float().mean().item() * 100
    if rank == 0:
        print(
            f"{world} ranks, {opt.grad_evals} gradient evaluations, {opt.outer_steps} outer steps, "
            f"training error {error:.1f} %, replicas agree: {agree}"
        )
    dist.destroy_process_group()
    return agree


if __name__ == "__main__":
    main()

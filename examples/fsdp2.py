"""EntropySGD on an FSDP2 model (fully_shard: DTensor parameters), with a checkpoint round trip.

    torchrun --nproc_per_node 2 examples/fsdp2.py [--outer-steps 20] [--checkpoint DIR]

The optimizer steps each rank's shards; each shard draws its own Langevin noise from one seed,
so the run is repeatable; torch.distributed.checkpoint saves and reloads model and optimizer
(anchor, chain, momenta, generator) and the resumed run continues bit for bit.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard

from deeprelax.optim import EntropySGD


def build(device: torch.device, seed: int) -> tuple[nn.Module, EntropySGD]:
    torch.manual_seed(seed)  # one seed: initial weights and the optimizer's noise
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    opt = EntropySGD(model.parameters(), lr=0.5, L=5, gamma=0.03, noise=1e-3, closure_free=True)
    return model, opt


def train(model, opt, data, rank: int, world: int, evaluations: range) -> None:
    inputs, targets = data
    device = next(model.parameters()).device
    for i in evaluations:  # one fresh batch per gradient evaluation, its own on each rank
        idx = torch.randint(
            0, len(inputs), (64,), generator=torch.Generator().manual_seed(world * i + rank)
        )
        loss = nn.functional.cross_entropy(model(inputs[idx].to(device)), targets[idx].to(device))
        opt.zero_grad()
        loss.backward()  # FSDP2 reduce-scatters the gradient into the shards
        opt.step()


def main(argv: list[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outer-steps", type=int, default=20)
    parser.add_argument("--checkpoint", default=None, help="directory (default: a temporary one)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= int(os.environ["WORLD_SIZE"])
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    inputs = torch.randn(4096, 20, generator=torch.Generator().manual_seed(0))
    data = (inputs, (inputs[:, :10].sum(1) > 0).long())
    scratch = tempfile.TemporaryDirectory(prefix="fsdp2-ckpt-") if rank == 0 else None
    shared = [args.checkpoint or (scratch.name if scratch else None)]
    dist.broadcast_object_list(shared, src=0)  # one directory for every rank
    path = shared[0]

    model, opt = build(device, seed=0)
    half = args.outer_steps * opt.evals_per_step // 2 + 1  # the save falls inside a chain
    train(model, opt, data, rank, world, range(half))
    dcp.save(dict(zip(("model", "optim"), get_state_dict(model, opt))), checkpoint_id=path)
    train(model, opt, data, rank, world, range(half, 2 * half))
    straight = [p.full_tensor() for p in model.parameters()]

    model2, opt2 = build(device, seed=1)  # other weights, other noise: the checkpoint decides
    target = dict(zip(("model", "optim"), get_state_dict(model2, opt2)))
    dcp.load(target, checkpoint_id=path)
    set_state_dict(model2, opt2, model_state_dict=target["model"], optim_state_dict=target["optim"])
    train(model2, opt2, data, rank, world, range(half, 2 * half))
    resumed = all(torch.equal(a, p.full_tensor()) for a, p in zip(straight, model2.parameters()))
    with torch.no_grad():
        opt2.eval()  # the anchor x, not an inner point of the chain
        error = (model2(inputs.to(device)).argmax(1).cpu() != data[1]).float().mean().item() * 100
        opt2.train()
    if rank == 0:
        print(
            f"{world} ranks, {opt2.grad_evals} gradient evaluations, {opt2.outer_steps} outer steps, "
            f"training error at x {error:.1f} %, resumed bit for bit: {resumed}"
        )
    dist.barrier()
    dist.destroy_process_group()
    if scratch is not None:
        scratch.cleanup()
    return resumed


if __name__ == "__main__":
    main()

"""Closure-free EntropySGD under autocast + GradScaler: one gradient per step() call.

    python examples/closure_free_amp.py [--steps 200] [--device cpu|cuda]

The loop is the ordinary PyTorch AMP loop; the optimizer counts the calls and takes its outer step
on every L-th.  `opt.inner_index == 0` marks the moments the parameters hold the anchor x.
"""

from __future__ import annotations

import argparse

import torch

from deeprelax.optim import EntropySGD


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="gradient evaluations")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    torch.manual_seed(0)
    inputs = torch.randn(2048, 20, device=device)
    targets = (inputs[:, :10].sum(1) > 0).long()
    model = torch.nn.Sequential(
        torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)
    ).to(device)
    opt = EntropySGD(model.parameters(), lr=0.5, L=10, gamma=0.03, closure_free=True)
    scaler = torch.amp.GradScaler(device.type)
    loss_at_anchor = float("nan")
    for _ in range(args.steps):
        idx = torch.randint(0, len(inputs), (64,), device=device)  # a fresh mini-batch per call
        with torch.autocast(device.type, dtype=dtype):
            loss = torch.nn.functional.cross_entropy(model(inputs[idx]), targets[idx])
        if opt.inner_index == 0:
            loss_at_anchor = float(loss.detach())
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    with torch.no_grad():
        error = (model(inputs).argmax(1) != targets).float().mean().item() * 100
    print(
        f"{opt.grad_evals} gradient evaluations, {opt.outer_steps} outer steps, "
        f"last loss at the anchor {loss_at_anchor:.3f}, training error {error:.1f} %"
    )
    return error


if __name__ == "__main__":
    main()

"""Time per effective epoch of the relaxed optimizers against SGD on All-CNN (random CIFAR-shaped data).

Every method spends its time in gradient evaluations; what differs is the optimizer's own work
between them (inner-loop arithmetic, running mean, noise) and the bookkeeping. So the cost of one
effective epoch (= B gradient evaluations, B = 391 for CIFAR-10 at batch 128) is measured as
the mean time per gradient evaluation, and reported as a ratio to SGD measured in the same run.

    python benchmarks/epoch_cost.py                    # CUDA if available, else a short CPU run
    python benchmarks/epoch_cost.py --device cpu --batch-size 32 --evals 40
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from deeprelax.experiments.models import build_model
from deeprelax.experiments.optimizers import build_optimizer

METHODS = {
    "sgd": {},
    "entropy-sgd": {"L": 20, "gamma": 1e-3},
    "hj": {"L": 10, "gamma": 10.0},
    "heat": {"L": 20, "gamma": 1e4},
}


def time_per_eval(
    method: str, device: torch.device, batch: int, evals: int, model_name: str
) -> float:
    torch.manual_seed(0)
    model = build_model(model_name).to(device)
    n = 50_000 if device.type == "cuda" else 2_048
    x = torch.randn(n, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    opt = build_optimizer(
        method,
        model.parameters(),
        {"lr": 0.05, "weight_decay": 1e-3, **METHODS[method]},
        torch.Generator(device=device).manual_seed(1),
    )
    counter = {"n": 0}

    def closure():
        idx = torch.randint(n, (batch,), device=device)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        counter["n"] += 1
        return loss

    opt.step(closure)  # warm-up: allocations, cudnn autotuning, lazy state
    if device.type == "cuda":
        torch.cuda.synchronize()
    counter["n"] = 0
    start = time.perf_counter()
    while counter["n"] < evals:
        opt.step(closure)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / counter["n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default 128 on CUDA, 8 on CPU"
    )
    parser.add_argument(
        "--evals", type=int, default=None, help="gradient evaluations timed per method"
    )
    parser.add_argument("--model", default="allcnn")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = args.batch_size or (128 if device.type == "cuda" else 8)
    evals = args.evals or (400 if device.type == "cuda" else 22)
    batches_per_epoch = -(-50_000 // 128)
    print(f"{args.model}, batch {batch}, {evals} gradient evaluations per method, device {device}")
    base = None
    for method in METHODS:
        t = time_per_eval(method, device, batch, evals, args.model)
        base = base or t
        print(
            f"{method:12s} {1e3 * t:8.2f} ms / gradient evaluation (batch {batch})   "
            f"{t * batches_per_epoch:8.1f} s / {batches_per_epoch} evaluations   ratio to SGD {t / base:5.3f}"
        )


if __name__ == "__main__":
    main()
